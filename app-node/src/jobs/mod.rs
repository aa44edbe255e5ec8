//! The ingest worker: claims jobs from the catalog under a lease and runs
//! the pipeline (fetch → probe → plan → transcode → extras → publish).

mod error;
mod extras;
mod pipeline;
mod progressive;
mod reporter;
mod worker;

pub use error::JobError;
pub use pipeline::run_job;
pub use worker::{process_job, run_worker};

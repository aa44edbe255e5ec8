//! Viewer experience (QoE) as real players report it: CMCD event reports
//! are parsed ([`cmcd`]), folded into per-session totals ([`fold`],
//! [`record`]) kept in the catalog, counted in the node's metrics
//! ([`metrics`]) and summed up per video ([`summary`]).

pub mod cmcd;
pub mod fold;
pub mod metrics;
pub mod record;
pub mod summary;

pub use cmcd::{parse_body, CmcdError, PlayerState, Report};
pub use fold::Delta;
pub use metrics::QoeMetrics;
pub use record::{record, RecordError};
pub use summary::{summarize, Summary};

//! Reel app node: the catalog, media store, ingest pipeline, job worker and
//! HTTP surface. The binary in `main.rs` only parses the command line.
#![warn(missing_docs)]

pub mod auth;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod failure;
pub mod housekeeping;
pub mod http;
pub mod ingest;
pub mod jobs;
pub mod media;
pub mod metrics;
pub mod qoe;
pub mod state;
pub mod storage;
pub mod subtitles;
pub mod tidy;
pub mod uploads;
pub mod webhooks;

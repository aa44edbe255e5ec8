//! What the balancer tells operators about the traffic it serves, besides
//! the metrics: the access log.

pub mod access_log;

pub use access_log::{AccessLog, AccessRecord};

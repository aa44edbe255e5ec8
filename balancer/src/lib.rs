//! Reel balancer: one viewer-facing port in front of the Reel app nodes.
//!
//! Built on pingora's proxy engine with its own backend selection
//! (round robin, weighted, consistent hash on the video id), active health
//! checks, safe retries of idempotent requests, overload shedding, live
//! reload and Prometheus metrics on a separate admin port; optionally TLS
//! with HTTP/2 for viewers.

#![warn(missing_docs)]

pub mod accept;
pub mod admin;
pub mod admission;
pub mod cache;
pub mod config;
pub mod drain;
pub mod edge;
pub mod health;
pub mod metrics;
pub mod observe;
pub mod proxy;
pub mod refusal;
pub mod reload;
pub mod retry;
pub mod route;
pub mod select;
pub mod server;
pub mod signed;
pub mod state;
pub mod tls;
pub mod upgrade;

//! The viewer-facing edge: who the client is, what the nodes are told
//! about it, and what one client may use before any node is involved.
//!
//! - [`forward`]: `X-Forwarded-*` headers and the client address, believing
//!   forwarded headers only from `trusted_proxies`;
//! - [`limits`]: connection caps and the per-client request rate;
//!
//! The connection wrapper that enforces the caps and the request-head
//! deadlines around pingora's HTTP application is the `accept` module.

use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use pingora_proxy::Session;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::observe::access_log::{AccessLog, AccessLogError};
use crate::refusal::Refusal;

pub mod forward;
pub mod limits;

use forward::Trusted;
use limits::{ConnectionLimiter, RequestRate};

/// Why the edge could not apply a configuration.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// The access log target cannot be opened.
    #[error(transparent)]
    AccessLog(#[from] AccessLogError),
}

impl EdgeError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            EdgeError::AccessLog(e) => e.code(),
        }
    }
}

/// Edge state living as long as the process, across reloads.
#[derive(Debug)]
pub struct Edge {
    trusted: ArcSwap<Trusted>,
    /// Open viewer connections.
    pub connections: Arc<ConnectionLimiter>,
    /// Request rate per client.
    pub rate: RequestRate,
    /// The access log.
    pub access_log: AccessLog,
}

impl Edge {
    /// Builds the edge for `config`; the access log stays closed until
    /// [`Edge::configure`] opens it.
    pub fn new(config: &Config, metrics: &Metrics) -> Edge {
        Edge {
            trusted: ArcSwap::from_pointee(Trusted::new(&config.trusted_proxies)),
            connections: Arc::new(ConnectionLimiter::default()),
            rate: RequestRate::default(),
            access_log: AccessLog::new(&config.access_log, metrics.access_log_dropped()),
        }
    }

    /// Applies a (re)loaded configuration: trusted proxies, and the access
    /// log reopened (so a rotated file is let go). Limits are read from the
    /// live snapshot on use and need nothing here.
    pub fn configure(&self, config: &Config) -> Result<(), EdgeError> {
        self.trusted
            .store(Arc::new(Trusted::new(&config.trusted_proxies)));
        self.access_log.reopen(&config.access_log)?;
        Ok(())
    }

    /// The trusted proxy set in force.
    pub fn trusted(&self) -> Arc<Trusted> {
        self.trusted.load_full()
    }

    /// The TCP peer of a session.
    pub fn peer_ip(session: &Session) -> Option<IpAddr> {
        session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_canonical())
    }

    /// The client's address for limits and the log (see
    /// [`forward::client_ip`]).
    pub fn client_ip(&self, session: &Session) -> Option<IpAddr> {
        forward::client_ip(
            Self::peer_ip(session),
            &session.req_header().headers,
            &self.trusted(),
        )
    }

    /// Counts a request against its client's rate.
    pub fn admit_request(&self, client: Option<IpAddr>, config: &Config) -> Result<(), Refusal> {
        self.rate.check(client, config.limits.requests_per_ip_per_s)
    }

    /// Rewrites the forwarding headers of the request sent to a node.
    pub fn forward(
        &self,
        session: &Session,
        upstream: &mut pingora_http::RequestHeader,
        is_tls: bool,
    ) -> pingora_error::Result<()> {
        forward::apply(upstream, Self::peer_ip(session), &self.trusted(), is_tls)
    }
}

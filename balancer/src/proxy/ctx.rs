//! Per-request state carried through the pingora phases.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::admission::Verdict;
use crate::cache::policy::CacheClass;
use crate::cache::CacheResult;
use crate::refusal::Refusal;
use crate::select::backend::{Lease, TotalLease};
use crate::state::{ActiveGuard, Snapshot};

/// What one request carries from phase to phase.
#[derive(Debug, Default)]
pub struct RequestCtx {
    /// Id sent to the node and logged.
    pub request_id: String,
    /// When the request arrived.
    pub started: Option<Instant>,
    /// The same moment on the wall clock, for the access log.
    pub received: Option<SystemTime>,
    /// The client's address: the peer, or behind a trusted proxy the
    /// forwarded one.
    pub client_ip: Option<IpAddr>,
    /// When the current node attempt started.
    pub upstream_started: Option<Instant>,
    /// Time the node took for the last attempt.
    pub upstream_ms: Option<u64>,
    /// The configuration the request started with.
    pub snapshot: Option<Arc<Snapshot>>,
    /// Keeps the request counted for a graceful shutdown.
    pub active: Option<ActiveGuard>,
    /// Balancer-wide node slot, held while a node works on the request.
    pub total: Option<TotalLease>,
    /// Slot on the chosen node, held while the node works on the request.
    pub lease: Option<Lease>,
    /// Configured name of the node of the current attempt (the only name
    /// viewers see), kept after the lease is released so logging can use it.
    pub node: Option<Arc<String>>,
    /// Nodes already tried.
    pub tried: Vec<SocketAddr>,
    /// Retries this request may still make.
    pub retries_left: u32,
    /// GET or HEAD: safe to send again after a partial attempt.
    pub idempotent: bool,
    /// The response head went out to the client.
    pub response_started: bool,
    /// Why the request was refused, if it was.
    pub refusal: Option<Refusal>,
    /// Status sent to the client.
    pub status: u16,
    /// How the response may be cached.
    pub cache_class: Option<CacheClass>,
    /// How a cacheable request was answered.
    pub cache_result: Option<CacheResult>,
    /// The video the path names, for hashing and purges.
    pub video: Option<String>,
    /// A signed path (`/v/{token}/…`) whose token was checked here.
    pub signed: bool,
    /// Admission's view of the request.
    pub verdict: Option<Verdict>,
    /// The node answered 503 and another node will be tried.
    pub node_unavailable: bool,
}

impl RequestCtx {
    /// The snapshot the request started with.
    pub fn snapshot(&self) -> Option<&Arc<Snapshot>> {
        self.snapshot.as_ref()
    }

    /// Whether the request is for media (segments, playlists, images):
    /// these get the short first-byte timeout.
    pub fn is_media(&self) -> bool {
        matches!(
            self.cache_class,
            Some(CacheClass::Immutable | CacheClass::Playlist)
        )
    }
}

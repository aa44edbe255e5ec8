//! The node's own accept loop on hyper: a header-read timeout, a cap on open
//! connections and a drain on shutdown.
//!
//! `axum::serve` has none of the first two (hyper only enforces a header
//! timeout when it is given a timer), so connections are served here with
//! hyper-util's builder and the router as the service.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::metrics::Metrics;

/// Connection-level limits.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Open connections at once; more are closed as soon as accepted.
    pub max_connections: usize,
    /// Open connections from one client address (trusted proxies, which
    /// carry many clients, are exempt).
    pub max_per_client: usize,
    /// Peers exempt from the per-client cap.
    pub trusted: Vec<ipnet::IpNet>,
    /// Time to send a request's headers, and to start the next request on
    /// an idle keep-alive connection.
    pub header_read_timeout: Duration,
    /// Time in-flight requests get once the listener has closed.
    pub drain_deadline: Duration,
}

impl ServerLimits {
    /// The limits the `[http]` config section sets.
    pub fn from_config(h: &crate::config::HttpConfig) -> Self {
        ServerLimits {
            max_connections: h.max_connections,
            max_per_client: h.max_connections_per_client,
            trusted: h.trusted_networks(),
            header_read_timeout: Duration::from_secs(h.header_read_timeout_s),
            drain_deadline: Duration::from_secs(h.shutdown_deadline_s),
        }
    }
}

/// Serves `router` on `listener` until `stop` is cancelled, then closes the
/// listener and waits for in-flight connections up to the drain deadline.
/// Returns how many connections were still open when the deadline passed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    metrics: Metrics,
    stop: CancellationToken,
) -> usize {
    // HTTP/1 only, on hyper's own HTTP/1 builder: the balancer speaks
    // HTTP/1 to nodes, and without the protocol sniffing of the "auto"
    // builder (whose first read has no deadline) every connection is under
    // the header timeout from its first moment, even one that never sends a
    // byte; HTTP/2 would also let one connection hold hundreds of streams.
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(64 * 1024);
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let clients: Clients = Arc::new(Mutex::new(HashMap::new()));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.cancelled() => break,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics.shed.with_label_values(&["connections"]).inc();
            drop(tcp);
            continue;
        };
        let ip = peer.ip().to_canonical();
        let per_client = if limits.trusted.iter().any(|n| n.contains(&ip)) {
            None
        } else {
            match ClientSlot::take(&clients, ip, limits.max_per_client) {
                Some(s) => Some(s),
                None => {
                    metrics
                        .shed
                        .with_label_values(&["client-connections"])
                        .inc();
                    drop(tcp);
                    continue;
                }
            }
        };
        let _ = tcp.set_nodelay(true);
        let svc = router.clone().map_request(
            move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(axum::body::Body::new)
            },
        );
        let conn = builder.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(svc));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection from {peer}: {e}");
            }
            drop(slot);
            drop(per_client);
        });
    }
    drop(listener);
    let open = limits.max_connections - slots.available_permits();
    tracing::info!("listener closed; waiting for {open} open connections");
    tokio::select! {
        _ = graceful.shutdown() => 0,
        _ = tokio::time::sleep(limits.drain_deadline) => {
            let left = limits.max_connections - slots.available_permits();
            tracing::warn!("drain deadline passed with {left} connections open");
            left
        }
    }
}

type Clients = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// One open connection counted against its client address.
struct ClientSlot {
    clients: Clients,
    ip: IpAddr,
}

impl ClientSlot {
    fn take(clients: &Clients, ip: IpAddr, max: usize) -> Option<ClientSlot> {
        let mut map = clients.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            clients: clients.clone(),
            ip,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut map = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// The peer address of a request, when it came over a real connection
/// (oneshot tests have none).
pub fn peer_of(req: &axum::http::Request<axum::body::Body>) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

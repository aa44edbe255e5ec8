//! The node's own accept loop on hyper: a header-read timeout, a cap on open
//! connections and a drain on shutdown.
//!
//! `axum::serve` has none of the first two (hyper only enforces a header
//! timeout when it is given a timer), so connections are served here with
//! hyper-util's builder and the router as the service.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
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
    /// Time to send a request's headers, and to start the next request on
    /// an idle keep-alive connection.
    pub header_read_timeout: Duration,
    /// Time in-flight requests get once the listener has closed.
    pub drain_deadline: Duration,
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
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(64 * 1024);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)));
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
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
        let _ = tcp.set_nodelay(true);
        let svc = router.clone().map_request(
            move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(axum::body::Body::new)
            },
        );
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(tcp), TowerToHyperService::new(svc))
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection from {peer}: {e}");
            }
            drop(slot);
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

/// The peer address of a request, when it came over a real connection
/// (oneshot tests have none).
pub fn peer_of(req: &axum::http::Request<axum::body::Body>) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

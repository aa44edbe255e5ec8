//! The viewer connection: admission against the connection caps and the
//! request-head deadlines, wrapped around pingora's HTTP application.
//!
//! pingora 0.9's HTTP/1 server has only a per-read timeout while a head
//! arrives (60 s), and after the first request on a keep-alive connection
//! not even that: an HTTP/1.1 client that keeps the connection gets an
//! unlimited wait for its next request. A client trickling one byte a
//! minute could hold a connection forever. So this wrapper reads each
//! request head itself under three bounds (per read, whole head, idle
//! between requests), answers `408` when a started head runs out of time,
//! and hands the complete head to pingora as the session's already-read
//! prefix, which pingora parses without reading again.
//!
//! Connection caps are checked here rather than with pingora's
//! `connection_filter` feature, because that filter only sees the accept
//! (it is never told when a connection ends, so it cannot count open ones)
//! and it drops refused connections without a word.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::BytesMut;
use pingora_core::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora_core::protocols::http::ServerSession;
use pingora_core::protocols::{Stream, ALPN};
use pingora_core::server::ShutdownWatch;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::config::LimitsConfig;
use crate::refusal::{self, Refusal};
use crate::state::Shared;

/// Largest request head accepted while it is still incomplete; real
/// browsers send a few KiB, and this caps what a slow client can make the
/// balancer hold per connection.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Longest time spent on a refused connection after answering it.
const LINGER: Duration = Duration::from_millis(500);

/// Why no request head was read.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// The client closed the connection (or never sent anything).
    #[error("connection closed by the client")]
    Closed,
    /// Nothing arrived before the idle deadline.
    #[error("idle connection timed out")]
    Idle,
    /// A head was started but not finished in time.
    #[error("request head not complete in time")]
    TooSlow,
    /// The head grew past [`MAX_HEAD_BYTES`] without ending.
    #[error("request head larger than {MAX_HEAD_BYTES} bytes")]
    TooLarge,
    /// The server is shutting down and the connection was idle.
    #[error("shutting down")]
    Shutdown,
    /// Reading failed.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

impl HeadError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            HeadError::Closed => "head_closed",
            HeadError::Idle => "head_idle",
            HeadError::TooSlow => "head_too_slow",
            HeadError::TooLarge => "head_too_large",
            HeadError::Shutdown => "head_shutdown",
            HeadError::Io(_) => "head_io",
        }
    }
}

/// Whether `buf` holds a whole request head. Malformed heads count as
/// whole once the blank line arrived: pingora then answers them `400` (or
/// repairs a sloppy request line), so they need no more bytes from us.
fn head_complete(buf: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; 256];
    match httparse::Request::new(&mut headers).parse(buf) {
        Ok(httparse::Status::Complete(_)) => true,
        Ok(httparse::Status::Partial) => false,
        Err(_) => buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n"),
    }
}

/// The deadlines for one request head.
#[derive(Debug, Clone, Copy)]
pub struct HeadTimeouts {
    /// Longest wait for one read once the head has started.
    pub per_read: Duration,
    /// Longest time for the whole head, from its first byte (or from the
    /// accept, for a connection's first request).
    pub total: Duration,
    /// Longest wait for the first byte of a later request.
    pub idle: Duration,
}

impl HeadTimeouts {
    /// The deadlines configured in `[limits]`.
    pub fn from_limits(l: &LimitsConfig) -> Self {
        HeadTimeouts {
            per_read: Duration::from_millis(l.header_read_timeout_ms),
            total: Duration::from_millis(l.header_timeout_ms),
            idle: Duration::from_secs(l.keepalive_timeout_s),
        }
    }
}

/// Reads one request head from `stream` under the deadlines; `first` is
/// the connection's first request, whose whole-head clock starts at accept.
pub async fn read_head(
    stream: &mut Stream,
    first: bool,
    t: HeadTimeouts,
    shutdown: &ShutdownWatch,
) -> Result<BytesMut, HeadError> {
    let mut shutdown = shutdown.clone();
    let mut buf = BytesMut::with_capacity(4096);
    let mut deadline = Instant::now() + if first { t.total } else { t.idle };
    loop {
        let wait = if buf.is_empty() {
            deadline
        } else {
            deadline.min(Instant::now() + t.per_read)
        };
        let was_empty = buf.is_empty();
        tokio::select! {
            read = tokio::time::timeout_at(wait, stream.read_buf(&mut buf)) => match read {
                Err(_) if was_empty => return Err(HeadError::Idle),
                Err(_) => return Err(HeadError::TooSlow),
                Ok(Ok(0)) => return Err(HeadError::Closed),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e.into()),
            },
            // Only an idle connection is closed early; a head in progress
            // still gets its request served.
            () = shutting_down(&mut shutdown), if was_empty => return Err(HeadError::Shutdown),
        }
        if was_empty && !first {
            deadline = Instant::now() + t.total;
        }
        if head_complete(&buf) {
            return Ok(buf);
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(HeadError::TooLarge);
        }
    }
}

/// Resolves once the server is shutting down (never if it cannot tell).
async fn shutting_down(watch: &mut ShutdownWatch) {
    loop {
        if *watch.borrow_and_update() {
            return;
        }
        if watch.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Writes a complete refusal and closes the connection gracefully: the
/// request the client may already have sent is read and discarded for a
/// moment so the close does not turn into a reset that destroys the answer.
pub async fn refuse(stream: &mut Stream, answer: &[u8]) {
    let _ = tokio::time::timeout(LINGER, async {
        stream.write_all(answer).await?;
        stream.flush().await?;
        AsyncWriteExt::shutdown(stream).await?;
        let mut sink = [0u8; 4096];
        let mut drained = 0;
        while drained < MAX_HEAD_BYTES {
            match stream.read(&mut sink).await? {
                0 => break,
                n => drained += n,
            }
        }
        Ok::<(), std::io::Error>(())
    })
    .await;
}

fn peer_ip(stream: &Stream) -> Option<IpAddr> {
    let digest = stream.get_socket_digest()?;
    digest.peer_addr()?.as_inet().map(|a| a.ip().to_canonical())
}

/// pingora's HTTP application behind connection caps and head deadlines.
pub struct EdgeApp<A> {
    inner: Arc<A>,
    shared: Arc<Shared>,
}

impl<A> EdgeApp<A> {
    /// Wraps `inner` (the proxy).
    pub fn new(inner: A, shared: Arc<Shared>) -> Self {
        EdgeApp {
            inner: Arc::new(inner),
            shared,
        }
    }
}

impl<A> EdgeApp<A>
where
    A: HttpServerApp + Send + Sync + 'static,
{
    /// Serves HTTP/1 requests on one connection until either side ends it.
    async fn serve_h1(&self, mut stream: Stream, shutdown: &ShutdownWatch) {
        let mut first = true;
        let mut settings: Option<HttpPersistentSettings> = None;
        loop {
            let snapshot = self.shared.snapshot();
            let limits = &snapshot.config.limits;
            let head = match read_head(
                &mut stream,
                first,
                HeadTimeouts::from_limits(limits),
                shutdown,
            )
            .await
            {
                Ok(head) => head,
                Err(e @ (HeadError::TooSlow | HeadError::TooLarge)) => {
                    let reason = match e {
                        HeadError::TooLarge => Refusal::HeaderTooLarge,
                        _ => Refusal::HeaderTimeout,
                    };
                    tracing::debug!(code = e.code(), "viewer connection refused: {e}");
                    self.shared.metrics.observe_shed(reason.code());
                    refuse(&mut stream, &refusal::raw_answer(reason, 0)).await;
                    return;
                }
                Err(e) => {
                    tracing::trace!(code = e.code(), "viewer connection ends: {e}");
                    let _ =
                        tokio::time::timeout(LINGER, AsyncWriteExt::shutdown(&mut stream)).await;
                    return;
                }
            };
            let mut session = ServerSession::new_http1(stream);
            match settings.take() {
                Some(s) => s.apply_to_session(&mut session),
                None => session.set_keepalive_reuses_remaining(
                    self.inner
                        .server_options()
                        .and_then(|o| o.keepalive_request_limit),
                ),
            }
            // pingora re-derives keep-alive from the request's headers; this
            // only matters for refusing reuse while shutting down.
            let keepalive = (!*shutdown.borrow()).then_some(limits.keepalive_timeout_s);
            session.set_keepalive(keepalive);
            // The request pipelining pingora supports stays off, so the
            // previous session never leaves a prefix of its own here.
            session.set_pipelined_prefix(head);
            match self.inner.process_new_http(session, shutdown).await {
                Some(reused) => {
                    let (next, persistent) = reused.consume();
                    stream = next;
                    settings = persistent;
                    first = false;
                }
                None => return,
            }
        }
    }
}

#[async_trait]
impl<A> ServerApp for EdgeApp<A>
where
    A: HttpServerApp + Send + Sync + 'static,
{
    async fn process_new(
        self: &Arc<Self>,
        mut stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let ip = peer_ip(&stream);
        let snapshot = self.shared.snapshot();
        let exempt = ip.is_some_and(|ip| self.shared.edge.trusted().contains(ip));
        let admitted = self
            .shared
            .edge
            .connections
            .try_admit(ip, exempt, &snapshot.config.limits);
        let _slot = match admitted {
            Ok(slot) => slot,
            Err(reason) => {
                self.shared.metrics.observe_shed(reason.code());
                tracing::debug!(client = ?ip, reason = reason.code(), "connection refused");
                // An HTTP/2 client cannot read an HTTP/1 answer.
                if stream.selected_alpn_proto() != Some(ALPN::H2) {
                    let retry_after = snapshot.config.proxy.retry_after_s;
                    refuse(&mut stream, &refusal::raw_answer(reason, retry_after)).await;
                }
                return None;
            }
        };
        drop(snapshot);
        if stream.selected_alpn_proto() == Some(ALPN::H2) {
            // HTTP/2 framing has its own settings and idle timeout; pingora
            // runs the whole connection.
            ServerApp::process_new(&self.inner, stream, shutdown).await;
        } else {
            self.serve_h1(stream, shutdown).await;
        }
        None
    }

    async fn cleanup(&self) {
        // Tells pingora's sessions waiting on keep-alive to stop.
        self.inner.http_cleanup().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads() {
        assert!(head_complete(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(head_complete(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody"));
        assert!(!head_complete(b"GET / HTTP/1.1\r\nHost: a\r\n"));
        assert!(!head_complete(b"GET / HT"));
        // Malformed but finished: pingora answers it.
        assert!(head_complete(b"GET /a b c HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!head_complete(b"GET /a b c HTTP/1.1\r\nHost: a\r\n"));
    }
}

//! The node's side of a request: admission to a node slot, the choice of
//! node and its timeouts, the node's answer, passive checks, and whether a
//! failed attempt moves to another node (HAProxy's `retry-on` and
//! `redispatch`, bounded by the retry budget).

use std::sync::Arc;
use std::time::{Duration, Instant};

use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorSource, ErrorType, Result};
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

use super::{node_unavailable, RequestCtx};
use crate::admission::{self, Class};
use crate::config::Config;
use crate::refusal::Refusal;
use crate::select::Outcome;
use crate::state::{Shared, Snapshot};

/// Share of the node slots a request's class may use: new sessions leave
/// the playback reserve free for viewers already watching.
fn share(config: &Config, ctx: &RequestCtx) -> f64 {
    match ctx.verdict.map(|v| v.class) {
        Some(Class::Playing) => 1.0,
        _ => 1.0 - f64::from(config.admission.playback_reserve_pct) / 100.0,
    }
}

/// A refusal as the client should hear it: a new session turned away
/// while room is kept for viewers is told so.
fn refusal_for(config: &Config, ctx: &RequestCtx, r: Refusal) -> Refusal {
    let new_session = !matches!(ctx.verdict.map(|v| v.class), Some(Class::Playing));
    let limit = matches!(r, Refusal::BackendLimit | Refusal::TotalLimit);
    if new_session && limit && config.admission.playback_reserve_pct > 0 {
        Refusal::NewSessionsPaused
    } else {
        r
    }
}

fn snapshot(ctx: &RequestCtx) -> Result<Arc<Snapshot>> {
    ctx.snapshot
        .clone()
        .ok_or_else(|| Error::explain(ErrorType::InternalError, "no config snapshot"))
}

/// Session starts (the watch page, master playlists) are refused while the
/// nodes have no room left for new sessions, even when the cache could
/// answer them: an admitted session soon brings its segment requests, and
/// the room left is kept for viewers already watching.
pub(super) fn gate_session_start(
    shared: &Shared,
    ctx: &RequestCtx,
    path: &str,
) -> Result<(), Refusal> {
    let new_session = !matches!(ctx.verdict.map(|v| v.class), Some(Class::Playing));
    let Some(snapshot) = ctx.snapshot() else {
        return Ok(());
    };
    if !new_session || !admission::starts_session(path) {
        return Ok(());
    }
    let config = &snapshot.config;
    let share = share(config, ctx);
    let total_limit = ((config.proxy.max_in_flight_total as f64 * share).ceil() as usize).max(1);
    if shared.total_in_flight.get() >= total_limit || !snapshot.selector.has_room(share) {
        return Err(refusal_for(config, ctx, Refusal::BackendLimit));
    }
    let a = &config.admission;
    if let Some(v) = &ctx.verdict {
        if !shared
            .admission
            .has_room(v, a.max_sessions, a.session_idle_s)
        {
            return Err(Refusal::NewSessionsPaused);
        }
    }
    Ok(())
}

/// Reserves a balancer-wide slot and a node slot for a request the cache
/// could not answer.
pub(super) fn admit(shared: &Shared, ctx: &mut RequestCtx) -> Result<(), Refusal> {
    let Some(snapshot) = ctx.snapshot.clone() else {
        return Err(Refusal::NoHealthy);
    };
    let config = &snapshot.config;
    let share = share(config, ctx);
    let total_limit = ((config.proxy.max_in_flight_total as f64 * share).ceil() as usize).max(1);
    let total = shared
        .total_in_flight
        .try_acquire(total_limit)
        .ok_or_else(|| refusal_for(config, ctx, Refusal::TotalLimit))?;
    ctx.total = Some(total);
    let (lease, panicked) = snapshot
        .selector
        .pick(ctx.video.as_deref(), &[], share)
        .map_err(|r| refusal_for(config, ctx, r))?;
    if panicked.0 {
        shared.metrics.observe_panic();
    }
    shared.retry_budget.record_request();
    ctx.lease = Some(lease);
    Ok(())
}

/// The node for this attempt: the one admission chose, or for a retry
/// another one not tried yet.
pub(super) fn peer(shared: &Shared, ctx: &mut RequestCtx) -> Result<Box<HttpPeer>> {
    let snapshot = snapshot(ctx)?;
    if ctx.lease.is_none() {
        let share = share(&snapshot.config, ctx);
        match snapshot
            .selector
            .pick(ctx.video.as_deref(), &ctx.tried, share)
        {
            Ok((lease, panicked)) => {
                if panicked.0 {
                    shared.metrics.observe_panic();
                }
                ctx.lease = Some(lease);
            }
            Err(e) => {
                ctx.refusal = Some(e);
                return Err(Error::explain(
                    ErrorType::HTTPStatus(503),
                    "no other backend can take the retry",
                ));
            }
        }
    }
    let backend = ctx
        .lease
        .as_ref()
        .map(|l| Arc::clone(l.backend()))
        .ok_or_else(|| Error::explain(ErrorType::InternalError, "no backend chosen"))?;
    let node = backend.name();
    shared.metrics.observe_upstream(&node);
    ctx.node = Some(node);
    ctx.upstream_started = Some(Instant::now());

    let p = &snapshot.config.proxy;
    let mut peer = HttpPeer::new(backend.address(), false, String::new());
    let connect = Duration::from_millis(p.connect_timeout_ms);
    // Media is small and served from the node's store: a node that takes
    // longer than the first-byte timeout is stuck, and another node is
    // tried. Other requests (uploads, imports) may legitimately be slow.
    let read = Duration::from_millis(if ctx.is_media() {
        p.first_byte_timeout_ms
    } else {
        p.read_timeout_ms
    });
    peer.options.connection_timeout = Some(connect);
    peer.options.total_connection_timeout = Some(connect);
    peer.options.read_timeout = Some(read);
    peer.options.write_timeout = Some(Duration::from_millis(p.read_timeout_ms));
    peer.options.idle_timeout = Some(Duration::from_secs(60));
    Ok(Box::new(peer))
}

/// Passive check of the current attempt.
fn report(shared: &Shared, ctx: &RequestCtx, outcome: Outcome) {
    let (Some(lease), Some(snapshot)) = (&ctx.lease, ctx.snapshot()) else {
        return;
    };
    if snapshot.selector.report(lease.backend(), outcome) {
        shared.metrics.observe_ejection();
        tracing::warn!(backend = %lease.backend().name(), "backend ejected after consecutive failures");
    }
}

/// The node's response head: passive check, and a 503 moved to another
/// node when a retry is possible.
pub(super) fn on_response_head(
    shared: &Shared,
    resp: &ResponseHeader,
    ctx: &mut RequestCtx,
) -> Result<()> {
    ctx.upstream_ms = ctx.upstream_started.map(|t| t.elapsed().as_millis() as u64);
    let status = resp.status.as_u16();
    // 500 is left out: a client can provoke it with bad input, and must
    // not be able to eject nodes that way.
    let outcome = if matches!(status, 502 | 504) {
        Outcome::Failed
    } else {
        Outcome::Answered
    };
    report(shared, ctx, outcome);
    if status == 503 && ctx.idempotent && ctx.retries_left > 0 {
        let members = ctx.snapshot().map_or(0, |s| s.selector.members().len());
        if ctx.tried.len() + 1 < members && take_budget(shared, ctx) {
            ctx.node_unavailable = true;
            return Err(node_unavailable());
        }
    }
    Ok(())
}

fn take_budget(shared: &Shared, ctx: &RequestCtx) -> bool {
    let Some(snapshot) = ctx.snapshot() else {
        return false;
    };
    let p = &snapshot.config.proxy;
    if shared
        .retry_budget
        .try_retry(p.retry_budget_pct, p.retry_budget_min_per_s)
    {
        true
    } else {
        shared.metrics.observe_retry_budget_exhausted();
        false
    }
}

/// Gives up the current node (remembering it as tried).
fn leave_node(ctx: &mut RequestCtx) {
    if let Some(lease) = ctx.lease.take() {
        ctx.tried.push(lease.backend().address());
    }
}

/// Records a failed attempt and decides whether another node may take the
/// request. `any_method`: nothing reached the node, so even a POST may go.
pub(super) fn may_retry(
    shared: &Shared,
    ctx: &mut RequestCtx,
    reason: &str,
    any_method: bool,
) -> bool {
    report(shared, ctx, Outcome::Failed);
    leave_node(ctx);
    if (!ctx.idempotent && !any_method) || ctx.response_started || ctx.retries_left == 0 {
        return false;
    }
    if !take_budget(shared, ctx) {
        return false;
    }
    ctx.retries_left -= 1;
    shared.metrics.observe_retry(reason);
    true
}

/// After an error while proxying: a 503 from the node (already budgeted),
/// or a reset/timeout on the node's side that may be retried if the
/// request body can be replayed.
pub(super) fn after_error(
    shared: &Shared,
    session: &Session,
    e: &Error,
    ctx: &mut RequestCtx,
) -> bool {
    if std::mem::take(&mut ctx.node_unavailable) {
        leave_node(ctx);
        ctx.retries_left -= 1;
        shared.metrics.observe_retry("node_503");
        return true;
    }
    if *e.esource() != ErrorSource::Upstream {
        leave_node(ctx);
        return false;
    }
    let reason = match e.etype() {
        ErrorType::ReadTimedout | ErrorType::WriteTimedout => "timeout",
        _ => "upstream_error",
    };
    // A body that no longer fits the replay buffer cannot be resent.
    if session.as_ref().retry_buffer_truncated() {
        report(shared, ctx, Outcome::Failed);
        leave_node(ctx);
        return false;
    }
    may_retry(shared, ctx, reason, false)
}

/// Frees the node slots once the node has finished.
pub(super) fn release(ctx: &mut RequestCtx) {
    if let Some(lease) = ctx.lease.take() {
        lease.backend().mark_served();
    }
    ctx.total.take();
}

/// The status a failed request is answered with.
pub(super) fn status_for(e: &Error) -> u16 {
    match e.etype() {
        ErrorType::HTTPStatus(code) => *code,
        ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout
            if *e.esource() == ErrorSource::Upstream =>
        {
            504
        }
        _ => match e.esource() {
            ErrorSource::Upstream => 502,
            ErrorSource::Downstream => match e.etype() {
                ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                _ => 400,
            },
            ErrorSource::Internal | ErrorSource::Unset => 500,
        },
    }
}

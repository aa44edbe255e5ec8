//! The admin endpoints: `/metrics`, `/healthz`, `/backends`,
//! `POST /reload` and `POST /purge/{video}`, independent of how the
//! request arrived.

use http::{Method, StatusCode};
use serde_json::json;

use super::auth::{self, Access};
use super::AdminError;
use crate::drain::{Lifecycle, Phase};
use crate::reload;
use crate::state::Shared;

/// An answer of the admin port.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// `Content-Type` value.
    pub content_type: &'static str,
    /// Body (dropped for HEAD).
    pub body: String,
    /// Extra headers, e.g. `WWW-Authenticate`.
    pub headers: Vec<(&'static str, &'static str)>,
}

impl Reply {
    fn json(status: StatusCode, value: serde_json::Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: value.to_string(),
            headers: Vec::new(),
        }
    }

    /// The `{"error":{"code","message"}}` answer for an error.
    pub fn error(e: &AdminError) -> Reply {
        let mut r = Reply::json(
            e.status(),
            json!({"error": {"code": e.code(), "message": e.to_string()}}),
        );
        if matches!(e, AdminError::Unauthorized) {
            r.headers
                .push(("WWW-Authenticate", "Bearer realm=\"reel-balancer admin\""));
        }
        r
    }
}

/// What the router needs to know about a request.
#[derive(Debug)]
pub struct Request<'a> {
    /// Method.
    pub method: &'a Method,
    /// Path without the query.
    pub path: &'a str,
    /// Raw `Authorization` header value, if any.
    pub authorization: Option<&'a [u8]>,
}

/// The JSON list of backends of the live configuration.
pub fn backends_json(shared: &Shared) -> serde_json::Value {
    let snapshot = shared.snapshot();
    let backends: Vec<_> = snapshot
        .selector
        .members()
        .iter()
        .map(|m| {
            let healthy = m.state.is_healthy();
            json!({
                "name": m.state.name().as_str(),
                "address": m.state.label(),
                "weight": m.weight,
                "health": if healthy { "healthy" } else { "unhealthy" },
                "healthy": healthy,
                "in_flight": m.state.in_flight(),
                "served": m.state.served(),
            })
        })
        .collect();
    json!({
        "selection": snapshot.config.selection.as_str(),
        "in_flight": shared.total_in_flight.get(),
        "backends": backends,
    })
}

/// `/healthz`: 200 while a backend is healthy and no shutdown began,
/// 503 otherwise, so an outer load balancer stops sending viewers here.
fn healthz(shared: &Shared, lifecycle: &Lifecycle) -> Reply {
    let snapshot = shared.snapshot();
    let healthy = snapshot
        .selector
        .members()
        .iter()
        .filter(|m| m.state.is_healthy())
        .count();
    let phase = lifecycle.phase();
    let reason = match phase {
        Phase::Upgrading => Some("upgrading"),
        Phase::Terminating => Some("draining"),
        Phase::Running if healthy == 0 => Some("no_healthy_backend"),
        Phase::Running => None,
    };
    let mut body = json!({
        "status": if reason.is_some() { "unhealthy" } else { "ok" },
        "healthy_backends": healthy,
        "draining": phase != Phase::Running,
        // Tells an operator which process answers, e.g. after an upgrade.
        "pid": std::process::id(),
    });
    let status = match reason {
        Some(r) => {
            body["reason"] = json!(r);
            StatusCode::SERVICE_UNAVAILABLE
        }
        None => StatusCode::OK,
    };
    Reply::json(status, body)
}

async fn reload_endpoint(
    shared: &Shared,
    authorization: Option<&[u8]>,
) -> Result<Reply, AdminError> {
    let token = shared.snapshot().config.admin.token.clone();
    match auth::check(token.as_ref(), authorization) {
        Access::Disabled => return Err(AdminError::ReloadDisabled),
        Access::Denied => return Err(AdminError::Unauthorized),
        Access::Granted => {}
    }
    let summary = reload::reload(shared).await?;
    Ok(Reply::json(
        StatusCode::OK,
        json!({"status": "reloaded", "summary": summary}),
    ))
}

/// Drops every cached file of a video (nodes call this when a video is
/// deleted). Same bearer token as reload; without one, purging is off.
fn purge_endpoint(
    shared: &Shared,
    authorization: Option<&[u8]>,
    video: &str,
) -> Result<Reply, AdminError> {
    let token = shared.snapshot().config.admin.token.clone();
    match auth::check(token.as_ref(), authorization) {
        Access::Disabled => return Err(AdminError::PurgeDisabled),
        Access::Denied => return Err(AdminError::Unauthorized),
        Access::Granted => {}
    }
    let valid = !video.is_empty()
        && video.len() <= 64
        && video
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        let shown: String = video.chars().take(64).collect();
        return Err(AdminError::BadVideoId(shown));
    }
    shared.cache.purges.purge(video);
    tracing::info!(video, "cached files purged");
    Ok(Reply::json(
        StatusCode::OK,
        json!({"status": "purged", "video": video}),
    ))
}

/// Answers one admin request.
pub async fn route(
    shared: &Shared,
    lifecycle: &Lifecycle,
    req: &Request<'_>,
) -> Result<Reply, AdminError> {
    let method = req.method;
    let expect = |m: Method| {
        if *method == m || (m == Method::GET && *method == Method::HEAD) {
            Ok(())
        } else {
            Err(AdminError::MethodNotAllowed(method.clone()))
        }
    };
    match req.path {
        "/metrics" => {
            expect(Method::GET)?;
            let text = shared.render_metrics()?;
            Ok(Reply {
                status: StatusCode::OK,
                content_type: "text/plain; version=0.0.4",
                body: text,
                headers: Vec::new(),
            })
        }
        "/healthz" => {
            expect(Method::GET)?;
            Ok(healthz(shared, lifecycle))
        }
        "/backends" => {
            expect(Method::GET)?;
            Ok(Reply::json(StatusCode::OK, backends_json(shared)))
        }
        "/reload" => {
            expect(Method::POST)?;
            reload_endpoint(shared, req.authorization).await
        }
        other if other.starts_with("/purge/") => {
            expect(Method::POST)?;
            purge_endpoint(shared, req.authorization, &other["/purge/".len()..])
        }
        other => Err(AdminError::NotFound(other.to_string())),
    }
}

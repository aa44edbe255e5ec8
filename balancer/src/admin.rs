//! The admin HTTP server: `/metrics`, `/healthz`, `/backends` and
//! `POST /reload`. It runs on its own port so it stays reachable (and is
//! never shed) when the viewer port is saturated.

use std::convert::Infallible;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use serde_json::json;
use tokio::net::TcpListener;

use crate::metrics::MetricsError;
use crate::reload;
use crate::state::Shared;

/// Errors answered by the admin server.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No such endpoint.
    #[error("no admin endpoint at {0}")]
    NotFound(String),
    /// The endpoint exists but not for this method.
    #[error("{0} is not allowed here")]
    MethodNotAllowed(Method),
    /// Metrics could not be rendered.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// A reload was refused.
    #[error(transparent)]
    Reload(#[from] reload::ReloadError),
}

impl AdminError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AdminError::NotFound(_) => "not_found",
            AdminError::MethodNotAllowed(_) => "method_not_allowed",
            AdminError::Metrics(e) => e.code(),
            AdminError::Reload(e) => e.code(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AdminError::Metrics(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AdminError::Reload(_) => StatusCode::BAD_REQUEST,
        }
    }
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, content_type: &str, body: String) -> Reply {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp
}

fn json_reply(status: StatusCode, value: serde_json::Value) -> Reply {
    reply(status, "application/json", value.to_string())
}

/// The JSON list of backends of the live configuration.
pub fn backends_json(shared: &Shared) -> serde_json::Value {
    let snapshot = shared.snapshot();
    let backends: Vec<_> = snapshot
        .pool
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

async fn route(shared: &Shared, req: &Request<Incoming>) -> Result<Reply, AdminError> {
    let path = req.uri().path();
    let method = req.method();
    let expect = |m: Method| {
        if *method == m || (m == Method::GET && *method == Method::HEAD) {
            Ok(())
        } else {
            Err(AdminError::MethodNotAllowed(method.clone()))
        }
    };
    match path {
        "/metrics" => {
            expect(Method::GET)?;
            let text = shared
                .metrics
                .render(&shared.snapshot(), shared.total_in_flight.get())?;
            Ok(reply(StatusCode::OK, "text/plain; version=0.0.4", text))
        }
        "/healthz" => {
            expect(Method::GET)?;
            let snapshot = shared.snapshot();
            let healthy = snapshot
                .pool
                .members()
                .iter()
                .filter(|m| m.state.is_healthy())
                .count();
            Ok(json_reply(
                StatusCode::OK,
                json!({"status": "ok", "healthy_backends": healthy}),
            ))
        }
        "/backends" => {
            expect(Method::GET)?;
            Ok(json_reply(StatusCode::OK, backends_json(shared)))
        }
        "/reload" => {
            expect(Method::POST)?;
            let summary = reload::reload(shared).await?;
            Ok(json_reply(
                StatusCode::OK,
                json!({"status": "reloaded", "summary": summary}),
            ))
        }
        other => Err(AdminError::NotFound(other.to_string())),
    }
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Reply, Infallible> {
    Ok(match route(&shared, &req).await {
        Ok(r) => r,
        Err(e) => json_reply(
            e.status(),
            json!({"error": {"code": e.code(), "message": e.to_string()}}),
        ),
    })
}

/// Background service serving the admin port.
#[derive(Debug)]
pub struct AdminServer {
    shared: Arc<Shared>,
    listen: String,
}

impl AdminServer {
    /// Creates the server for `listen` (fixed for the process lifetime).
    pub fn new(shared: Arc<Shared>, listen: String) -> Self {
        AdminServer { shared, listen }
    }
}

#[async_trait]
impl BackgroundService for AdminServer {
    async fn start(&self, _shutdown: ShutdownWatch) {
        if let Err(e) = reload::spawn_sighup(Arc::clone(&self.shared)) {
            tracing::error!("cannot install the SIGHUP handler: {e}");
            std::process::exit(1);
        }
        let listener = match TcpListener::bind(&self.listen).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("cannot listen on admin address {}: {e}", self.listen);
                std::process::exit(1);
            }
        };
        tracing::info!(addr = %self.listen, "admin server listening");
        // Kept serving through a graceful shutdown so metrics remain
        // readable while in-flight requests drain.
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Typically out of file descriptors: back off instead of spinning.
                    tracing::warn!("admin accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let shared = Arc::clone(&self.shared);
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(Arc::clone(&shared), req));
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    tracing::debug!("admin connection ended: {e}");
                }
            });
        }
    }
}

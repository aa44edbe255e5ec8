//! The fast answer given when a request cannot be admitted, instead of
//! queueing it: JSON for `/api/`, and for browsers a small page that
//! retries by itself after `Retry-After`.

use bytes::Bytes;
use pingora_error::Result;
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

use crate::route;

/// Why a request was refused before reaching a node. One enum for every
/// refusal, so selection, admission and the answer share the same codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No backend is in rotation.
    #[error("no app node is available right now")]
    NoHealthy,
    /// Every eligible backend is at its in-flight limit.
    #[error("all app nodes are busy")]
    BackendLimit,
    /// The balancer-wide in-flight limit is reached.
    #[error("the service is at capacity")]
    TotalLimit,
    /// The cluster is full and the remaining room is kept for viewers
    /// who are already watching.
    #[error("the service is full; viewers already watching keep priority")]
    NewSessionsPaused,
}

impl Refusal {
    /// Stable code, used as the `reason` metric label.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::NoHealthy => "no_healthy_backend",
            Refusal::BackendLimit => "backend_limit",
            Refusal::TotalLimit => "total_limit",
            Refusal::NewSessionsPaused => "new_sessions_paused",
        }
    }

    /// HTTP status of the answer.
    pub fn status(self) -> u16 {
        503
    }
}

/// Content type and body of the shed answer for a request path.
pub fn body(path: &str, reason: Refusal, retry_after_s: u64) -> (&'static str, String) {
    if route::is_api(path) {
        let json = serde_json::json!({
            "error": {"code": "overloaded", "message": format!("{reason}; please retry shortly")}
        });
        ("application/json", json.to_string())
    } else {
        // The refresh makes the page retry by itself, so a viewer turned
        // away in a spike gets in as soon as there is room, without a script.
        let wait = retry_after_s.max(1);
        let html = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"refresh\" content=\"{wait}\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Reel is busy</title></head><body><main><h1>Reel is busy</h1>\
             <p>{reason}. This page tries again by itself in {wait} s.</p></main></body></html>\n"
        );
        ("text/html; charset=utf-8", html)
    }
}

/// Writes the complete 503 answer to the client.
pub async fn respond(
    session: &mut Session,
    reason: Refusal,
    retry_after_s: u64,
    request_id: &str,
) -> Result<()> {
    let path = session.req_header().uri.path().to_string();
    let (content_type, text) = body(&path, reason, retry_after_s);
    let mut resp = ResponseHeader::build(reason.status(), Some(6))?;
    resp.insert_header("Retry-After", retry_after_s.to_string())?;
    resp.insert_header("Content-Type", content_type)?;
    resp.insert_header("Content-Length", text.len().to_string())?;
    resp.insert_header("Cache-Control", "no-store")?;
    resp.insert_header("X-Request-Id", request_id)?;
    let head_only = session.req_header().method == http::Method::HEAD;
    session
        .write_response_header(Box::new(resp), head_only)
        .await?;
    if !head_only {
        session
            .write_response_body(Some(Bytes::from(text)), true)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_gets_json() {
        let (ct, b) = body("/api/videos", Refusal::BackendLimit, 2);
        assert_eq!(ct, "application/json");
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["error"]["code"], "overloaded");
        let (ct, page) = body("/watch/x", Refusal::NoHealthy, 2);
        assert!(page.contains("content=\"2\""), "{page}");
        assert!(ct.starts_with("text/html"));
    }
}

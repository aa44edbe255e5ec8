//! The fast `503 Service Unavailable` answer given when a request cannot be
//! admitted, instead of queueing it: HTML for browsers, JSON for `/api/`.

use bytes::Bytes;
use pingora_error::Result;
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

use crate::route;

/// Why a request was shed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShedReason {
    /// No backend is in rotation.
    #[error("no app node is available right now")]
    NoHealthy,
    /// Every healthy backend is at its in-flight limit.
    #[error("all app nodes are busy")]
    BackendLimit,
    /// The balancer-wide in-flight limit is reached.
    #[error("the service is at capacity")]
    TotalLimit,
}

impl ShedReason {
    /// Stable code, used as the `reason` metric label.
    pub fn code(self) -> &'static str {
        match self {
            ShedReason::NoHealthy => "no_healthy_backend",
            ShedReason::BackendLimit => "backend_limit",
            ShedReason::TotalLimit => "total_limit",
        }
    }
}

impl From<crate::select::SelectError> for ShedReason {
    fn from(e: crate::select::SelectError) -> Self {
        match e {
            crate::select::SelectError::NoHealthy => ShedReason::NoHealthy,
            crate::select::SelectError::Saturated => ShedReason::BackendLimit,
        }
    }
}

/// Content type and body of the shed answer for a request path.
pub fn body(path: &str, reason: ShedReason) -> (&'static str, String) {
    if route::is_api(path) {
        let json = serde_json::json!({
            "error": {"code": "overloaded", "message": format!("{reason}; please retry shortly")}
        });
        ("application/json", json.to_string())
    } else {
        let html = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Reel is busy</title></head>\
             <body><h1>Reel is busy</h1><p>{reason}. Please try again in a moment.</p></body></html>\n"
        );
        ("text/html; charset=utf-8", html)
    }
}

/// Writes the complete 503 answer to the client.
pub async fn respond(
    session: &mut Session,
    reason: ShedReason,
    retry_after_s: u64,
    request_id: &str,
) -> Result<()> {
    let path = session.req_header().uri.path().to_string();
    let (content_type, text) = body(&path, reason);
    let mut resp = ResponseHeader::build(503, Some(6))?;
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
        let (ct, b) = body("/api/videos", ShedReason::BackendLimit);
        assert_eq!(ct, "application/json");
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["error"]["code"], "overloaded");
        let (ct, _) = body("/watch/x", ShedReason::NoHealthy);
        assert!(ct.starts_with("text/html"));
    }
}

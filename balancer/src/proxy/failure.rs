//! The answer when proxying failed before the response head went out
//! (the node reset, timed out or sent garbage): the same shapes as every
//! other error, JSON `{"error":{"code","message"}}` under `/api/` and a
//! short page elsewhere, with the request id.

use pingora_error::Result;
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

use crate::refusal;
use crate::route;

/// Stable code and message for a failure status.
fn describe(status: u16) -> (&'static str, &'static str) {
    match status {
        502 => ("bad_gateway", "the app node failed to answer"),
        503 => ("unavailable", "no app node could take the request"),
        504 => ("gateway_timeout", "the app node took too long to answer"),
        400 => ("bad_request", "the request could not be read"),
        _ => ("internal", "the request failed inside the balancer"),
    }
}

/// Content type and body of the failure answer for a request path.
pub(super) fn body(path: &str, status: u16, request_id: &str) -> (&'static str, String) {
    let (code, message) = describe(status);
    if route::is_api(path) {
        let json = serde_json::json!({"error": {"code": code, "message": message}});
        return ("application/json", json.to_string());
    }
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Something went wrong</title></head><body><main>\
         <h1>Something went wrong</h1><p>{message}. Please try again.</p>\
         <p><small>Request {request_id}</small></p></main></body></html>\n"
    );
    ("text/html; charset=utf-8", html)
}

/// Writes the whole failure answer.
pub(super) async fn respond(session: &mut Session, status: u16, request_id: &str) -> Result<()> {
    let path = session.req_header().uri.path().to_string();
    let (content_type, text) = body(&path, status, request_id);
    let resp = ResponseHeader::build(status, Some(5))?;
    // The connection is not reused after a failure: say so, so that a
    // client does not send its next request into a closing socket.
    session.set_keepalive(None);
    refusal::write_whole(session, resp, content_type, text, request_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_failures_are_json() {
        let (ct, b) = body("/api/videos", 504, "r1");
        assert_eq!(ct, "application/json");
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["error"]["code"], "gateway_timeout");
        assert!(v["error"]["message"].is_string());
        let (ct, page) = body("/watch/x", 502, "r2");
        assert!(ct.starts_with("text/html"));
        assert!(page.contains("r2"), "{page}");
    }
}

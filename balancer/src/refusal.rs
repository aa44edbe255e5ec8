//! The fast answer given when a request or connection cannot be admitted,
//! instead of queueing it: `503` when the service is full, `429` when one
//! client asks too much, `408` when a request head is too slow; JSON for
//! `/api/`, and for browsers a small page that retries by itself after
//! `Retry-After`.

use bytes::Bytes;
use pingora_error::Result;
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

use crate::route;

/// Why a request or connection was refused before reaching a node. One
/// enum for every refusal, so selection, admission, client limits and the
/// answer share the same codes.
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
    /// The client's address exceeded `limits.requests_per_ip_per_s`.
    #[error("too many requests from your address")]
    RateLimited,
    /// The client's address holds `limits.max_connections_per_ip` already.
    #[error("too many connections from your address")]
    ConnectionsPerIp,
    /// The balancer holds `limits.max_connections` already.
    #[error("the service has too many open connections")]
    ConnectionsTotal,
    /// The request head did not arrive within the header timeouts.
    #[error("the request took too long to arrive")]
    HeaderTimeout,
    /// The request head grew too large before it ended.
    #[error("the request headers are too large")]
    HeaderTooLarge,
    /// A media path spelled with percent-escapes: media file names never
    /// need them, and another spelling of a file would bypass the cache.
    #[error("media paths are plain names without percent-escapes")]
    BadMediaPath,
    /// A signed playback URL whose token is missing, malformed, expired,
    /// tampered with, made for another video or signed with a key that is
    /// not listed.
    #[error("this playback link is expired or not valid")]
    BadPlaybackToken,
}

impl Refusal {
    /// Stable code, used as the `reason` metric label.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::NoHealthy => "no_healthy_backend",
            Refusal::BackendLimit => "backend_limit",
            Refusal::TotalLimit => "total_limit",
            Refusal::NewSessionsPaused => "new_sessions_paused",
            Refusal::RateLimited => "rate_limited",
            Refusal::ConnectionsPerIp => "connections_per_ip",
            Refusal::ConnectionsTotal => "connections_total",
            Refusal::HeaderTimeout => "header_timeout",
            Refusal::HeaderTooLarge => "header_too_large",
            Refusal::BadMediaPath => "bad_media_path",
            Refusal::BadPlaybackToken => "bad_playback_token",
        }
    }

    /// HTTP status of the answer.
    pub fn status(self) -> u16 {
        match self {
            Refusal::NoHealthy
            | Refusal::BackendLimit
            | Refusal::TotalLimit
            | Refusal::NewSessionsPaused
            | Refusal::ConnectionsTotal => 503,
            Refusal::RateLimited | Refusal::ConnectionsPerIp => 429,
            Refusal::HeaderTimeout => 408,
            Refusal::HeaderTooLarge => 431,
            Refusal::BadMediaPath => 400,
            Refusal::BadPlaybackToken => 403,
        }
    }

    /// The `error.code` of the JSON answer: what the client should do
    /// differs between a full service and its own excess.
    fn public_code(self) -> &'static str {
        match self.status() {
            429 => "rate_limited",
            408 => "request_timeout",
            431 => "headers_too_large",
            400 => "bad_request",
            403 => "forbidden",
            _ => "overloaded",
        }
    }

    fn title(self) -> &'static str {
        match self.status() {
            429 => "Too many requests",
            408 => "Request timed out",
            431 => "Request too large",
            400 => "Bad request",
            403 => "Forbidden",
            _ => "Reel is busy",
        }
    }

    /// Whether trying again later can succeed (then `Retry-After` is sent
    /// and the page retries by itself).
    fn retryable(self) -> bool {
        !matches!(self.status(), 400 | 403 | 408 | 431)
    }
}

/// Content type and body of the refusal for a request path.
pub fn body(path: &str, reason: Refusal, retry_after_s: u64) -> (&'static str, String) {
    // Players read media answers, never pages: JSON like the API's.
    if route::is_api(path) || reel_playback::is_signed(path) {
        let json = serde_json::json!({
            "error": {"code": reason.public_code(), "message": format!("{reason}; please retry shortly")}
        });
        return ("application/json", json.to_string());
    }
    let title = reason.title();
    // The refresh makes the page retry by itself, so a viewer turned away
    // in a spike gets in as soon as there is room, without a script.
    let wait = retry_after_s.max(1);
    let (refresh, note) = if reason.retryable() {
        (
            format!("<meta http-equiv=\"refresh\" content=\"{wait}\">"),
            format!("This page tries again by itself in {wait} s."),
        )
    } else {
        (String::new(), "Please try again.".to_string())
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">{refresh}\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head><body><main><h1>{title}</h1>\
         <p>{reason}. {note}</p></main></body></html>\n"
    );
    ("text/html; charset=utf-8", html)
}

/// Writes the complete refusal answer to the client.
pub async fn respond(
    session: &mut Session,
    reason: Refusal,
    retry_after_s: u64,
    request_id: &str,
) -> Result<()> {
    let path = session.req_header().uri.path().to_string();
    let (content_type, text) = body(&path, reason, retry_after_s);
    let mut resp = ResponseHeader::build(reason.status(), Some(6))?;
    if reason.retryable() {
        resp.insert_header("Retry-After", retry_after_s.to_string())?;
    }
    write_whole(session, resp, content_type, text, request_id).await
}

/// Sends a small generated answer (a refusal or a failure): `resp` with its
/// content headers, `no-store` and the request id, then `text` unless the
/// request was a HEAD.
pub async fn write_whole(
    session: &mut Session,
    mut resp: ResponseHeader,
    content_type: &str,
    text: String,
    request_id: &str,
) -> Result<()> {
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

/// The whole HTTP/1.1 answer as bytes, for refusals decided before a
/// request was parsed (connection limits, header timeout). The path is not
/// known yet, so the HTML shape is used; the connection is closed after it.
pub fn raw_answer(reason: Refusal, retry_after_s: u64) -> Vec<u8> {
    let (content_type, text) = body("/", reason, retry_after_s);
    let status = reason.status();
    let phrase = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Refused");
    let retry = if reason.retryable() {
        format!("Retry-After: {retry_after_s}\r\n")
    } else {
        String::new()
    };
    format!(
        "HTTP/1.1 {status} {phrase}\r\n{retry}Content-Type: {content_type}\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_gets_json_and_pages_retry() {
        let (ct, b) = body("/api/videos", Refusal::BackendLimit, 2);
        assert_eq!(ct, "application/json");
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["error"]["code"], "overloaded");
        let (ct, page) = body("/watch/x", Refusal::NoHealthy, 2);
        assert!(ct.starts_with("text/html"));
        assert!(page.contains("content=\"2\""), "{page}");
        let (_, b) = body("/api/videos", Refusal::RateLimited, 2);
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["error"]["code"], "rate_limited");
        let (_, page) = body("/", Refusal::HeaderTooLarge, 2);
        assert!(!page.contains("refresh"), "{page}");
    }

    #[test]
    fn raw_answers_are_complete_responses() {
        let a = String::from_utf8(raw_answer(Refusal::ConnectionsPerIp, 2)).unwrap();
        assert!(a.starts_with("HTTP/1.1 429 Too Many Requests\r\n"), "{a}");
        assert!(a.contains("\r\nRetry-After: 2\r\n"), "{a}");
        let (head, body) = a.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        let t = String::from_utf8(raw_answer(Refusal::HeaderTimeout, 2)).unwrap();
        assert!(t.starts_with("HTTP/1.1 408 Request Timeout\r\n") && !t.contains("Retry-After"));
    }
}

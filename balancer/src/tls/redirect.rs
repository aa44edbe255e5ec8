//! The plain port's answer when `tls.redirect_http` is on: every request
//! gets a `308 Permanent Redirect` to the same path and query on the TLS
//! port. 308 (not 301) keeps the method and body of a POST on the retry.

use async_trait::async_trait;
use http::{header, Response, StatusCode};
use pingora_core::apps::http_app::ServeHttp;
use pingora_core::protocols::http::ServerSession;

/// Why no redirect target could be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RedirectError {
    /// The request has no `Host` header to redirect to.
    #[error("request has no Host header")]
    NoHost,
    /// The `Host` header is not a plain host name or IP literal.
    #[error("Host header is not a valid host name")]
    BadHost,
}

impl RedirectError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            RedirectError::NoHost => "no_host",
            RedirectError::BadHost => "bad_host",
        }
    }
}

/// The host part of a `Host` header value, without its port.
///
/// Only names made of letters, digits, `-`, `_` and `.`, or bracketed IPv6
/// literals, are accepted: the result is pasted into a `Location` header
/// and must not be able to point anywhere but a host.
fn host_name(value: &str) -> Result<&str, RedirectError> {
    let value = value.trim();
    let (name, port) = if let Some(rest) = value.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or(RedirectError::BadHost)?;
        let ok = !inside.is_empty()
            && inside
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
        if !ok {
            return Err(RedirectError::BadHost);
        }
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or(RedirectError::BadHost)?),
        };
        (&value[..inside.len() + 2], port)
    } else {
        match value.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (value, None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.chars().all(|c| c.is_ascii_digit()) {
            return Err(RedirectError::BadHost);
        }
    }
    let plain = name.starts_with('[')
        || name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if name.is_empty() || name.len() > 253 || !plain {
        return Err(RedirectError::BadHost);
    }
    Ok(name)
}

/// The `https://` URL for a request with `host` header and `path_and_query`,
/// on `tls_port` (left out when it is 443).
pub fn location(
    host: Option<&str>,
    path_and_query: Option<&str>,
    tls_port: u16,
) -> Result<String, RedirectError> {
    let name = host_name(host.ok_or(RedirectError::NoHost)?)?;
    // Origin-form targets start with `/`; anything else (`*`, authority
    // form) has no path worth keeping.
    let path = path_and_query.filter(|p| p.starts_with('/')).unwrap_or("/");
    Ok(if tls_port == 443 {
        format!("https://{name}{path}")
    } else {
        format!("https://{name}:{tls_port}{path}")
    })
}

/// A pingora app that redirects every request to the TLS port.
#[derive(Debug, Clone, Copy)]
pub struct HttpsRedirect {
    tls_port: u16,
}

impl HttpsRedirect {
    /// Redirects to `tls_port` on the host the client asked for.
    pub fn new(tls_port: u16) -> Self {
        HttpsRedirect { tls_port }
    }
}

#[async_trait]
impl ServeHttp for HttpsRedirect {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        // The client is sent elsewhere, and a request body is never read:
        // closing the connection is both simpler and safer than draining.
        session.set_keepalive(None);
        let req = session.req_header();
        let host = req.headers.get(header::HOST).and_then(|v| v.to_str().ok());
        let target = location(
            host,
            req.uri.path_and_query().map(|p| p.as_str()),
            self.tls_port,
        );
        let mut builder = Response::builder().header(header::CONTENT_LENGTH, 0);
        builder = match &target {
            Ok(url) => builder
                .status(StatusCode::PERMANENT_REDIRECT)
                .header(header::LOCATION, url.as_str()),
            Err(e) => {
                tracing::debug!(code = e.code(), "cannot redirect to https: {e}");
                builder.status(StatusCode::BAD_REQUEST)
            }
        };
        builder.body(Vec::new()).unwrap_or_else(|_| {
            // Only reachable with an invalid header value, which `location`
            // rules out; answer something well-formed anyway.
            let mut r = Response::new(Vec::new());
            *r.status_mut() = StatusCode::BAD_REQUEST;
            r
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_path_and_query_and_swaps_port() {
        assert_eq!(
            location(Some("example.org:8080"), Some("/v/1/seg.m4s?x=1"), 8443).unwrap(),
            "https://example.org:8443/v/1/seg.m4s?x=1"
        );
        assert_eq!(
            location(Some("example.org"), Some("/"), 443).unwrap(),
            "https://example.org/"
        );
        assert_eq!(
            location(Some("[::1]:80"), Some("/a"), 8443).unwrap(),
            "https://[::1]:8443/a"
        );
        assert_eq!(
            location(Some("127.0.0.1"), Some("*"), 8443).unwrap(),
            "https://127.0.0.1:8443/"
        );
    }

    #[test]
    fn refuses_hosts_that_are_not_hosts() {
        assert_eq!(location(None, Some("/"), 443), Err(RedirectError::NoHost));
        for bad in [
            "",
            "evil.org/x",
            "a@b",
            "a:b",
            "a:1:2",
            "[::1",
            "[zz]",
            "[::1]x",
            "host name",
        ] {
            assert_eq!(
                location(Some(bad), Some("/"), 443),
                Err(RedirectError::BadHost),
                "{bad}"
            );
        }
    }
}

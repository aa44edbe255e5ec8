//! TLS for viewers: the TLS port's listener settings (HTTP/2 by ALPN, the
//! certificate from a reloadable [`cert::CertStore`]), the optional
//! redirect of the plain port, and how the proxy tells the two apart.
//!
//! Built on pingora's rustls backend. Of pingora's three TLS backends it
//! is the one that needs no system library at build or run time; it
//! negotiates `h2`/`http/1.1` by ALPN like the others, and its listener
//! accepts a [`rustls::server::ResolvesServerCert`], which is what makes a
//! certificate swap on reload possible without rebuilding the listener
//! (the OpenSSL backend would need its certificate callback for that).
//!
//! pingora bounds each TLS handshake to 60 seconds; that limit is fixed
//! inside pingora and is not configurable here.

use std::sync::Arc;

use http::HeaderValue;
use pingora_core::listeners::tls::TlsSettings;
use pingora_proxy::Session;

pub mod cert;
pub mod redirect;

/// Whether the request arrived over TLS (on the TLS port).
///
/// The connection digest carries TLS details only for TLS connections, for
/// HTTP/1.1 and HTTP/2 alike.
pub fn is_tls(session: &Session) -> bool {
    session.digest().is_some_and(|d| d.ssl_digest.is_some())
}

/// `https` for a request that arrived over TLS, else `http`: the value of
/// `X-Forwarded-Proto` the balancer itself vouches for.
pub fn scheme(session: &Session) -> &'static str {
    if is_tls(session) {
        "https"
    } else {
        "http"
    }
}

/// The host the viewer asked for: the `Host` header, or on HTTP/2, where
/// clients send `:authority` instead, the request's authority.
pub fn viewer_host(session: &Session) -> Option<HeaderValue> {
    if let Some(host) = session.get_header(http::header::HOST) {
        return Some(host.clone());
    }
    let authority = session.req_header().uri.authority()?;
    HeaderValue::from_str(authority.as_str()).ok()
}

/// Listener settings for the TLS port: certificates come from `store` at
/// every handshake, ALPN offers `h2` first with `http/1.1` as fallback.
pub fn listener_settings(store: Arc<cert::CertStore>) -> pingora_error::Result<TlsSettings> {
    // The paths are unused: a resolver replaces them (see `TlsSettings::build`).
    let mut settings = TlsSettings::intermediate("", "")?;
    settings.set_cert_resolver(store);
    settings.enable_h2();
    Ok(settings)
}

//! Who is on the other end: the client's address and whether it used HTTPS,
//! believing `X-Forwarded-*` only from a trusted proxy (the balancer).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use ipnet::IpNet;

use super::error::ApiError;
use crate::state::AppState;

/// The calling client as far as the node can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// Client address: the peer's, or the one a trusted proxy reports.
    pub ip: IpAddr,
    /// Whether the client reached us over HTTPS (per a trusted proxy).
    pub https: bool,
}

/// Resolves the client from the peer address and headers. Only the last
/// `X-Forwarded-For` hop is taken: it is the one the trusted proxy appended;
/// anything before it was written by the client and proves nothing.
pub fn resolve(peer: Option<SocketAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Client {
    let Some(peer) = peer else {
        // No connection (in-process tests): nothing to trust.
        return Client {
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            https: false,
        };
    };
    let peer_ip = peer.ip().to_canonical();
    if !trusted.iter().any(|n| n.contains(&peer_ip)) {
        return Client {
            ip: peer_ip,
            https: false,
        };
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()
        .and_then(|s| s.trim().parse::<IpAddr>().ok());
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    Client {
        ip: forwarded.unwrap_or(peer_ip),
        https,
    }
}

impl FromRequestParts<AppState> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        Ok(resolve(
            peer,
            &parts.headers,
            &state.config.http.trusted_networks(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_peers() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6, 203.0.113.9"),
            ("x-forwarded-proto", "https"),
        ]);
        let via_balancer = resolve(Some("127.0.0.1:5000".parse().unwrap()), &h, &trusted);
        assert_eq!(via_balancer.ip, "203.0.113.9".parse::<IpAddr>().unwrap());
        assert!(via_balancer.https);
        let direct = resolve(Some("198.51.100.7:5000".parse().unwrap()), &h, &trusted);
        assert_eq!(direct.ip, "198.51.100.7".parse::<IpAddr>().unwrap());
        assert!(!direct.https);
        let plain = resolve(
            Some("127.0.0.1:1".parse().unwrap()),
            &HeaderMap::new(),
            &trusted,
        );
        assert_eq!(plain.ip, "127.0.0.1".parse::<IpAddr>().unwrap());
    }
}

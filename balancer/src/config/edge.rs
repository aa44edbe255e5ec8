//! Settings of the viewer-facing edge: which peers are trusted proxies,
//! the client limits (`[limits]`) and the access log (`[access_log]`).

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{at_least, ConfigError};

/// Limits applied to viewer connections and requests before any backend
/// is involved. Every refusal is answered at once, never queued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Longest wait for any single read while a request head is arriving.
    pub header_read_timeout_ms: u64,
    /// Longest time a whole request head may take: from the connection's
    /// accept for its first request, from the first byte for later ones.
    pub header_timeout_ms: u64,
    /// Longest idle time between two requests on a kept-alive connection.
    pub keepalive_timeout_s: u64,
    /// Concurrent connections one client IP may hold (trusted proxies are
    /// exempt).
    pub max_connections_per_ip: usize,
    /// Concurrent viewer connections in total.
    pub max_connections: usize,
    /// Requests per second one client IP may make; 0 turns the limit off.
    pub requests_per_ip_per_s: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            header_read_timeout_ms: 5_000,
            header_timeout_ms: 10_000,
            keepalive_timeout_s: 30,
            max_connections_per_ip: 256,
            max_connections: 10_000,
            // Off: an address is not a person. Behind a reverse proxy not
            // (yet) listed in `trusted_proxies` every viewer shares the
            // proxy's address, and a load test from one machine is one
            // address; a default budget would cap the whole site there.
            // The connection caps and in-flight shedding already bound what
            // one address can take; operators who know their audience turn
            // this on (200/s suits a NAT full of players).
            requests_per_ip_per_s: 0,
        }
    }
}

/// The access log written off the request path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessLogConfig {
    /// File appended to; `-` is standard output; empty turns the log off.
    pub path: String,
    /// Records buffered between the proxy and the writer; beyond this
    /// records are dropped (and counted) rather than slowing requests.
    pub queue: usize,
}

impl Default for AccessLogConfig {
    fn default() -> Self {
        AccessLogConfig {
            path: String::new(),
            queue: 8192,
        }
    }
}

/// Parses one `trusted_proxies` entry: a CIDR or a bare address.
pub fn parse_trusted(entry: &str) -> Option<IpNet> {
    let entry = entry.trim();
    entry
        .parse::<IpNet>()
        .ok()
        .or_else(|| entry.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

/// Checks `trusted_proxies`, `[limits]` and `[access_log]`.
pub fn validate(
    trusted_proxies: &[String],
    limits: &LimitsConfig,
    access_log: &AccessLogConfig,
) -> Result<(), ConfigError> {
    for (i, entry) in trusted_proxies.iter().enumerate() {
        if parse_trusted(entry).is_none() {
            return Err(ConfigError::invalid(
                format!("trusted_proxies[{i}]"),
                format!("`{entry}` is not an IP address or CIDR range"),
            ));
        }
    }
    let l = limits;
    at_least("limits.header_read_timeout_ms", l.header_read_timeout_ms, 1)?;
    at_least("limits.header_timeout_ms", l.header_timeout_ms, 1)?;
    if l.header_read_timeout_ms > l.header_timeout_ms {
        return Err(ConfigError::invalid(
            "limits.header_read_timeout_ms",
            format!(
                "must not exceed limits.header_timeout_ms ({}), got {}",
                l.header_timeout_ms, l.header_read_timeout_ms
            ),
        ));
    }
    at_least("limits.keepalive_timeout_s", l.keepalive_timeout_s, 1)?;
    at_least("limits.max_connections_per_ip", l.max_connections_per_ip, 1)?;
    at_least("limits.max_connections", l.max_connections, 1)?;
    at_least("access_log.queue", access_log.queue, 1)?;
    if access_log.path.chars().any(char::is_control) {
        return Err(ConfigError::invalid(
            "access_log.path",
            "must not contain control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_entries() {
        assert!(parse_trusted("10.0.0.0/8").is_some());
        assert!(parse_trusted("192.0.2.7").is_some());
        assert!(parse_trusted("2001:db8::/32").is_some());
        assert!(parse_trusted("10.0.0.0/33").is_none());
        assert!(parse_trusted("proxy.local").is_none());
    }

    #[test]
    fn names_the_bad_key() {
        let ok = (LimitsConfig::default(), AccessLogConfig::default());
        validate(&[], &ok.0, &ok.1).unwrap();
        let e = validate(&["10.0.0.1".into(), "nope".into()], &ok.0, &ok.1).unwrap_err();
        assert!(e.to_string().starts_with("trusted_proxies[1]"), "{e}");
        let mut l = LimitsConfig::default();
        l.header_read_timeout_ms = l.header_timeout_ms + 1;
        let e = validate(&[], &l, &ok.1).unwrap_err();
        assert!(
            e.to_string().starts_with("limits.header_read_timeout_ms"),
            "{e}"
        );
        let l = LimitsConfig {
            max_connections: 0,
            ..LimitsConfig::default()
        };
        let e = validate(&[], &l, &ok.1).unwrap_err();
        assert!(e.to_string().starts_with("limits.max_connections"), "{e}");
    }
}

//! The `[tls]` section: certificate files and the address of the viewer
//! port that speaks TLS (HTTP/2 or HTTP/1.1 by ALPN).
//!
//! TLS is off unless both `cert` and `key` are set. The files are read and
//! parsed while the configuration is validated, so `reel-balancer check`
//! and a refused reload name the bad file before anything is swapped in.

use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{socket_addr, ConfigError};
use crate::tls::cert::{self, CertError};

/// TLS for viewers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM file with the certificate chain, leaf first; empty = TLS off.
    pub cert: String,
    /// PEM file with the private key of the leaf certificate.
    pub key: String,
    /// Address of the TLS viewer port; required when `cert`/`key` are set.
    pub listen: String,
    /// Whether the plain `listen` port answers every request with a 308
    /// redirect to the same path on the TLS port.
    pub redirect_http: bool,
}

impl TlsConfig {
    /// True when a certificate and key are configured.
    pub fn enabled(&self) -> bool {
        !self.cert.is_empty() && !self.key.is_empty()
    }

    /// The TLS port's address; only meaningful after validation.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen.parse().ok()
    }

    /// Checks the section against the other listeners and parses the files.
    pub(super) fn validate(
        &self,
        listen: SocketAddr,
        admin: SocketAddr,
    ) -> Result<(), ConfigError> {
        match (self.cert.is_empty(), self.key.is_empty()) {
            (true, true) => {
                // Settings that only mean something with TLS on are refused
                // rather than ignored, so a missing cert line cannot silently
                // leave the site on plain HTTP.
                if !self.listen.is_empty() {
                    return Err(ConfigError::invalid(
                        "tls.listen",
                        "is set but tls.cert and tls.key are not",
                    ));
                }
                if self.redirect_http {
                    return Err(ConfigError::invalid(
                        "tls.redirect_http",
                        "needs tls.cert, tls.key and tls.listen",
                    ));
                }
                return Ok(());
            }
            (false, true) => {
                return Err(ConfigError::invalid(
                    "tls.key",
                    "must be set together with tls.cert",
                ))
            }
            (true, false) => {
                return Err(ConfigError::invalid(
                    "tls.cert",
                    "must be set together with tls.key",
                ))
            }
            (false, false) => {}
        }
        if self.listen.is_empty() {
            return Err(ConfigError::invalid(
                "tls.listen",
                "is required when tls.cert and tls.key are set",
            ));
        }
        let tls = socket_addr("tls.listen", &self.listen)?;
        if tls == listen {
            return Err(ConfigError::invalid(
                "tls.listen",
                "must differ from listen",
            ));
        }
        if tls == admin {
            return Err(ConfigError::invalid(
                "tls.listen",
                "must differ from admin_listen",
            ));
        }
        cert::load(Path::new(&self.cert), Path::new(&self.key))
            .map(drop)
            .map_err(|e| ConfigError::invalid(blamed_key(&e), e.to_string()))
    }
}

/// The config key naming the file a certificate error is about.
fn blamed_key(e: &CertError) -> &'static str {
    match e {
        CertError::Read { key_file: true, .. }
        | CertError::NoKey { .. }
        | CertError::KeyRejected { .. }
        | CertError::KeyMismatch { .. } => "tls.key",
        CertError::Read { .. }
        | CertError::NoCertificate { .. }
        | CertError::BadCertificate { .. } => "tls.cert",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> (SocketAddr, SocketAddr) {
        (
            "127.0.0.1:8080".parse().unwrap(),
            "127.0.0.1:9091".parse().unwrap(),
        )
    }

    fn key_of(c: &TlsConfig) -> String {
        let (l, a) = addrs();
        match c.validate(l, a).unwrap_err() {
            ConfigError::Invalid { key, .. } => key,
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn off_by_default() {
        let (l, a) = addrs();
        let c = TlsConfig::default();
        assert!(!c.enabled());
        c.validate(l, a).unwrap();
    }

    #[test]
    fn half_configured_is_refused() {
        let only_cert = TlsConfig {
            cert: "c.pem".into(),
            ..Default::default()
        };
        assert_eq!(key_of(&only_cert), "tls.key");
        let only_key = TlsConfig {
            key: "k.pem".into(),
            ..Default::default()
        };
        assert_eq!(key_of(&only_key), "tls.cert");
        let redirect_only = TlsConfig {
            redirect_http: true,
            ..Default::default()
        };
        assert_eq!(key_of(&redirect_only), "tls.redirect_http");
    }

    #[test]
    fn listen_is_required_and_distinct() {
        let mut c = TlsConfig {
            cert: "c.pem".into(),
            key: "k.pem".into(),
            ..Default::default()
        };
        assert_eq!(key_of(&c), "tls.listen");
        c.listen = "127.0.0.1:8080".into();
        assert_eq!(key_of(&c), "tls.listen");
        c.listen = "127.0.0.1:9091".into();
        assert_eq!(key_of(&c), "tls.listen");
        // Distinct address: now the (missing) files are the problem.
        c.listen = "127.0.0.1:8443".into();
        assert_eq!(key_of(&c), "tls.cert");
    }
}

//! The admin port's settings (`[admin]`) and the upgrade socket path.
//!
//! The admin token is a secret: it may only come from the environment
//! (`REEL_ADMIN__TOKEN`), because the TOML file is committed. A token
//! found in the file is refused before any other layer is applied.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Default path of the upgrade socket, relative to the working directory.
pub const DEFAULT_UPGRADE_SOCK: &str = "data/balancer/upgrade.sock";

/// Longest Unix socket path the kernel accepts (`sun_path` minus its NUL).
const MAX_SOCK_PATH: usize = 107;

/// Shortest accepted admin token: guessing must be hopeless.
const MIN_TOKEN_LEN: usize = 16;
/// Longest accepted admin token, so the header stays small.
const MAX_TOKEN_LEN: usize = 256;

/// The bearer token guarding `POST /reload` and `POST /purge/…`. Never
/// printed or serialised.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct AdminToken(String);

impl AdminToken {
    /// The token's bytes, for a constant-time comparison.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keeps the secret out of logs that print a whole configuration.
        f.write_str("AdminToken(<redacted>)")
    }
}

impl From<&str> for AdminToken {
    fn from(s: &str) -> Self {
        AdminToken(s.to_string())
    }
}

/// Settings of the admin HTTP server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Time a client has to deliver a complete request head (also the
    /// longest idle wait between two requests on one connection).
    pub header_timeout_ms: u64,
    /// Bearer token required by `POST /reload`; without one that endpoint
    /// is closed and reloads happen by SIGHUP only. Environment only.
    #[serde(skip_serializing)]
    pub token: Option<AdminToken>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            header_timeout_ms: 5000,
            token: None,
        }
    }
}

impl AdminConfig {
    /// Checks the values of `[admin]`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=300_000).contains(&self.header_timeout_ms) {
            return Err(ConfigError::invalid(
                "admin.header_timeout_ms",
                format!(
                    "must be between 1 and 300000, got {}",
                    self.header_timeout_ms
                ),
            ));
        }
        if let Some(token) = &self.token {
            let t = &token.0;
            let printable = t.bytes().all(|b| b.is_ascii_graphic());
            if !(MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&t.len()) || !printable {
                return Err(ConfigError::invalid(
                    "admin.token (REEL_ADMIN__TOKEN)",
                    format!(
                        "must be {MIN_TOKEN_LEN} to {MAX_TOKEN_LEN} visible ASCII characters \
                         without spaces, got {} characters",
                        t.chars().count()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Checks the shape of `upgrade_sock`; the directory itself is checked
/// (and created) when the server starts.
pub fn validate_upgrade_sock(path: &str) -> Result<(), ConfigError> {
    let key = "upgrade_sock";
    if path.is_empty() || path.ends_with('/') || path.contains('\0') {
        return Err(ConfigError::invalid(
            key,
            format!("`{path}` is not a file path"),
        ));
    }
    if path.len() > MAX_SOCK_PATH {
        return Err(ConfigError::invalid(
            key,
            format!(
                "is {} bytes long; Unix socket paths are limited to {MAX_SOCK_PATH}",
                path.len()
            ),
        ));
    }
    if Path::new(path).file_name().is_none() {
        return Err(ConfigError::invalid(
            key,
            format!("`{path}` does not end in a file name"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape() {
        let mut a = AdminConfig::default();
        a.validate().unwrap();
        a.token = Some("short".into());
        assert!(a
            .validate()
            .unwrap_err()
            .to_string()
            .contains("REEL_ADMIN__TOKEN"));
        a.token = Some("has a space in the middle".into());
        assert!(a.validate().is_err());
        a.token = Some("0123456789abcdef".into());
        a.validate().unwrap();
        assert!(!format!("{a:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn socket_paths() {
        validate_upgrade_sock(DEFAULT_UPGRADE_SOCK).unwrap();
        assert!(validate_upgrade_sock("").is_err());
        assert!(validate_upgrade_sock("run/").is_err());
        assert!(validate_upgrade_sock(&"x/".repeat(60)).is_err());
    }
}

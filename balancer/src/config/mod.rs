//! Balancer configuration: the typed settings, their defaults and validation.
//!
//! Layering (defaults → TOML → `REEL_*` env → CLI flags) lives in
//! [`layers`]; this module only knows what a valid configuration is.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

pub mod admin;
mod cache;
pub mod edge;
pub mod layers;
pub mod playback;
pub mod tls;
mod traffic;

pub use cache::CacheConfig;
pub use tls::TlsConfig;
pub use traffic::{AdmissionConfig, OutlierConfig};

use admin::AdminConfig;

pub use edge::{AccessLogConfig, LimitsConfig};

/// Highest accepted `proxy.retries`; the proxy engine's attempt budget is
/// sized from it once at start-up, so reloads can only move below it.
pub const MAX_RETRIES: u32 = 3;

/// Errors produced while reading, parsing or validating a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Unreadable {
        /// Path that failed.
        path: String,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the schema.
    #[error("cannot parse config: {0}")]
    Parse(String),
    /// A `REEL_*` environment variable holds a value of the wrong shape.
    #[error("environment variable {var}: {message}")]
    Env {
        /// Variable name.
        var: String,
        /// What is wrong with it.
        message: String,
    },
    /// A command-line flag holds a value of the wrong shape.
    #[error("flag {flag}: {message}")]
    Flag {
        /// Flag name.
        flag: String,
        /// What is wrong with it.
        message: String,
    },
    /// The configuration parsed but a value is out of range or inconsistent.
    #[error("{key}: {message}")]
    Invalid {
        /// Key path, e.g. `backends[1].address`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ConfigError {
    /// Stable machine-readable code, used in admin API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::Unreadable { .. } => "config_unreadable",
            ConfigError::Parse(_) => "config_parse",
            ConfigError::Env { .. } => "config_env",
            ConfigError::Flag { .. } => "config_flag",
            ConfigError::Invalid { .. } => "config_invalid",
        }
    }

    pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// How the next backend is chosen for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// Each healthy backend in turn, ignoring weights.
    #[default]
    RoundRobin,
    /// In turn, proportionally to each backend's weight.
    Weighted,
    /// Rendezvous hashing on the video id so one video's segments stay on
    /// one node; requests without a video id fall back to round robin.
    ConsistentHash,
    /// Power of two choices on in-flight requests per unit of weight.
    LeastInFlight,
}

impl Selection {
    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Selection::RoundRobin => "round_robin",
            Selection::Weighted => "weighted",
            Selection::ConsistentHash => "consistent_hash",
            Selection::LeastInFlight => "least_in_flight",
        }
    }
}

/// One app node behind the balancer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    /// `IP:port` of the node.
    pub address: String,
    /// Name shown to viewers (`X-Reel-Node`) and in metrics; defaults to
    /// `node-<n>` by position, counting from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Relative share of traffic under `weighted` and `consistent_hash`.
    #[serde(default = "default_weight")]
    pub weight: u32,
}

fn default_weight() -> u32 {
    1
}

impl BackendConfig {
    /// A backend with the default name and weight.
    pub fn new(address: impl Into<String>) -> Self {
        BackendConfig {
            address: address.into(),
            name: None,
            weight: default_weight(),
        }
    }

    /// The name in use for the backend at `index` (0-based) of the list.
    pub fn effective_name(&self, index: usize) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("node-{}", index + 1))
    }
}

/// Whether `name` is 1 to 64 characters of `[A-Za-z0-9._-]`, safe in a
/// header, a metric label and a log line.
pub fn valid_backend_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Active health checking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Path requested on every backend; any 2xx answer is a success.
    pub path: String,
    /// Time between two checks of the same backend.
    pub interval_ms: u64,
    /// Time a single check may take before it counts as a failure.
    pub timeout_ms: u64,
    /// Consecutive successes that bring a backend back into rotation.
    pub healthy_threshold: u32,
    /// Consecutive failures that take a backend out of rotation.
    pub unhealthy_threshold: u32,
    /// A node entering rotation (recovered, or added by a reload) ramps
    /// from 10 % to its full share of traffic over this many seconds.
    pub slow_start_s: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            path: "/readyz".into(),
            interval_ms: 2000,
            timeout_ms: 1000,
            healthy_threshold: 2,
            unhealthy_threshold: 2,
            slow_start_s: 10,
        }
    }
}

/// Upstream timeouts, retries and admission limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// Time allowed to open a TCP connection to a backend.
    pub connect_timeout_ms: u64,
    /// Longest wait for any single read from (or write to) a backend.
    pub read_timeout_ms: u64,
    /// For media (segments, playlists, images): longest wait for the
    /// node's response head and for each later read. Short, so a stuck
    /// node costs a viewer one quick retry rather than a stall.
    pub first_byte_timeout_ms: u64,
    /// How many times a failed GET/HEAD may move to another backend.
    pub retries: u32,
    /// Retries may add at most this share of the requests of the last
    /// ten seconds…
    pub retry_budget_pct: u32,
    /// …plus this many per second, so a quiet balancer can still retry.
    pub retry_budget_min_per_s: u32,
    /// When fewer than this share of the nodes is in rotation, requests go
    /// to every node instead (with no node in rotation, always).
    pub panic_threshold_pct: u32,
    /// Requests one backend may have in flight; more are sent elsewhere or shed.
    pub max_in_flight_per_backend: usize,
    /// Requests the whole balancer may have in flight; more are shed.
    pub max_in_flight_total: usize,
    /// Seconds advertised in `Retry-After` on shed requests.
    pub retry_after_s: u64,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            connect_timeout_ms: 1000,
            read_timeout_ms: 30_000,
            first_byte_timeout_ms: 3000,
            retries: 1,
            retry_budget_pct: 20,
            retry_budget_min_per_s: 5,
            panic_threshold_pct: 0,
            max_in_flight_per_backend: 256,
            max_in_flight_total: 1024,
            retry_after_s: 1,
        }
    }
}

/// The whole balancer configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address viewers connect to.
    pub listen: String,
    /// Address of the admin HTTP server (metrics, backends, reload).
    pub admin_listen: String,
    /// Backend selection strategy.
    pub selection: Selection,
    /// Worker threads of the proxy.
    pub threads: usize,
    /// Longest time SIGTERM waits for in-flight requests before exiting.
    pub shutdown_grace_s: u64,
    /// App nodes.
    pub backends: Vec<BackendConfig>,
    /// Active health checking.
    pub health: HealthConfig,
    /// Timeouts, retries and limits.
    pub proxy: ProxyConfig,
    /// Passive ejection of failing nodes.
    pub outlier: OutlierConfig,
    /// The edge cache.
    pub cache: CacheConfig,
    /// Who gets in when the cluster is full.
    pub admission: AdmissionConfig,
    /// TLS and HTTP/2 for viewers.
    pub tls: TlsConfig,
    /// The admin port's settings.
    pub admin: AdminConfig,
    /// Unix socket through which a successor started with `--upgrade`
    /// takes over the listening sockets; its directory must be private.
    pub upgrade_sock: String,
    /// Peers (IP or CIDR) whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<String>,
    /// Client connection and request limits.
    pub limits: LimitsConfig,
    /// The access log.
    pub access_log: AccessLogConfig,
    /// Keys that check signed playback URLs.
    pub playback: playback::PlaybackConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            admin_listen: "127.0.0.1:9091".into(),
            selection: Selection::RoundRobin,
            threads: 2,
            shutdown_grace_s: 10,
            backends: vec![
                BackendConfig::new("127.0.0.1:8081"),
                BackendConfig::new("127.0.0.1:8082"),
            ],
            health: HealthConfig::default(),
            proxy: ProxyConfig::default(),
            outlier: OutlierConfig::default(),
            cache: CacheConfig::default(),
            admission: AdmissionConfig::default(),
            tls: TlsConfig::default(),
            admin: AdminConfig::default(),
            upgrade_sock: admin::DEFAULT_UPGRADE_SOCK.into(),
            trusted_proxies: Vec::new(),
            limits: LimitsConfig::default(),
            access_log: AccessLogConfig::default(),
            playback: playback::PlaybackConfig::default(),
        }
    }
}

pub(crate) fn socket_addr(key: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    value
        .parse()
        .map_err(|_| ConfigError::invalid(key, format!("`{value}` is not an IP:port address")))
}

pub(crate) fn at_least<T: PartialOrd + std::fmt::Display>(
    key: &str,
    value: T,
    min: T,
) -> Result<(), ConfigError> {
    if value < min {
        return Err(ConfigError::invalid(
            key,
            format!("must be at least {min}, got {value}"),
        ));
    }
    Ok(())
}

impl Config {
    /// Checks every value and cross-field rule, naming the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let listen = socket_addr("listen", &self.listen)?;
        let admin = socket_addr("admin_listen", &self.admin_listen)?;
        if listen == admin {
            return Err(ConfigError::invalid(
                "admin_listen",
                "must differ from listen",
            ));
        }
        at_least("threads", self.threads, 1)?;
        if self.backends.is_empty() {
            return Err(ConfigError::invalid(
                "backends",
                "at least one backend is required",
            ));
        }
        let mut seen = Vec::with_capacity(self.backends.len());
        let mut names = Vec::with_capacity(self.backends.len());
        for (i, b) in self.backends.iter().enumerate() {
            let name = b.effective_name(i);
            if !valid_backend_name(&name) {
                return Err(ConfigError::invalid(
                    format!("backends[{i}].name"),
                    format!("`{name}` must be 1 to 64 characters of A-Z a-z 0-9 . _ -"),
                ));
            }
            if names.contains(&name) {
                return Err(ConfigError::invalid(
                    format!("backends[{i}].name"),
                    format!("`{name}` is used twice (unnamed backends are node-<position>)"),
                ));
            }
            names.push(name);
            let addr = socket_addr(&format!("backends[{i}].address"), &b.address)?;
            if seen.contains(&addr) {
                return Err(ConfigError::invalid(
                    format!("backends[{i}].address"),
                    format!("`{addr}` is listed twice"),
                ));
            }
            seen.push(addr);
            if !(1..=1000).contains(&b.weight) {
                return Err(ConfigError::invalid(
                    format!("backends[{i}].weight"),
                    format!("must be between 1 and 1000, got {}", b.weight),
                ));
            }
        }
        let h = &self.health;
        if !h.path.starts_with('/') || h.path.chars().any(|c| c.is_whitespace()) {
            return Err(ConfigError::invalid(
                "health.path",
                format!("`{}` must start with `/` and contain no spaces", h.path),
            ));
        }
        at_least("health.interval_ms", h.interval_ms, 10)?;
        at_least("health.timeout_ms", h.timeout_ms, 1)?;
        at_least("health.healthy_threshold", h.healthy_threshold, 1)?;
        at_least("health.unhealthy_threshold", h.unhealthy_threshold, 1)?;
        let p = &self.proxy;
        at_least("proxy.connect_timeout_ms", p.connect_timeout_ms, 1)?;
        at_least("proxy.read_timeout_ms", p.read_timeout_ms, 1)?;
        if p.retries > MAX_RETRIES {
            return Err(ConfigError::invalid(
                "proxy.retries",
                format!("must be at most {MAX_RETRIES}, got {}", p.retries),
            ));
        }
        at_least(
            "proxy.max_in_flight_per_backend",
            p.max_in_flight_per_backend,
            1,
        )?;
        at_least("proxy.max_in_flight_total", p.max_in_flight_total, 1)?;
        at_least("proxy.first_byte_timeout_ms", p.first_byte_timeout_ms, 1)?;
        for (key, pct) in [
            ("proxy.retry_budget_pct", p.retry_budget_pct),
            ("proxy.panic_threshold_pct", p.panic_threshold_pct),
        ] {
            if pct > 100 {
                return Err(ConfigError::invalid(
                    key,
                    format!("must be at most 100, got {pct}"),
                ));
            }
        }
        self.outlier.validate()?;
        self.cache.validate()?;
        self.admission.validate()?;
        self.playback.validate()?;
        // Last: it reads the certificate files.
        self.tls.validate(listen, admin)?;
        self.admin.validate()?;
        admin::validate_upgrade_sock(&self.upgrade_sock)?;
        edge::validate(&self.trusted_proxies, &self.limits, &self.access_log)?;
        Ok(())
    }

    /// Backend names in file order, defaults filled in.
    pub fn backend_names(&self) -> Vec<String> {
        self.backends
            .iter()
            .enumerate()
            .map(|(i, b)| b.effective_name(i))
            .collect()
    }

    /// Parsed backend addresses with their weights, in file order.
    ///
    /// Only meaningful after [`Config::validate`] succeeded.
    pub fn backend_addrs(&self) -> Vec<(SocketAddr, u32)> {
        self.backends
            .iter()
            .filter_map(|b| b.address.parse().ok().map(|a| (a, b.weight)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn names_the_bad_backend() {
        let mut c = Config::default();
        c.backends[1].address = "nope".into();
        let e = c.validate().unwrap_err();
        assert_eq!(e.code(), "config_invalid");
        assert!(e.to_string().starts_with("backends[1].address"), "{e}");
    }

    #[test]
    fn rejects_duplicates_and_zero_weight() {
        let mut c = Config::default();
        c.backends[1].address = c.backends[0].address.clone();
        assert!(c.validate().is_err());
        let mut c = Config::default();
        c.backends[0].weight = 0;
        assert!(c.validate().unwrap_err().to_string().contains("weight"));
    }

    #[test]
    fn backend_names_default_and_must_be_unique_and_safe() {
        let mut c = Config::default();
        assert_eq!(c.backend_names(), ["node-1", "node-2"]);
        c.backends[0].name = Some("node-2".into());
        let e = c.validate().unwrap_err();
        assert!(e.to_string().starts_with("backends[1].name"), "{e}");
        c.backends[0].name = Some("edge 1".into());
        let e = c.validate().unwrap_err();
        assert!(e.to_string().starts_with("backends[0].name"), "{e}");
        c.backends[0].name = Some("a".repeat(65));
        assert!(c.validate().is_err());
        c.backends[0].name = Some("eu-1.video_a".into());
        c.validate().unwrap();
    }
}

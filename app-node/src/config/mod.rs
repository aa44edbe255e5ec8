//! Node configuration: embedded defaults, then a TOML file, then `REEL_*`
//! environment variables (and `.env`), then CLI flags.
//!
//! The layers are merged as TOML values before one typed deserialisation, so a
//! key means the same thing whichever layer sets it.

mod layers;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use layers::{load, parse_config_str, ConfigError, Overrides};

/// The whole node configuration after all layers are applied.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Directory for the embedded catalog, media and temp files.
    pub data_dir: PathBuf,
    /// Name sent as `X-Reel-Node`; empty means host name + port.
    #[serde(default)]
    pub node_name: String,
    /// Log filter (`info`, `debug`, `reel_node=debug,tower_http=info` …).
    /// Read before the other layers so start-up is logged too.
    pub log: String,
    /// Directory holding `static/` and `node_modules/` to serve assets from
    /// disk instead of the copies embedded in the binary (development);
    /// empty means the embedded ones.
    pub web_dir: PathBuf,
    /// Catalog settings.
    pub catalog: CatalogConfig,
    /// Media store settings.
    pub storage: StorageConfig,
    /// Download and upload limits.
    pub ingest: IngestConfig,
    /// Background transcode worker.
    pub worker: WorkerConfig,
    /// Media tool settings.
    pub media: MediaConfig,
    /// HTTP server limits.
    pub http: HttpConfig,
}

/// Where the catalog lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// Database URL; empty means `sqlite://<data_dir>/reel.db`.
    #[serde(default)]
    pub url: String,
    /// Maximum pooled connections.
    pub max_connections: u32,
    /// Seconds a request waits for a pooled connection before the catalog
    /// counts as unavailable (the request then gets 503 + Retry-After).
    pub acquire_timeout_s: u64,
}

/// Where media files live.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `local` (a directory) or `s3` (an S3-compatible bucket).
    pub kind: String,
    /// Directory for `local`; empty means `<data_dir>/media`.
    pub path: PathBuf,
    /// How `/media` answers for objects: `proxy` streams them through the
    /// node; `redirect` sends a 302 to a presigned URL (S3 only).
    pub serve: String,
    /// Lifetime of presigned URLs in `redirect` mode, seconds.
    pub redirect_expiry_s: u64,
    /// Bucket settings for `kind = "s3"`. Credentials come only from
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`, never from this file.
    pub s3: S3Config,
}

/// An S3-compatible bucket.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Endpoint URL such as `http://127.0.0.1:9000`; empty means AWS.
    pub endpoint: String,
    /// Bucket name (required for `s3`).
    pub bucket: String,
    /// Region name used for signing.
    pub region: String,
    /// Path-style URLs (`endpoint/bucket/key`): `"auto"` means yes when an
    /// endpoint is set, else virtual-hosted style.
    pub path_style: Toggle,
    /// Allow plain-HTTP endpoints (loopback test servers, private networks).
    pub allow_http: bool,
}

/// A boolean that may be left to a derived default with `"auto"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Toggle {
    /// Set explicitly.
    Set(bool),
    /// `"auto"`: derived from other keys.
    Auto(AutoWord),
}

/// The word `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoWord {
    /// Derive the value.
    Auto,
}

impl S3Config {
    /// Whether to use path-style requests.
    pub fn path_style(&self) -> bool {
        match self.path_style {
            Toggle::Set(b) => b,
            Toggle::Auto(_) => !self.endpoint.is_empty(),
        }
    }
}

/// Limits for fetching sources.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Allow URL imports from loopback/private addresses (tests, trusted setups).
    pub allow_private_networks: bool,
    /// Largest source accepted, by URL or upload.
    pub max_bytes: u64,
    /// Seconds allowed to open a connection.
    pub connect_timeout_s: u64,
    /// Seconds allowed between two reads of a download.
    pub read_timeout_s: u64,
    /// Seconds allowed for a whole download.
    pub total_timeout_s: u64,
}

/// The job worker.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    /// Whether `serve` also runs a worker.
    pub enabled: bool,
    /// Jobs processed at once by this node.
    pub concurrency: usize,
    /// Seconds a claimed job stays ours without a heartbeat.
    pub lease_s: u64,
    /// Seconds between polls for new jobs when idle.
    pub poll_ms: u64,
    /// Attempts before a job fails for good.
    pub max_attempts: i64,
}

/// ffmpeg settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// ffmpeg binary.
    pub ffmpeg: PathBuf,
    /// ffprobe binary.
    pub ffprobe: PathBuf,
    /// x264 preset.
    pub preset: String,
    /// Wall-clock limit of one transcode, seconds.
    pub transcode_timeout_s: u64,
    /// Longest source accepted, seconds.
    pub max_duration_s: f64,
}

/// HTTP server limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Requests served at once before the node sheds with 503.
    pub max_concurrency: usize,
}

/// The embedded defaults, in the same TOML form as `configs/node.toml`.
pub const DEFAULTS: &str = r#"
listen = "127.0.0.1:8081"
data_dir = "./data"
node_name = ""
log = "info"
web_dir = ""

[catalog]
url = ""
max_connections = 8
acquire_timeout_s = 5

[storage]
kind = "local"
path = ""
serve = "proxy"
redirect_expiry_s = 300

[storage.s3]
endpoint = ""
bucket = ""
region = "us-east-1"
path_style = "auto"
allow_http = false

[ingest]
allow_private_networks = false
max_bytes = 4294967296
connect_timeout_s = 10
read_timeout_s = 30
total_timeout_s = 3600

[worker]
enabled = true
concurrency = 1
lease_s = 30
poll_ms = 1000
max_attempts = 3

[media]
ffmpeg = "ffmpeg"
ffprobe = "ffprobe"
preset = "veryfast"
transcode_timeout_s = 7200
max_duration_s = 14400.0

[http]
max_concurrency = 512
"#;

/// Longest wait or lease any key may ask for: 30 days, in seconds.
pub const MAX_WAIT_S: u64 = 30 * 24 * 3600;

impl Config {
    /// Catalog URL with the data-dir default filled in.
    pub fn catalog_url(&self) -> String {
        if self.catalog.url.is_empty() {
            format!("sqlite://{}/reel.db", self.data_dir.display())
        } else {
            self.catalog.url.clone()
        }
    }

    /// Pool settings of the catalog.
    pub fn catalog_options(&self) -> crate::catalog::CatalogOptions {
        crate::catalog::CatalogOptions {
            max_connections: self.catalog.max_connections,
            acquire_timeout: std::time::Duration::from_secs(self.catalog.acquire_timeout_s),
        }
    }

    /// Media directory with the data-dir default filled in.
    pub fn storage_path(&self) -> PathBuf {
        if self.storage.path.as_os_str().is_empty() {
            self.data_dir.join("media")
        } else {
            self.storage.path.clone()
        }
    }

    /// This node's own scratch (downloads, transcodes in progress, upload
    /// bodies): `<data_dir>/tmp/<node name>`, so nodes that share a data_dir
    /// on one machine never touch each other's scratch, and a node can clear
    /// all of its own at start.
    pub fn tmp_dir(&self) -> PathBuf {
        let name: String = self
            .node_name()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.data_dir.join("tmp").join(name)
    }

    /// Node name with the host-name default filled in.
    pub fn node_name(&self) -> String {
        if !self.node_name.is_empty() {
            return self.node_name.clone();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "reel".into());
        format!("{host}:{}", self.listen.port())
    }

    /// Where to read page assets from disk, if not from the binary.
    pub fn web_dir_override(&self) -> Option<&Path> {
        (!self.web_dir.as_os_str().is_empty()).then_some(self.web_dir.as_path())
    }

    /// Checks values serde cannot: ranges and supported kinds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| {
            Err(ConfigError::Invalid {
                key: key.to_string(),
                reason: why.to_string(),
            })
        };
        match self.storage.kind.as_str() {
            "local" => {}
            "s3" if self.storage.s3.bucket.is_empty() => {
                return bad(
                    "storage.s3.bucket",
                    "is required when storage.kind = \"s3\"",
                )
            }
            "s3" => {}
            _ => return bad("storage.kind", "must be \"local\" or \"s3\""),
        }
        match self.storage.serve.as_str() {
            "proxy" => {}
            "redirect" if self.storage.kind == "s3" => {}
            "redirect" => {
                return bad(
                    "storage.serve",
                    "\"redirect\" needs storage.kind = \"s3\" (a local store has no URLs to sign)",
                )
            }
            _ => return bad("storage.serve", "must be \"proxy\" or \"redirect\""),
        }
        if !(1..=7 * 24 * 3600).contains(&self.storage.redirect_expiry_s) {
            return bad(
                "storage.redirect_expiry_s",
                "must be between 1 and 604800 (7 days)",
            );
        }
        let url = self.catalog_url();
        if !["sqlite:", "postgres:", "postgresql:", "mysql:"]
            .iter()
            .any(|s| url.starts_with(s))
        {
            return bad(
                "catalog.url",
                "must start with sqlite://, postgres:// or mysql://",
            );
        }
        if self.catalog.max_connections == 0 {
            return bad("catalog.max_connections", "must be at least 1");
        }
        if self.catalog.acquire_timeout_s == 0 {
            return bad("catalog.acquire_timeout_s", "must be at least 1");
        }
        if self.worker.concurrency == 0 || self.worker.concurrency > 64 {
            return bad("worker.concurrency", "must be between 1 and 64");
        }
        if self.worker.lease_s < 2 {
            return bad("worker.lease_s", "must be at least 2 seconds");
        }
        if self.worker.max_attempts < 1 {
            return bad("worker.max_attempts", "must be at least 1");
        }
        if self.ingest.max_bytes == 0 {
            return bad("ingest.max_bytes", "must be positive");
        }
        // Waits become deadlines (`Instant + Duration` panics past the end of
        // time, in sqlx's pool among others) and leases SQL integers, so an
        // absurd value must stop here rather than in a request.
        let waits = [
            ("catalog.acquire_timeout_s", self.catalog.acquire_timeout_s),
            ("ingest.connect_timeout_s", self.ingest.connect_timeout_s),
            ("ingest.read_timeout_s", self.ingest.read_timeout_s),
            ("ingest.total_timeout_s", self.ingest.total_timeout_s),
            ("worker.lease_s", self.worker.lease_s),
            ("worker.poll_ms", self.worker.poll_ms / 1000),
            ("media.transcode_timeout_s", self.media.transcode_timeout_s),
        ];
        if let Some((key, _)) = waits.iter().find(|(_, s)| *s > MAX_WAIT_S) {
            return bad(key, "must be at most 30 days");
        }
        // NaN would accept every source and a negative limit refuse them all.
        let max_duration = self.media.max_duration_s;
        if !(max_duration.is_finite() && max_duration > 0.0) {
            return bad(
                "media.max_duration_s",
                "must be a positive number of seconds",
            );
        }
        if self.http.max_concurrency == 0 {
            return bad("http.max_concurrency", "must be positive");
        }
        Ok(())
    }
}

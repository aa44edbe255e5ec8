//! Node configuration: embedded defaults, then a TOML file, then `REEL_*`
//! environment variables (and `.env`), then CLI flags.
//!
//! The layers are merged as TOML values before one typed deserialisation, so a
//! key means the same thing whichever layer sets it.

mod defaults;
mod layers;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use defaults::DEFAULTS;
pub use layers::{load, parse_config_str, unknown_env, ConfigError, Overrides};

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
    /// Log filter (`info`, `debug`, `warn,reel_node=debug` …).
    /// Read from every layer (file, `.env`, `REEL_LOG`, flags) before logging
    /// starts, so start-up is logged at the chosen level too.
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
    /// The sweeper.
    pub housekeeping: HousekeepingConfig,
    /// Balancers whose edge caches are told about deleted videos.
    pub edge: EdgeConfig,
    /// Viewer experience reports from players.
    pub qoe: QoeConfig,
    /// The player on other sites: `/embed/{id}` in their frames.
    pub embed: EmbedConfig,
    /// Cross-origin reads of `/media` and `/oembed` by other sites' players.
    pub cors: CorsConfig,
    /// Webhook endpoints told when videos become ready, fail or are deleted.
    pub webhooks: WebhooksConfig,
    /// Signed playback URLs of private videos.
    pub playback: PlaybackConfig,
}

/// Signed playback URLs (`/v/{token}/{id}/…`) of private videos.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaybackConfig {
    /// HMAC keys as `id1:base64secret,id2:base64secret`: the first signs,
    /// every one listed verifies (so a key is rotated by listing a new one
    /// first and removing the old one once its tokens have expired). Best
    /// set from the environment, `REEL_PLAYBACK__KEYS`; every node and
    /// balancer needs the same list. Empty turns signed playback off:
    /// private videos then cannot be played at all.
    pub keys: String,
    /// Lifetime of the tokens the node mints (the watch page, `GET` of a
    /// private video by its owner, and `playback-token` calls that ask for
    /// none), seconds.
    pub token_ttl_s: u64,
    /// Longest lifetime a `playback-token` call may ask for, seconds.
    pub max_token_ttl_s: u64,
}

impl std::fmt::Debug for PlaybackConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key ids only: the secrets never reach a log.
        let ids = reel_playback::Keys::parse(&self.keys)
            .map(|k| format!("{k:?}"))
            .unwrap_or_else(|_| "<invalid>".into());
        f.debug_struct("PlaybackConfig")
            .field("keys", &ids)
            .field("token_ttl_s", &self.token_ttl_s)
            .field("max_token_ttl_s", &self.max_token_ttl_s)
            .finish()
    }
}

impl PlaybackConfig {
    /// The parsed keys (validated at load, so a failure here is empty).
    pub fn keys(&self) -> reel_playback::Keys {
        reel_playback::Keys::parse(&self.keys).unwrap_or_default()
    }
}

/// `/embed/{id}`, the player alone for other sites' `<iframe>`s.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedConfig {
    /// CSP `frame-ancestors` sources of the embed page: the sites that may
    /// frame it (`"*"`, `"'self'"`, `"https://blog.example"`,
    /// `"https://*.example.org"`), or `["'none'"]` to allow none. Every
    /// other page keeps `frame-ancestors 'none'`.
    pub frame_ancestors: Vec<String>,
}

impl EmbedConfig {
    /// The sources as one CSP directive value.
    pub fn frame_ancestors_value(&self) -> String {
        self.frame_ancestors.join(" ")
    }
}

/// Cross-origin resource sharing for players on other sites.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// `Access-Control-Allow-Origin` of `/media` and `/oembed`: `"*"` (any
    /// site), one origin (`"https://blog.example"`), or `""` to send no
    /// CORS headers. One value, not a list: the answer is then the same for
    /// every requester, so the balancer's edge cache (which keys on the path
    /// alone) can keep one copy of each file without `Vary: Origin`.
    pub allow_origin: String,
    /// Seconds a browser may keep a preflight's answer
    /// (`Access-Control-Max-Age`).
    pub preflight_max_age_s: u64,
}

/// Webhooks: `video.ready`, `video.failed` and `video.deleted` POSTed as
/// signed JSON to each endpoint. The signing secret comes only from
/// `REEL_WEBHOOKS__SECRET`, never from a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Endpoint URLs (`https://example.com/hooks/reel`); each gets every
    /// event. Empty turns webhooks off.
    pub urls: Vec<String>,
    /// Seconds allowed to open a connection to an endpoint.
    pub connect_timeout_s: u64,
    /// Seconds allowed for a whole attempt, answer included.
    pub timeout_s: u64,
    /// Attempts before a delivery is marked failed.
    pub max_attempts: i64,
    /// Seconds before the first retry; each further retry waits twice as
    /// long.
    pub retry_backoff_s: u64,
    /// Longest wait between two attempts, seconds.
    pub retry_backoff_max_s: u64,
    /// Milliseconds between looks for due deliveries when idle.
    pub poll_ms: u64,
    /// Days a delivery stays listed after its last change; older ones are
    /// removed whatever their state (a pending one that old has nowhere
    /// to go: its sender has been off all that time).
    pub keep_days: u64,
    /// Whether endpoints may be on loopback, private or link-local
    /// networks. Separate from `ingest.allow_private_networks`: letting
    /// uploaders import from the LAN must not also let events be sent there.
    pub allow_private_networks: bool,
}

/// Viewer experience (QoE) reports: CMCD event reports players send to
/// `POST /api/qoe`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QoeConfig {
    /// Whether the player reports and the node takes reports.
    pub enabled: bool,
    /// Report requests taken per client address per minute; beyond it 429.
    pub reports_per_ip_per_min: u32,
    /// New viewer sessions one client address may open per minute (a
    /// viewer opens one per page view and one per player restart).
    pub sessions_per_ip_per_min: u32,
    /// Days a session is kept after its last report.
    pub keep_days: u64,
}

/// The balancers' edge caches, from the node's side.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeConfig {
    /// Admin base URLs of the balancers (`http://127.0.0.1:9091`); each gets
    /// `POST /purge/{id}` when a video is deleted. The token comes only
    /// from `REEL_EDGE__PURGE_TOKEN`.
    pub purge_urls: Vec<String>,
}

/// The sweeper that clears what crashed or abandoned work left behind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HousekeepingConfig {
    /// Seconds between sweeps (one also runs at start).
    pub interval_s: u64,
    /// Seconds after which the store's work files (staging, trash) count as
    /// abandoned by a dead process.
    pub abandoned_after_s: u64,
    /// Seconds after which an entry in this node's scratch counts as
    /// abandoned; longer than any job can run.
    pub scratch_max_age_s: u64,
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
    /// Seconds a resumable upload lives after its creation or last PATCH;
    /// the sweeper then removes its bytes and its video.
    pub upload_expire_s: u64,
    /// Seconds a PATCH's lock on a resumable upload lasts without renewal:
    /// how long an upload stays locked (423) after the node taking it died.
    pub upload_lock_s: u64,
    /// Seconds a resumable upload may live from its creation, however
    /// often it is written to.
    pub upload_max_life_s: u64,
    /// Unfinished resumable uploads one user may have open at once.
    pub max_open_uploads: u32,
    /// Most PATCH bodies (stored chunks) one resumable upload may take.
    pub max_upload_chunks: u32,
    /// Lowest average rate, in bytes per second, a PATCH body must keep
    /// once `read_timeout_s` has passed; 0 for none.
    pub upload_min_rate: u64,
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
    /// Seconds before the first retry after a transient failure; each
    /// further retry waits twice as long.
    pub retry_backoff_s: u64,
    /// Longest wait between two attempts, seconds.
    pub retry_backoff_max_s: u64,
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
    /// Wall-clock limit of one transcode, as a multiple of the source's
    /// duration (plus the margin below).
    pub transcode_timeout_factor: f64,
    /// Seconds added to the scaled transcode limit, for start-up and short
    /// sources.
    pub transcode_timeout_margin_s: u64,
    /// Longest source accepted, seconds.
    pub max_duration_s: f64,
    /// Largest frame accepted, width × height in pixels.
    pub max_pixels: u64,
    /// Highest source frame rate accepted, frames per second.
    pub max_fps: f64,
    /// Most streams (video, audio, subtitles, data…) a source may hold.
    pub max_streams: u32,
}

/// HTTP server limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Page, API and login requests inside handlers at once before the node
    /// sheds with 503 (bodies are read before a request counts).
    pub max_concurrency: usize,
    /// `/media` and `/static` requests in flight at once; a pool of its own
    /// so no other traffic can starve playback.
    pub max_media_concurrency: usize,
    /// Open client connections; beyond it new ones are closed at once.
    pub max_connections: usize,
    /// Open connections from one client address (trusted proxies exempt).
    pub max_connections_per_client: usize,
    /// Seconds a client has to send a request's headers (also how long an
    /// idle keep-alive connection stays open).
    pub header_read_timeout_s: u64,
    /// Seconds a client has to send a whole small body (login, forms, JSON).
    pub body_timeout_s: u64,
    /// MiB of small bodies being read at once over all requests; beyond it
    /// new ones get 503 at once.
    pub body_budget_mib: usize,
    /// Peers whose `X-Forwarded-For` / `X-Forwarded-Proto` are believed
    /// (the balancer); addresses or CIDR networks.
    pub trusted_proxies: Vec<String>,
    /// Sign-in attempts per client address per minute.
    pub login_per_ip_per_min: u32,
    /// Sign-in attempts per user name per minute.
    pub login_per_user_per_min: u32,
    /// Threads that check passwords (argon2 is deliberately slow).
    pub password_threads: usize,
    /// Password checks that may wait for a thread before sign-in answers 503.
    pub password_queue: usize,
    /// Seconds a stopping node keeps serving with `/readyz` at 503, so the
    /// balancer's health check notices before the listener closes.
    pub shutdown_grace_s: u64,
    /// Seconds in-flight requests get to finish after the listener closes.
    pub shutdown_deadline_s: u64,
    /// Log successful `/media` and `/static` responses at INFO like every
    /// other; off, they go to DEBUG (the balancer's access log has them).
    pub log_media: bool,
    /// Milliseconds a node keeps the catalog listings it rendered for
    /// visitors who are not signed in (the catalog page, `GET /api/videos`);
    /// 0 renders every one.
    pub listing_cache_ms: u64,
    /// Milliseconds a node keeps a video's visibility, which `/media` reads
    /// on every request; 0 asks the catalog every time. Other nodes refuse
    /// the plain URLs of a video made private at most this long after.
    pub visibility_cache_ms: u64,
}

impl HttpConfig {
    /// The trusted proxy networks, parsed (validated at load).
    pub fn trusted_networks(&self) -> Vec<ipnet::IpNet> {
        self.trusted_proxies
            .iter()
            .filter_map(|s| parse_net(s))
            .collect()
    }
}

/// An address (`10.0.0.1`) or network (`10.0.0.0/8`).
fn parse_net(s: &str) -> Option<ipnet::IpNet> {
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// Default of the `log` key.
pub const DEFAULT_LOG: &str = "info";

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
}

#[cfg(test)]
mod tests;

//! The built-in defaults: every key of the node's configuration with its
//! default value, the first layer under the file, `.env`, the environment
//! and flags.

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
upload_expire_s = 86400
upload_lock_s = 30
upload_max_life_s = 604800
max_open_uploads = 10
max_upload_chunks = 10000
upload_min_rate = 16384

[worker]
enabled = true
concurrency = 1
lease_s = 30
poll_ms = 1000
max_attempts = 3
retry_backoff_s = 30
retry_backoff_max_s = 900

[media]
ffmpeg = "ffmpeg"
ffprobe = "ffprobe"
preset = "veryfast"
transcode_timeout_factor = 3.0
transcode_timeout_margin_s = 300
max_duration_s = 14400.0
max_pixels = 35389440
max_fps = 240.0
max_streams = 32

[http]
max_concurrency = 512
max_media_concurrency = 1024
max_connections = 4096
max_connections_per_client = 256
header_read_timeout_s = 15
body_timeout_s = 10
body_budget_mib = 64
trusted_proxies = ["127.0.0.1", "::1"]
login_per_ip_per_min = 30
login_per_user_per_min = 10
password_threads = 2
password_queue = 32
shutdown_grace_s = 5
shutdown_deadline_s = 30
log_media = false
listing_cache_ms = 1000
visibility_cache_ms = 1000

[housekeeping]
interval_s = 600
abandoned_after_s = 3600
scratch_max_age_s = 172800

[edge]
purge_urls = []

[qoe]
enabled = true
reports_per_ip_per_min = 600
sessions_per_ip_per_min = 30
keep_days = 30

[embed]
frame_ancestors = ["*"]

[cors]
allow_origin = "*"
preflight_max_age_s = 600
[webhooks]
urls = []
connect_timeout_s = 5
timeout_s = 10
max_attempts = 8
retry_backoff_s = 10
retry_backoff_max_s = 3600
poll_ms = 1000
keep_days = 30
allow_private_networks = false

[playback]
keys = ""
token_ttl_s = 3600
max_token_ttl_s = 86400
"#;

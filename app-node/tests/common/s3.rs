//! A real S3-compatible server for tests: `scripts/s3-server.sh` (s3s-fs)
//! as a child process on a free loopback port, killed on drop.
//!
//! The server checks SigV4 signatures against one fixed key pair, which the
//! node reads from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`:
//! [`set_test_credentials`] puts the same dummy pair into this process's
//! environment once.

use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use object_store::aws::{AwsAuthorizer, AwsCredential};
use reel_node::config::Config;

/// Dummy key pair: the test server accepts exactly this one.
pub const ACCESS_KEY: &str = "reel-test-access-key";
/// Secret of [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "reel-test-secret-key";
/// Region the store signs for (the server does not care which).
pub const REGION: &str = "us-east-1";

/// How long a started server may take to answer HTTP.
const READY_LIMIT: Duration = Duration::from_secs(20);

/// Sets the dummy credentials for the whole test process, once. Environment
/// variables are process-global: every S3 test calls this before it builds
/// a store, and all of them set the same values, so the one write happens
/// before any reader and never changes afterwards.
pub fn set_test_credentials() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
        std::env::remove_var("AWS_SESSION_TOKEN");
    });
}

/// The server script of this repository.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/s3-server.sh")
}

/// The server binary, installed by the script the first time (once per
/// test process; parallel tests wait for the one install).
fn server_binary() -> PathBuf {
    static INSTALL: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut done = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = done.as_ref() {
        return p.clone();
    }
    let st = Command::new(script())
        .arg("install")
        .status()
        .expect("scripts/s3-server.sh runs");
    assert!(st.success(), "scripts/s3-server.sh install failed");
    let out = Command::new(script())
        .arg("path")
        .output()
        .expect("scripts/s3-server.sh runs");
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(p.is_file(), "no S3 server binary at {}", p.display());
    *done = Some(p.clone());
    p
}

/// A running S3-compatible server on `127.0.0.1`, killed on drop.
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Its data folder (and log file).
    dir: tempfile::TempDir,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl S3Server {
    /// Starts a server and waits until it answers HTTP; panics with the
    /// end of its log if it does not within [`READY_LIMIT`].
    pub async fn start() -> S3Server {
        set_test_credentials();
        let bin = server_binary();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let log_path = dir.path().join("server.log");
        let log = std::fs::File::create(&log_path).unwrap();
        // A port the kernel just handed out and we released; another process
        // could grab it in between, which then shows as the server exiting.
        let port = free_port();
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("the S3 server starts");
        let mut server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            dir,
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&mut self) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let deadline = Instant::now() + READY_LIMIT;
        loop {
            // Any HTTP answer (an anonymous GET / is refused) means ready.
            if client.get(&self.endpoint).send().await.is_ok() {
                return;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!(
                    "the S3 server exited ({st}) before answering; its log ends:\n{}",
                    self.log_tail()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "the S3 server did not answer on {} within {READY_LIMIT:?}; its log ends:\n{}",
                    self.endpoint,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last 4 KiB of the server's log.
    pub fn log_tail(&self) -> String {
        let mut f = match std::fs::File::open(self.dir.path().join("server.log")) {
            Ok(f) => f,
            Err(e) => return format!("(no log: {e})"),
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(4096)));
        let mut s = String::new();
        let _ = f.read_to_string(&mut s);
        s
    }

    /// Creates a new empty bucket with a signed `PUT /BUCKET` and returns
    /// its name (unique within this process).
    pub async fn bucket(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "reel-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let url = format!("{}/{name}", self.endpoint);
        let cred = AwsCredential {
            key_id: ACCESS_KEY.into(),
            secret_key: SECRET_KEY.into(),
            token: None,
        };
        let mut req =
            object_store::client::HttpRequest::new(object_store::client::HttpRequestBody::empty());
        *req.method_mut() = reqwest::Method::PUT;
        *req.uri_mut() = url.parse().unwrap();
        AwsAuthorizer::new(&cred, "s3", REGION).authorize(&mut req, None);
        let resp = reqwest::Client::new()
            .put(&url)
            .headers(req.headers().clone())
            .send()
            .await
            .expect("create bucket");
        assert!(
            resp.status().is_success(),
            "create bucket {name}: {}",
            resp.status()
        );
        name
    }

    /// Config pairs for a node storing into `bucket` on this server.
    pub fn config_pairs(&self, bucket: &str) -> Vec<(String, String)> {
        s3_pairs(&self.endpoint, bucket)
    }

    /// A test config (see `common::test_config`) storing into `bucket`.
    pub fn config(&self, data_dir: &Path, bucket: &str) -> Config {
        let pairs = self.config_pairs(bucket);
        let extra: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        super::test_config(data_dir, &extra)
    }
}

/// Config pairs for `storage.kind = "s3"` against `endpoint` (plain http,
/// path-style as for any custom endpoint).
pub fn s3_pairs(endpoint: &str, bucket: &str) -> Vec<(String, String)> {
    [
        ("storage.kind", "s3"),
        ("storage.s3.endpoint", endpoint),
        ("storage.s3.bucket", bucket),
        ("storage.s3.region", REGION),
        ("storage.s3.allow_http", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

//! Shared fixtures: real `reel-test-backend` processes, a real
//! `reel-balancer` process configured for them, and small checkers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub const BALANCER: &str = env!("CARGO_BIN_EXE_reel-balancer");
pub const BACKEND: &str = env!("CARGO_BIN_EXE_reel-test-backend");

/// A TCP connection to `to` from the loopback address `ip` (127.0.0.2…
/// stand in for other clients), within 5 s.
pub async fn connect_from(ip: &str, to: SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(ip.parse().unwrap(), 0))
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), socket.connect(to))
        .await
        .expect("connect timed out")
        .unwrap()
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "reel-balancer-test-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A `reel-test-backend` child process.
pub struct Backend {
    pub name: String,
    pub addr: SocketAddr,
    child: Option<Child>,
}

fn spawn_backend(name: &str, listen: &str, extra: &[&str]) -> (Child, SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut child = Command::new(BACKEND)
            .args(["--name", name, "--listen", listen])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn reel-test-backend");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        if let Some(addr) = line.trim().strip_prefix("LISTENING ") {
            return (child, addr.parse().unwrap());
        }
        // Bind failed (port still held by the killed process): retry.
        let _ = child.wait();
        assert!(
            Instant::now() < deadline,
            "backend {name} could not bind {listen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Backend {
    pub fn start(name: &str) -> Backend {
        Backend::start_with(name, &[])
    }

    /// Starts with extra `reel-test-backend` flags.
    pub fn start_with(name: &str, extra: &[&str]) -> Backend {
        let (child, addr) = spawn_backend(name, "127.0.0.1:0", extra);
        Backend {
            name: name.into(),
            addr,
            child: Some(child),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGKILL, like a crashed node.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts again on the same address.
    pub fn restart(&mut self) {
        self.kill();
        let (child, _) = spawn_backend(&self.name, &self.addr.to_string(), &[]);
        self.child = Some(child);
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Settings the tests vary; rendered to TOML.
#[derive(Clone)]
pub struct Setup {
    pub backends: Vec<(SocketAddr, u32)>,
    pub selection: &'static str,
    pub interval_ms: u64,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub per_backend: usize,
    pub total: usize,
    pub read_timeout_ms: u64,
    /// Slow-start ramp of recovered and added nodes (0 = none, so shares
    /// are exact in tests that count them).
    pub slow_start_s: u64,
    /// Extra TOML tables (e.g. `[tls]`) appended after the generated ones.
    pub tables: String,
    /// `name` per backend, by position; missing ones use the default.
    pub backend_names: Vec<String>,
    /// Extra top-level TOML lines (before any table).
    pub extra_top: String,
}

impl Setup {
    pub fn new(backends: &[&Backend]) -> Setup {
        Setup {
            backends: backends.iter().map(|b| (b.addr, 1)).collect(),
            selection: "round_robin",
            interval_ms: 200,
            healthy_threshold: 2,
            unhealthy_threshold: 2,
            per_backend: 256,
            total: 1024,
            read_timeout_ms: 10_000,
            slow_start_s: 0,
            tables: String::new(),
            backend_names: Vec::new(),
            extra_top: String::new(),
        }
    }

    pub fn render(&self, listen: SocketAddr, admin: SocketAddr) -> String {
        let mut s = format!(
            "listen = \"{listen}\"\nadmin_listen = \"{admin}\"\nselection = \"{}\"\n\
             shutdown_grace_s = 2\n{}\n[health]\ninterval_ms = {}\ntimeout_ms = 500\n\
             healthy_threshold = {}\nunhealthy_threshold = {}\nslow_start_s = {}\n\n[proxy]\n\
             connect_timeout_ms = 500\nread_timeout_ms = {}\nretries = 1\n\
             max_in_flight_per_backend = {}\nmax_in_flight_total = {}\n",
            self.selection,
            self.extra_top,
            self.interval_ms,
            self.healthy_threshold,
            self.unhealthy_threshold,
            self.slow_start_s,
            self.read_timeout_ms,
            self.per_backend,
            self.total
        );
        for (i, (addr, weight)) in self.backends.iter().enumerate() {
            s.push_str(&format!(
                "\n[[backends]]\naddress = \"{addr}\"\nweight = {weight}\n"
            ));
            if let Some(name) = self.backend_names.get(i) {
                s.push_str(&format!("name = \"{name}\"\n"));
            }
        }
        s.push_str(&self.tables);
        s
    }
}

/// A running `reel-balancer` process.
pub struct Balancer {
    pub listen: SocketAddr,
    pub admin: SocketAddr,
    pub config_path: PathBuf,
    pub log_path: PathBuf,
    /// Private directory of the upgrade socket.
    pub run_dir: PathBuf,
    env: Vec<(String, String)>,
    /// Only the first process of a scratch dir removes it.
    owns_dir: bool,
    child: Child,
}

fn spawn_balancer(
    config_path: &std::path::Path,
    log_path: &std::path::Path,
    env: &[(String, String)],
    extra: &[&str],
) -> Child {
    let log = std::fs::File::create(log_path).unwrap();
    Command::new(BALANCER)
        .arg("--config")
        .arg(config_path)
        .args(extra)
        .env("RUST_LOG", "info")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn reel-balancer")
}

impl Balancer {
    pub fn start(name: &str, setup: &Setup) -> Balancer {
        Balancer::start_env(name, setup, &[])
    }

    /// Starts with extra `REEL_*` environment variables.
    pub fn start_env(name: &str, setup: &Setup, env: &[(&str, &str)]) -> Balancer {
        let b = Balancer::spawn_env(name, setup, env);
        b.wait_ready();
        b
    }

    /// Spawns without waiting for the ports to answer.
    pub fn spawn_env(name: &str, setup: &Setup, env_in: &[(&str, &str)]) -> Balancer {
        let dir = scratch(name);
        let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let config_path = dir.join("balancer.toml");
        std::fs::write(&config_path, setup.render(listen, admin)).unwrap();
        let log_path = dir.join("balancer.log");
        // Each test's upgrade socket in its own scratch dir, never in the
        // working directory (the default) shared by every test.
        let run_dir = dir.join("run");
        // Listed first so a test's own value wins.
        let mut env = vec![(
            "REEL_UPGRADE_SOCK".to_string(),
            run_dir.join("upgrade.sock").display().to_string(),
        )];
        env.extend(env_in.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let child = spawn_balancer(&config_path, &log_path, &env, &[]);
        Balancer {
            listen,
            admin,
            config_path,
            log_path,
            run_dir,
            env,
            owns_dir: true,
            child,
        }
    }

    /// A second process on the same config and environment with extra
    /// flags (e.g. `--upgrade`), logging to `log_name`; not waited for.
    pub fn successor(&self, log_name: &str, extra: &[&str]) -> Balancer {
        let log_path = self.config_path.with_file_name(log_name);
        let child = spawn_balancer(&self.config_path, &log_path, &self.env, extra);
        Balancer {
            listen: self.listen,
            admin: self.admin,
            config_path: self.config_path.clone(),
            log_path,
            run_dir: self.run_dir.clone(),
            env: self.env.clone(),
            owns_dir: false,
            child,
        }
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // 503 is an answer too: /healthz says unhealthy without a healthy node.
            let admin_up = matches!(http_get_status(self.admin, "/healthz"), Some(200 | 503));
            if admin_up && TcpStream::connect(self.listen).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "balancer did not start; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.listen)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn write_config(&self, setup: &Setup) {
        std::fs::write(&self.config_path, setup.render(self.listen, self.admin)).unwrap();
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Resident memory of the balancer process in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Keep config and log of a failed test for inspection.
        if self.owns_dir && !std::thread::panicking() {
            if let Some(dir) = self.config_path.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// Minimal blocking GET returning only the status, used before any async
/// client exists (readiness polling).
pub fn http_get_status(addr: SocketAddr, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).ok()?;
    std::str::from_utf8(&buf[9..12]).ok()?.parse().ok()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap()
}

/// `/backends` as JSON.
/// The balancer's `/metrics` text.
pub async fn metrics_text(c: &reqwest::Client, b: &Balancer) -> String {
    c.get(b.admin_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub async fn backends(c: &reqwest::Client, b: &Balancer) -> serde_json::Value {
    c.get(b.admin_url("/backends"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Health of one backend per `/backends`.
pub async fn is_healthy(c: &reqwest::Client, b: &Balancer, addr: SocketAddr) -> Option<bool> {
    let v = backends(c, b).await;
    v["backends"]
        .as_array()?
        .iter()
        .find(|e| e["address"] == addr.to_string())
        .and_then(|e| e["healthy"].as_bool())
}

/// Byte `i` of a `/large` body (mirrors the test backend).
pub fn pattern(i: u64) -> u8 {
    ((i.wrapping_mul(31)).wrapping_add(i >> 12) % 251) as u8
}

/// SHA-256 of the first `n` pattern bytes.
pub fn pattern_sha256(n: u64) -> Vec<u8> {
    let mut h = Sha256::new();
    let mut buf = Vec::with_capacity(65536);
    let mut i = 0;
    while i < n {
        buf.clear();
        let end = (i + 65536).min(n);
        buf.extend((i..end).map(pattern));
        h.update(&buf);
        i = end;
    }
    h.finalize().to_vec()
}

/// One Prometheus sample: name, labels, value.
pub type Sample = (String, Vec<(String, String)>, f64);

/// Checks Prometheus text exposition format line by line and returns the
/// samples as (name, labels, value).
pub fn parse_prometheus(text: &str) -> Vec<Sample> {
    fn is_name(s: &str) -> bool {
        let mut chars = s.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap();
            let name = parts.next().unwrap_or("");
            assert!(matches!(kind, "HELP" | "TYPE"), "bad comment line: {line}");
            assert!(is_name(name), "bad metric name in: {line}");
            if kind == "TYPE" {
                let t = parts.next().unwrap_or("");
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                    "bad type in: {line}"
                );
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), vec![]),
            Some((name, rest)) => {
                let inner = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels: {line}"));
                let mut labels = vec![];
                for pair in inner.split("\",").filter(|p| !p.is_empty()) {
                    let (k, v) = pair
                        .split_once("=\"")
                        .unwrap_or_else(|| panic!("bad label in: {line}"));
                    assert!(is_name(k), "bad label name in: {line}");
                    labels.push((k.to_string(), v.trim_end_matches('"').to_string()));
                }
                (name.to_string(), labels)
            }
        };
        assert!(is_name(&name), "bad series name: {line}");
        out.push((name, labels, value));
    }
    out
}

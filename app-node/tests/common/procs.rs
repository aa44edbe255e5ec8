//! Real `reel-node` processes for integration tests.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The node binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_reel-node");

/// A running `reel-node serve`, killed (SIGKILL) on drop.
pub struct Node {
    /// The process.
    pub child: Child,
    /// `http://ADDR` it listens on.
    pub base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn node_cmd(data: &Path, name: &str) -> Command {
    let mut c = Command::new(BIN);
    c.env("REEL_DATA_DIR", data)
        .env("REEL_LISTEN", "127.0.0.1:0")
        .env("REEL_NODE_NAME", name)
        .env("REEL_INGEST__ALLOW_PRIVATE_NETWORKS", "true")
        .env("REEL_WORKER__LEASE_S", "3")
        .env("REEL_WORKER__POLL_MS", "200")
        .env("REEL_HTTP__SHUTDOWN_GRACE_S", "0")
        .env("REEL_LOG", "warn");
    c
}

pub fn start(data: &Path, name: &str, args: &[&str]) -> Node {
    start_with(data, name, &[], args)
}

/// [`start`] with extra environment variables (another catalog or store).
pub fn start_with(data: &Path, name: &str, env: &[(&str, &str)], args: &[&str]) -> Node {
    let mut cmd = node_cmd(data, name);
    cmd.envs(env.iter().copied());
    spawn_serve(cmd, args)
}

/// Runs `cmd serve ARGS` and waits for the line naming its address.
pub fn spawn_serve(mut cmd: Command, args: &[&str]) -> Node {
    let mut child = cmd
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("reel-node starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    Node { child, base }
}

pub fn cli(data: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    cli_with(data, &[], args, stdin)
}

/// [`cli`] with extra environment variables (another catalog or store).
pub fn cli_with(
    data: &Path,
    env: &[(&str, &str)],
    args: &[&str],
    stdin: &str,
) -> (i32, String, String) {
    let mut child = node_cmd(data, "cli")
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Makes a `w`×`h` clip of `secs` seconds (with a tone when `audio`) in
/// `data` and imports it with the CLI; returns the new video's id.
pub fn import_clip(data: &Path, w: u32, h: u32, secs: u32, audio: bool, title: &str) -> String {
    import_clip_owned(data, w, h, secs, audio, title, None)
}

/// [`import_clip`] owned by user `owner` (who may then change it through
/// the API); without, the video has no owner.
pub fn import_clip_owned(
    data: &Path,
    w: u32,
    h: u32,
    secs: u32,
    audio: bool,
    title: &str,
    owner: Option<&str>,
) -> String {
    let clip = data.join("in.mp4");
    super::make_clip(&clip, w, h, secs, audio, &[]);
    let mut args = vec!["import", clip.to_str().unwrap(), "--title", title];
    if let Some(o) = owner {
        args.extend(["--owner", o]);
    }
    let (code, out, err) = cli(data, &args, "");
    assert_eq!(code, 0, "{err}");
    out.trim().to_string()
}

pub fn token(data: &Path) -> String {
    token_with(data, &[])
}

/// [`token`] with extra environment variables.
pub fn token_with(data: &Path, env: &[(&str, &str)]) -> String {
    let (code, _, err) = cli_with(data, env, &["user", "add", "tester"], "tester-password\n");
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = cli_with(data, env, &["token", "create", "tester"], "");
    assert_eq!(code, 0, "{err}");
    let t = out.trim().to_string();
    assert!(
        t.starts_with("reel_") && !t.contains('\n'),
        "token output: {out:?}"
    );
    t
}

pub async fn video(http: &reqwest::Client, base: &str, id: &str) -> serde_json::Value {
    http.get(format!("{base}/api/videos/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub async fn create(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    title: &str,
    url: &str,
) -> String {
    let r = http
        .post(format!("{base}/api/videos"))
        .bearer_auth(token)
        .json(&serde_json::json!({"title": title, "source_url": url}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

pub fn sigterm(node: &mut Node) -> i32 {
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(node.child.id() as i32, libc::SIGTERM) };
    node.child.wait().unwrap().code().unwrap_or(-1)
}

/// A running `reel-balancer` in front of the given nodes, killed on drop.
pub struct Balancer {
    child: Child,
    /// `http://ADDR` viewers use.
    pub base: String,
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Balancer {
    /// Starts the workspace's balancer (health checks every 300 ms) and
    /// waits until it is ready.
    pub fn start(nodes: &[&str]) -> Balancer {
        Balancer::start_with(nodes, &[]).0
    }
}

/// Status of a plain HTTP/1.0 GET on loopback, without an async runtime.
fn ureq_like_get(port: u16, path: &str) -> Option<u16> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// A running node whose access log is kept, so a test can count the
/// requests that reached it for one exact path (its metrics count by route
/// template only, which lumps every media file together).
pub struct LoggedNode {
    /// The node; killed on drop like any other.
    pub node: Node,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// [`start_with`], with the node's access log (every response, media
/// included) read into memory.
pub fn start_logged(data: &Path, name: &str, env: &[(&str, &str)]) -> LoggedNode {
    let mut cmd = node_cmd(data, name);
    cmd.envs(env.iter().copied())
        // Media responses too, which are logged at DEBUG by default.
        .env("REEL_HTTP__LOG_MEDIA", "true")
        .env("REEL_LOG", "warn,reel_node::http=info")
        .stderr(Stdio::piped());
    let mut node = spawn_serve(cmd, &[]);
    let stderr = node.child.stderr.take().expect("stderr piped");
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    LoggedNode { node, log }
}

impl LoggedNode {
    /// `http://ADDR` it listens on.
    pub fn base(&self) -> &str {
        &self.node.base
    }

    /// Responses the node has logged for exactly `path` (no query).
    pub fn requests_for(&self, path: &str) -> usize {
        let needle = format!(" path={path} ");
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(&needle) && l.contains("finished processing request"))
            .count()
    }

    /// Every response the node has logged.
    pub fn requests(&self) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("finished processing request"))
            .count()
    }
}

impl Balancer {
    /// [`Balancer::start`] with extra `REEL_*` settings (for example
    /// `REEL_CACHE__ENABLED`, `REEL_SELECTION`); also returns the admin
    /// port's `http://ADDR`, which serves `/metrics` and `/backends`.
    pub fn start_with(nodes: &[&str], env: &[(&str, &str)]) -> (Balancer, String) {
        Balancer::start_on(nodes, env, free_port())
    }

    /// [`Balancer::start_with`] with the admin port chosen by the caller
    /// (reserved beforehand, so a node can be told its URL at start).
    pub fn start_on(nodes: &[&str], env: &[(&str, &str)], admin: u16) -> (Balancer, String) {
        let bin = std::path::PathBuf::from(BIN).with_file_name("reel-balancer");
        assert!(
            bin.exists(),
            "{} missing: build the workspace",
            bin.display()
        );
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--admin-listen", &format!("127.0.0.1:{admin}")]);
        for n in nodes {
            cmd.args(["--backend", n.trim_start_matches("http://")]);
        }
        let mut child = cmd
            .env("REEL_HEALTH__INTERVAL_MS", "300")
            .env(
                "REEL_UPGRADE_SOCK",
                std::env::temp_dir().join(format!("reel-test-balancer-{port}/upgrade.sock")),
            )
            .env("REEL_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || for _ in BufReader::new(stderr).lines() {});
        let b = Balancer {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while ureq_like_get(port, "/readyz") != Some(200) {
            assert!(
                std::time::Instant::now() < deadline,
                "balancer never became ready"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        (b, format!("http://127.0.0.1:{admin}"))
    }
}

/// The value of one sample in Prometheus text, by its exact series name
/// with labels as rendered (e.g. `m_total{result="hit"}`); 0 when absent.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok()).flatten()
        })
        .unwrap_or(0.0)
}

/// Sum of every sample of a family whose labels contain all of `labels`
/// (each as `key="value"`).
pub fn metric_sum(text: &str, family: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            let base = name.split('{').next()?;
            (base == family && labels.iter().all(|x| name.contains(x)))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

/// A `reel-balancer` started with extra environment, with its admin port
/// and process id known (for `/metrics` and memory checks).
pub struct TunedBalancer {
    /// The balancer, killed on drop.
    pub balancer: Balancer,
    /// `http://ADDR` of the admin port.
    pub admin: String,
}

impl TunedBalancer {
    /// [`Balancer::start_with`], keeping the admin address with it.
    pub fn start(nodes: &[&str], env: &[(&str, &str)]) -> TunedBalancer {
        let (balancer, admin) = Balancer::start_with(nodes, env);
        TunedBalancer { balancer, admin }
    }

    /// The balancer's process id.
    pub fn pid(&self) -> u32 {
        self.balancer.child.id()
    }

    /// Whether the balancer process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.balancer.child.try_wait(), Ok(None))
    }
}

/// Resident memory of a process in KiB (`VmRSS` in `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

//! The admin port: header timeouts, the token on `POST /reload`, and
//! `/healthz` turning 503 without a healthy node or while draining.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const TOKEN: &str = "admin-test-token-0123456789";

/// Reads until the server closes the connection; the time it took, or
/// `None` if it was still open when the socket's read timeout hit.
fn wait_closed(s: &mut TcpStream) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(start.elapsed())
            }
            Err(_) => return None,
        }
    }
}

fn open(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

#[test]
fn header_timeout_cuts_silent_and_trickling_clients() {
    let a = Backend::start("a");
    let bal = Balancer::start_env(
        "admin-timeout",
        &Setup::new(&[&a]),
        &[("REEL_ADMIN__HEADER_TIMEOUT_MS", "500")],
    );

    // Half a request line, then silence.
    let mut half = open(bal.admin);
    half.write_all(b"GET /heal").unwrap();
    // A byte every 100 ms: each read succeeds, the head never completes.
    let mut slow = open(bal.admin);
    let mut writer = slow.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        let head = format!(
            "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: {}",
            "a".repeat(80)
        );
        for b in head.bytes() {
            if writer.write_all(&[b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });

    let cut = wait_closed(&mut half).expect("silent client was never cut off");
    assert!(
        cut < Duration::from_secs(5),
        "silent client cut after {cut:?}"
    );
    let cut = wait_closed(&mut slow).expect("trickling client was never cut off");
    assert!(
        cut < Duration::from_secs(5),
        "trickling client cut after {cut:?}"
    );
    trickle.join().unwrap();

    // A client that sends its head in time is still served.
    assert_eq!(http_get_status(bal.admin, "/healthz"), Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_over_http_needs_the_token() {
    let a = Backend::start("a");
    let c = client();

    // No token configured: closed, pointing at SIGHUP.
    let open_bal = Balancer::start("admin-no-token", &Setup::new(&[&a]));
    let r = c
        .post(open_bal.admin_url("/reload"))
        .bearer_auth("anything-at-all-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "reload_signal_only");
    assert!(v["error"]["message"].as_str().unwrap().contains("SIGHUP"));
    let r = c.get(open_bal.admin_url("/reload")).send().await.unwrap();
    assert_eq!(r.status(), 405);

    // Token configured: nothing, a wrong one, then the right one.
    let bal = Balancer::start_env(
        "admin-token",
        &Setup::new(&[&a]),
        &[("REEL_ADMIN__TOKEN", TOKEN)],
    );
    let r = c.post(bal.admin_url("/reload")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "unauthorized");
    let wrong = format!("{TOKEN}x");
    for bad in [wrong.as_str(), &TOKEN[..TOKEN.len() - 1], "x"] {
        let r = c
            .post(bal.admin_url("/reload"))
            .bearer_auth(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "token {bad:?}");
    }
    let r = c
        .post(bal.admin_url("/reload"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["status"], "reloaded");
    assert!(!bal.log().contains(TOKEN), "token leaked into the log");
}

#[test]
fn token_in_the_file_is_refused() {
    let dir = scratch("admin-file-token");
    let file = dir.join("balancer.toml");
    std::fs::write(&file, format!("[admin]\ntoken = \"{TOKEN}\"\n")).unwrap();
    let out = Command::new(BALANCER)
        .args(["check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("admin.token") && err.contains("REEL_ADMIN__TOKEN"),
        "{err}"
    );
    // The same token from the environment is fine.
    let ok = dir.join("ok.toml");
    std::fs::write(&ok, "[admin]\nheader_timeout_ms = 2000\n").unwrap();
    let out = Command::new(BALANCER)
        .args(["check", "--config"])
        .arg(&ok)
        .env("REEL_ADMIN__TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn upgrade_socket_directory_must_be_private() {
    use std::os::unix::fs::PermissionsExt;
    let a = Backend::start("a");
    let open_dir = scratch("admin-open-run").join("run");
    std::fs::create_dir_all(&open_dir).unwrap();
    std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let sock = open_dir.join("upgrade.sock").display().to_string();
    let mut bal = Balancer::spawn_env(
        "admin-open-run",
        &Setup::new(&[&a]),
        &[("REEL_UPGRADE_SOCK", sock.as_str())],
    );
    let status = bal
        .wait_exit(Duration::from_secs(10))
        .expect("balancer started with a world-writable upgrade socket directory");
    assert!(!status.success());
    assert!(
        bal.log().contains("writable by group or others"),
        "{}",
        bal.log()
    );
    std::fs::remove_dir_all(open_dir.parent().unwrap()).unwrap();
}

async fn healthz(c: &reqwest::Client, bal: &Balancer) -> (u16, serde_json::Value) {
    let r = c.get(bal.admin_url("/healthz")).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn wait_healthz(c: &reqwest::Client, bal: &Balancer, want: u16) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, v) = healthz(c, bal).await;
        if status == want {
            return v;
        }
        assert!(Instant::now() < deadline, "/healthz stayed {status}: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_unhealthy_without_nodes_and_while_draining() {
    let mut a = Backend::start("a");
    let mut bal = Balancer::start("admin-healthz", &Setup::new(&[&a]));
    let c = client();

    let (status, v) = healthz(&c, &bal).await;
    assert_eq!((status, v["status"].as_str()), (200, Some("ok")), "{v}");
    assert_eq!(v["pid"], bal.pid());

    a.kill();
    let v = wait_healthz(&c, &bal, 503).await;
    assert_eq!(v["status"], "unhealthy");
    assert_eq!(v["reason"], "no_healthy_backend");
    assert_eq!(v["healthy_backends"], 0);
    a.restart();
    wait_healthz(&c, &bal, 200).await;

    // A request in flight keeps the process draining after SIGTERM, and
    // the admin port keeps answering meanwhile.
    let slow = tokio::spawn(c.get(bal.url("/slow?ms=1500")).send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    bal.signal(libc::SIGTERM);
    // Fresh connections: the admin port itself must still accept.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let v = wait_healthz(&fresh, &bal, 503).await;
    assert_eq!(v["reason"], "draining", "{v}");
    assert_eq!(v["draining"], true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, v) = healthz(&fresh, &bal).await;
    assert_eq!((status, v["reason"].as_str()), (503, Some("draining")));
    let done = slow.await.unwrap().unwrap();
    assert_eq!(done.status(), 200);
    let status = tokio::task::spawn_blocking(move || {
        let s = bal.wait_exit(Duration::from_secs(10));
        (s, bal)
    })
    .await
    .unwrap();
    assert!(status.0.expect("balancer did not exit").success());
}

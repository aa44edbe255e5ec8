//! Zero-downtime binary upgrade: a successor started with `--upgrade`
//! takes the listening sockets over on SIGQUIT while clients keep opening
//! fresh connections, and not one of them is refused or broken.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;

const CLIENTS: usize = 4;

/// One GET on a fresh connection; the failure as text.
fn fetch(addr: SocketAddr, path: &str) -> Result<(), String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("write: {e}"))?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)
        .map_err(|e| format!("read: {e}"))?;
    if answer.starts_with(b"HTTP/1.1 200 ") {
        Ok(())
    } else {
        let head = String::from_utf8_lossy(&answer[..answer.len().min(40)]).into_owned();
        Err(format!("answer: {head:?}"))
    }
}

/// Clients requesting in a loop until `stop`; each returns its successes
/// and failures.
fn load(addr: SocketAddr, stop: &Arc<AtomicBool>) -> Vec<JoinHandle<(usize, Vec<String>)>> {
    (0..CLIENTS)
        .map(|c| {
            let stop = Arc::clone(stop);
            std::thread::spawn(move || {
                let (mut ok, mut errors) = (0, Vec::new());
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    match fetch(addr, &format!("/p/{c}/{i}")) {
                        Ok(()) => ok += 1,
                        Err(e) => errors.push(e),
                    }
                    i += 1;
                    // Bounds the load: a few hundred requests per second.
                    std::thread::sleep(Duration::from_millis(5));
                }
                (ok, errors)
            })
        })
        .collect()
}

fn requests_total(metrics: &str) -> f64 {
    parse_prometheus(metrics)
        .iter()
        .filter(|(n, _, _)| n == "reel_balancer_requests_total")
        .map(|(_, _, v)| v)
        .sum()
}

fn admin_get(bal: &Balancer, path: &str) -> String {
    let mut s = TcpStream::connect(bal.admin).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n").unwrap().1.to_string()
}

#[test]
fn upgrade_under_load_refuses_nothing() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let mut old = Balancer::start("upgrade", &Setup::new(&[&a, &b]));
    let old_pid = old.pid();

    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(old.listen, &stop);
    std::thread::sleep(Duration::from_millis(500));

    let mut new = old.successor("successor.log", &["--upgrade"]);
    let sock = old.run_dir.join("upgrade.sock");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sock.exists() {
        assert!(
            Instant::now() < deadline,
            "successor never bound {}; log:\n{}",
            sock.display(),
            new.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    old.signal(libc::SIGQUIT);

    // pingora keeps both processes accepting for 5 s, then the old one
    // stops, drains and exits.
    let exited = old.wait_exit(Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let (mut ok, mut errors) = (0, Vec::new());
    for c in clients {
        let (o, e) = c.join().unwrap();
        ok += o;
        errors.extend(e);
    }

    let status = exited.unwrap_or_else(|| panic!("old balancer did not exit; log:\n{}", old.log()));
    assert!(status.success(), "old balancer: {status}");
    assert!(
        errors.is_empty(),
        "{} of {} requests failed across the hand-over, first: {:?}\nold log:\n{}\nnew log:\n{}",
        errors.len(),
        ok + errors.len(),
        &errors[..errors.len().min(5)],
        old.log(),
        new.log()
    );
    assert!(ok > 100, "too little load to prove anything: {ok}");
    assert!(new.try_wait().is_none(), "successor died:\n{}", new.log());

    // Both ports now belong to the successor, which served viewers.
    let health: serde_json::Value = serde_json::from_str(&admin_get(&new, "/healthz")).unwrap();
    assert_eq!(
        health["pid"],
        new.pid(),
        "admin port not handed over: {health}"
    );
    assert_ne!(health["pid"], old_pid);
    let served = requests_total(&admin_get(&new, "/metrics"));
    assert!(served > 0.0, "the successor served no request");
    assert!(fetch(new.listen, "/after").is_ok());
    eprintln!("hand-over under load: {ok} requests, none failed; the successor served {served}");
    assert!(old.log().contains("handed over"), "{}", old.log());
}

#[test]
fn sigquit_without_a_successor_is_ignored() {
    let a = Backend::start("a");
    let mut bal = Balancer::start("upgrade-alone", &Setup::new(&[&a]));
    bal.signal(libc::SIGQUIT);
    std::thread::sleep(Duration::from_millis(1000));
    assert!(bal.try_wait().is_none(), "balancer exited:\n{}", bal.log());
    let health: serde_json::Value = serde_json::from_str(&admin_get(&bal, "/healthz")).unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    assert!(fetch(bal.listen, "/still-here").is_ok());
    assert!(bal.log().contains("SIGQUIT ignored"), "{}", bal.log());
}

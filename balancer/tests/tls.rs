//! TLS for viewers: HTTP/2 by ALPN through the real balancer, the plain
//! port beside it, the redirect to https, certificate swaps on reload and
//! the refusal of broken certificate files.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use common::*;

/// Size of the segment-like binary body fetched over TLS.
const SEGMENT: u64 = 3 * 1024 * 1024;

/// A self-signed certificate for `localhost` and `127.0.0.1`.
struct SelfSigned {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

fn self_signed() -> SelfSigned {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let ck = rcgen::generate_simple_self_signed(names).expect("generate certificate");
    SelfSigned {
        cert_pem: ck.cert.pem(),
        key_pem: ck.signing_key.serialize_pem(),
        der: ck.cert.der().to_vec(),
    }
}

/// Certificate and key files in a scratch directory, rewritable in place.
struct Files {
    cert: PathBuf,
    key: PathBuf,
}

impl Files {
    fn new(name: &str) -> Files {
        let dir = scratch(name);
        Files {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }

    fn write(&self, c: &SelfSigned) {
        std::fs::write(&self.cert, &c.cert_pem).unwrap();
        std::fs::write(&self.key, &c.key_pem).unwrap();
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        // Kept after a failure, like the balancer's own scratch directory.
        if !std::thread::panicking() {
            if let Some(dir) = self.cert.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

fn tls_table(files: &Files, tls: SocketAddr, redirect: bool) -> String {
    format!(
        "\n[tls]\ncert = \"{}\"\nkey = \"{}\"\nlisten = \"{tls}\"\nredirect_http = {redirect}\n",
        files.cert.display(),
        files.key.display()
    )
}

const ADMIN_TOKEN: &str = "tls-test-admin-token-0123";

/// A balancer with TLS on a fresh port, in front of one test backend.
fn start(name: &str, node: &Backend, files: &Files, redirect: bool) -> (Balancer, SocketAddr) {
    let tls: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut setup = Setup::new(&[node]);
    setup.tables = tls_table(files, tls, redirect);
    let bal = Balancer::start_env(name, &setup, &[("REEL_ADMIN__TOKEN", ADMIN_TOKEN)]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(tls).is_err() {
        assert!(
            Instant::now() < deadline,
            "TLS port never opened; log:\n{}",
            bal.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (bal, tls)
}

/// A fresh client (so a fresh connection and handshake) trusting `roots`.
fn tls_client(tls: SocketAddr, roots: &[&SelfSigned]) -> reqwest::ClientBuilder {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .tls_info(true)
        .resolve("localhost", tls)
        .timeout(Duration::from_secs(30));
    for r in roots {
        b = b.add_root_certificate(reqwest::Certificate::from_pem(r.cert_pem.as_bytes()).unwrap());
    }
    b
}

fn https(tls: SocketAddr, path: &str) -> String {
    format!("https://localhost:{}{path}", tls.port())
}

/// The leaf certificate the server presented on this response's connection.
fn peer_cert(r: &reqwest::Response) -> Vec<u8> {
    r.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("no TLS info on the response")
        .to_vec()
}

async fn forwarded_proto(c: &reqwest::Client, url: String) -> String {
    let r = c.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    v["x-forwarded-proto"]
        .as_str()
        .unwrap_or("missing")
        .to_string()
}

/// The certificate a new TLS connection sees, and that the request works.
async fn cert_of_new_connection(tls: SocketAddr, roots: &[&SelfSigned]) -> Vec<u8> {
    let c = tls_client(tls, roots).build().unwrap();
    let r = c.get(https(tls, "/p/cert")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    peer_cert(&r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_over_h2_with_tls_and_plain_port_beside_it() {
    let node = Backend::start("n1");
    let files = Files::new("tls-h2");
    let cert = self_signed();
    files.write(&cert);
    let (bal, tls) = start("tls-h2", &node, &files, false);
    let c = tls_client(tls, &[&cert]).build().unwrap();

    let r = c
        .get(https(tls, &format!("/large?bytes={SEGMENT}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.version(),
        reqwest::Version::HTTP_2,
        "ALPN did not pick h2"
    );
    assert_eq!(peer_cert(&r), cert.der);
    assert_eq!(r.headers()["x-reel-node"], "n1");
    let body = r.bytes().await.unwrap();
    assert_eq!(body.len() as u64, SEGMENT);
    assert_eq!(
        Sha256::digest(&body).to_vec(),
        pattern_sha256(SEGMENT),
        "segment corrupted over h2"
    );

    // The node learns the viewer came over TLS, on h2 and on HTTP/1.1 …
    assert_eq!(forwarded_proto(&c, https(tls, "/echo")).await, "https");
    // HTTP/2 has no Host header; the node still learns the host asked for.
    let r = c.get(https(tls, "/echo")).send().await.unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    let asked = format!("localhost:{}", tls.port());
    assert_eq!(v["x-forwarded-host"], asked.as_str(), "{v}");
    assert_eq!(v["host"], asked.as_str(), "{v}");
    // Request bodies stream over h2 as well.
    let r = c
        .post(https(tls, "/upload"))
        .body(vec![1u8; 1 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        format!("{{\"bytes\":{}}}", 1 << 20)
    );
    let h1 = tls_client(tls, &[&cert]).http1_only().build().unwrap();
    let r = h1
        .get(https(tls, "/media/v1/seg.m4s"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.version(),
        reqwest::Version::HTTP_11,
        "no http/1.1 fallback"
    );
    assert_eq!(forwarded_proto(&h1, https(tls, "/echo")).await, "https");

    // … and the plain port still serves, saying http.
    let plain = client();
    let r = plain
        .get(bal.url("/media/v1/seg.m4s"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    assert_eq!(forwarded_proto(&plain, bal.url("/echo")).await, "http");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_swaps_the_certificate_and_refuses_broken_files() {
    let node = Backend::start("n1");
    let files = Files::new("tls-reload");
    let (first, second) = (self_signed(), self_signed());
    files.write(&first);
    let (bal, tls) = start("tls-reload", &node, &files, false);
    let roots = [&first, &second];
    assert_eq!(cert_of_new_connection(tls, &roots).await, first.der);
    // A connection set up before the swap, to see it is left alone.
    let early = tls_client(tls, &roots).build().unwrap();
    let r = early.get(https(tls, "/p/early")).send().await.unwrap();
    assert_eq!(peer_cert(&r), first.der);

    // Renewal: the files are rewritten in place, then POST /reload.
    files.write(&second);
    let admin = client();
    let r = admin
        .post(bal.admin_url("/reload"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(
        cert_of_new_connection(tls, &roots).await,
        second.der,
        "new connections still get the old certificate"
    );
    let r = early
        .get(https(tls, "/p/early-again"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "open connection broken by the swap");
    assert_eq!(peer_cert(&r), first.der);

    // A broken certificate file: refused with the key named, old one serves.
    std::fs::write(
        &files.cert,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n",
    )
    .unwrap();
    let r = admin
        .post(bal.admin_url("/reload"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "config_invalid", "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("tls.cert") && msg.contains("cert.pem"),
        "{msg}"
    );
    assert_eq!(cert_of_new_connection(tls, &roots).await, second.der);

    // A key that belongs to another certificate: refused, naming tls.key.
    std::fs::write(&files.cert, &second.cert_pem).unwrap();
    std::fs::write(&files.key, &first.key_pem).unwrap();
    let r = admin
        .post(bal.admin_url("/reload"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("tls.key") && msg.contains("does not match"),
        "{msg}"
    );

    // Same through SIGHUP, with the certificate file gone altogether.
    std::fs::remove_file(&files.cert).unwrap();
    bal.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    while bal.log().matches("reload refused").count() < 3 {
        assert!(
            Instant::now() < deadline,
            "SIGHUP not handled:\n{}",
            bal.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(cert_of_new_connection(tls, &roots).await, second.der);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_port_redirects_to_https_when_asked() {
    let node = Backend::start("n1");
    let files = Files::new("tls-redirect");
    let cert = self_signed();
    files.write(&cert);
    let (bal, tls) = start("tls-redirect", &node, &files, true);
    let no_follow = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let path = "/media/abc/seg-00001.m4s?token=x&t=1";
    let r = no_follow
        .get(bal.url(path))
        .header("host", "video.example:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(
        r.headers()["location"],
        format!("https://video.example:{}{path}", tls.port()).as_str()
    );
    assert!(r.headers().get("x-reel-node").is_none(), "reached a node");
    // POST keeps its method through a 308; the body is not read.
    let r = no_follow
        .post(bal.url("/upload"))
        .body(vec![7u8; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(
        r.headers()["location"],
        format!("https://127.0.0.1:{}/upload", tls.port()).as_str()
    );
    // A Host that is not a host name gets no redirect.
    let r = no_follow
        .get(bal.url("/"))
        .header("host", "evil.example/x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());

    // A browser-like client ends up on https with h2 and the right bytes.
    let follow = tls_client(tls, &[&cert])
        .resolve("localhost", bal.listen)
        .build()
        .unwrap();
    let start = format!(
        "http://localhost:{}/large?bytes={SEGMENT}",
        bal.listen.port()
    );
    let r = follow.get(start).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.url().scheme(), "https");
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    let body = r.bytes().await.unwrap();
    assert_eq!(Sha256::digest(&body).to_vec(), pattern_sha256(SEGMENT));
}

fn check(config: &Path) -> (i32, String, String) {
    let out = std::process::Command::new(BALANCER)
        .arg("--config")
        .arg(config)
        .arg("check")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_names_the_bad_certificate_file() {
    let files = Files::new("tls-check");
    let dir = files.cert.parent().unwrap().to_path_buf();
    let config = dir.join("balancer.toml");
    let tls: SocketAddr = "127.0.0.1:8443".parse().unwrap();
    let base = "listen = \"127.0.0.1:8080\"\nadmin_listen = \"127.0.0.1:9091\"\n";
    std::fs::write(&config, format!("{base}{}", tls_table(&files, tls, true))).unwrap();

    // Files missing.
    let (code, _, err) = check(&config);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("tls.cert: cannot read") && err.contains("cert.pem"),
        "{err}"
    );

    // A key file where the certificate should be.
    let (a, b) = (self_signed(), self_signed());
    files.write(&a);
    std::fs::write(&files.cert, &a.key_pem).unwrap();
    let (code, _, err) = check(&config);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("tls.cert") && err.contains("no PEM certificate"),
        "{err}"
    );
    // The key file's contents never appear in the message.
    assert!(!err.contains(a.key_pem.lines().nth(1).unwrap()), "{err}");

    // A key from another certificate.
    std::fs::write(&files.cert, &a.cert_pem).unwrap();
    std::fs::write(&files.key, &b.key_pem).unwrap();
    let (code, _, err) = check(&config);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("tls.key") && err.contains("does not match"),
        "{err}"
    );

    // A good pair.
    files.write(&b);
    let (code, out, err) = check(&config);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("tls 127.0.0.1:8443"), "{out}");

    // TLS on the plain port's address is refused.
    let clash: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    std::fs::write(
        &config,
        format!("{base}{}", tls_table(&files, clash, false)),
    )
    .unwrap();
    let (code, _, err) = check(&config);
    assert_eq!(code, 2);
    assert!(err.contains("tls.listen: must differ from listen"), "{err}");
}

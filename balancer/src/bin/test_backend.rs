//! `reel-test-backend`: a small stand-in for a Reel app node, used by the
//! balancer's integration tests and for trying the balancer locally.
//!
//! It prints `LISTENING <addr>` once bound (so `--listen 127.0.0.1:0` works)
//! and answers:
//! - `GET /readyz` 200, or 503 after `POST /control/unready`
//!   (`POST /control/ready` switches back);
//! - `GET /media/{id}/{file}` a few KiB naming the node, video and file;
//! - `GET /slow?ms=N` after N milliseconds;
//! - `GET /large?bytes=N[&delay_ms=D]` N bytes of a positional pattern
//!   (byte i is `pattern(i)`), in 64 KiB chunks with D ms between chunks;
//! - `POST|PUT /upload` streams the body, answering `{"bytes":N}`;
//! - `GET /echo` the forwarding headers it received, as JSON;
//! - `GET /no-node-header` without `X-Reel-Node`;
//! - anything else: a short text naming the node.
//!
//! With `--reset-prefix P`, requests whose path starts with `P` get no
//! answer at all: the connection is dropped, like a crashing node. With
//! `--stall-prefix P` such requests are answered only after 30 s, like a
//! hung node.
//!
//! Every other response carries `X-Reel-Node: <name>`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Channel, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

type Body = BoxBody<Bytes, Infallible>;

const CHUNK: usize = 64 * 1024;

/// Byte `i` of every `/large` body; tests recompute it to check integrity.
fn pattern(i: u64) -> u8 {
    ((i.wrapping_mul(31)).wrapping_add(i >> 12) % 251) as u8
}

struct Node {
    name: String,
    ready: AtomicBool,
    reset_prefix: Option<String>,
    stall_prefix: Option<String>,
}

/// Returned by the service to make hyper drop the connection unanswered.
#[derive(Debug)]
struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset on purpose")
    }
}

impl std::error::Error for Reset {}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    r
}

fn query_u64(req: &Request<Incoming>, key: &str) -> Option<u64> {
    req.uri().query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.parse().ok()).flatten()
    })
}

fn large(total: u64, delay_ms: u64) -> Response<Body> {
    let (mut tx, body) = Channel::<Bytes, Infallible>::new(2);
    tokio::spawn(async move {
        let mut offset = 0u64;
        while offset < total {
            let n = (total - offset).min(CHUNK as u64);
            let chunk: Vec<u8> = (offset..offset + n).map(pattern).collect();
            if tx.send_data(Bytes::from(chunk)).await.is_err() {
                return;
            }
            offset += n;
            if delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            }
        }
    });
    let mut r = Response::new(body.boxed());
    r.headers_mut()
        .insert(http::header::CONTENT_LENGTH, total.into());
    r
}

async fn upload(req: Request<Incoming>) -> Response<Body> {
    let mut body = req.into_body();
    let mut bytes = 0u64;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Some(d) = f.data_ref() {
                    bytes += d.len() as u64;
                }
            }
            Err(e) => return text(StatusCode::BAD_REQUEST, format!("upload broken: {e}")),
        }
    }
    text(StatusCode::OK, format!("{{\"bytes\":{bytes}}}"))
}

fn echo(req: &Request<Incoming>) -> Response<Body> {
    let h = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let body = serde_json::json!({
        "x-forwarded-for": h("x-forwarded-for"),
        "x-forwarded-proto": h("x-forwarded-proto"),
        "x-forwarded-host": h("x-forwarded-host"),
        "x-request-id": h("x-request-id"),
        "host": h("host"),
    });
    text(StatusCode::OK, body.to_string())
}

async fn handle(node: Arc<Node>, req: Request<Incoming>) -> Result<Response<Body>, Reset> {
    let path = req.uri().path().to_string();
    if matches!(&node.reset_prefix, Some(p) if path.starts_with(p.as_str())) {
        return Err(Reset);
    }
    if matches!(&node.stall_prefix, Some(p) if path.starts_with(p.as_str())) {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    let mut tag = true;
    let resp = match (req.method().clone(), path.as_str()) {
        (Method::GET, "/readyz") => {
            if node.ready.load(Ordering::Relaxed) {
                text(StatusCode::OK, "ready")
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "not ready")
            }
        }
        (Method::POST, "/control/ready") => {
            node.ready.store(true, Ordering::Relaxed);
            text(StatusCode::OK, "ok")
        }
        (Method::POST, "/control/unready") => {
            node.ready.store(false, Ordering::Relaxed);
            text(StatusCode::OK, "ok")
        }
        (Method::GET, "/slow") => {
            let ms = query_u64(&req, "ms").unwrap_or(1000);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            text(StatusCode::OK, "slow done")
        }
        (Method::GET, "/large") => large(
            query_u64(&req, "bytes").unwrap_or(1 << 20),
            query_u64(&req, "delay_ms").unwrap_or(0),
        ),
        (Method::POST | Method::PUT, "/upload") => upload(req).await,
        (Method::GET, "/echo") => echo(&req),
        (Method::GET, "/no-node-header") => {
            tag = false;
            text(StatusCode::OK, "untagged")
        }
        (Method::GET, p) if p.starts_with("/media/") => {
            let line = format!("{} {p}\n", node.name);
            text(StatusCode::OK, line.repeat(4096 / line.len().max(1) + 1))
        }
        _ => text(StatusCode::OK, format!("{} {path}\n", node.name)),
    };
    let mut resp = resp;
    if tag {
        if let Ok(v) = http::HeaderValue::from_str(&node.name) {
            resp.headers_mut().insert("x-reel-node", v);
        }
    }
    Ok(resp)
}

fn arg(args: &[String], flag: &str) -> Option<String> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let listen = arg(&args, "--listen").unwrap_or_else(|| "127.0.0.1:8081".into());
    let name = arg(&args, "--name").unwrap_or_else(|| format!("test-node-{listen}"));
    let listener = TcpListener::bind(&listen).await?;
    println!("LISTENING {}", listener.local_addr()?);
    let node = Arc::new(Node {
        name,
        ready: AtomicBool::new(true),
        reset_prefix: arg(&args, "--reset-prefix"),
        stall_prefix: arg(&args, "--stall-prefix"),
    });
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let node = Arc::clone(&node);
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(Arc::clone(&node), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

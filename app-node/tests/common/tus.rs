//! A tus client for tests of `/api/uploads` on one node over loopback.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use reel_node::auth::{digest, new_secret};
use reel_node::catalog::Role;
use reqwest::{Client, Response};

use super::{serve, TestNode};

pub const TUS: &str = "1.0.0";

pub fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub struct Api {
    pub http: Client,
    pub base: String,
    pub token: String,
}

impl Api {
    pub fn new(addr: SocketAddr, token: &str) -> Self {
        Api {
            http: Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            base: format!("http://{addr}"),
            token: token.to_string(),
        }
    }

    pub async fn create(&self, length: u64, title: &str) -> Response {
        self.http
            .post(format!("{}/api/uploads", self.base))
            .bearer_auth(&self.token)
            .header("tus-resumable", TUS)
            .header("upload-length", length)
            .header(
                "upload-metadata",
                format!("title {},filename {}", b64(title), b64("clip.mp4")),
            )
            .send()
            .await
            .unwrap()
    }

    /// Creates an upload and returns its URL path and video id.
    pub async fn created(&self, length: u64) -> (String, String) {
        let r = self.create(length, "Resumable").await;
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["tus-resumable"], TUS);
        assert!(r.headers().contains_key("upload-expires"));
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        let id = r.headers()["reel-video-id"].to_str().unwrap().to_string();
        assert_eq!(loc, format!("/api/uploads/{id}"));
        (loc, id)
    }

    pub async fn head(&self, loc: &str) -> Response {
        self.http
            .head(format!("{}{loc}", self.base))
            .bearer_auth(&self.token)
            .header("tus-resumable", TUS)
            .send()
            .await
            .unwrap()
    }

    pub async fn offset(&self, loc: &str) -> u64 {
        let r = self.head(loc).await;
        assert_eq!(r.status(), 200);
        r.headers()["upload-offset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    pub async fn patch(&self, loc: &str, offset: u64, body: Vec<u8>) -> Response {
        self.http
            .patch(format!("{}{loc}", self.base))
            .bearer_auth(&self.token)
            .header("tus-resumable", TUS)
            .header("upload-offset", offset)
            .header("content-type", "application/offset+octet-stream")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn video(&self, id: &str) -> (u16, serde_json::Value) {
        let r = self
            .http
            .get(format!("{}/api/videos/{id}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or_default())
    }
}

impl Api {
    /// The video's JSON once it is past `uploading` (the join runs after
    /// the last PATCH is answered); panics after 20 s.
    pub async fn settled(&self, id: &str) -> serde_json::Value {
        let t = std::time::Instant::now();
        loop {
            let (s, v) = self.video(id).await;
            if s == 200 && v["status"] != "uploading" {
                return v;
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "still uploading: {v}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub async fn code_of(r: Response) -> (u16, String) {
    let s = r.status().as_u16();
    let v: serde_json::Value = r.json().await.unwrap_or_default();
    (s, v["error"]["code"].as_str().unwrap_or("").to_string())
}

pub async fn second_user(node: &TestNode) -> String {
    let c = &node.state.catalog;
    c.accounts
        .add_user("other", "hash", Role::Uploader)
        .await
        .unwrap();
    let token = new_secret();
    c.accounts
        .add_token("other", &digest(&token))
        .await
        .unwrap();
    token
}

pub async fn node(extra: &[(&str, &str)]) -> (TestNode, Api) {
    let mut pairs = vec![
        ("ingest.max_bytes", "50000000"),
        ("ingest.upload_lock_s", "2"),
        ("ingest.read_timeout_s", "2"),
    ];
    pairs.extend_from_slice(extra);
    let node = TestNode::new(&pairs).await;
    let addr = serve(&node).await;
    let api = Api::new(addr, &node.token);
    (node, api)
}

//! `reel-node upload FILE`: a tus 1.0 client that resumes.
//!
//! The upload's URL is kept in a small state file named after the file
//! (its absolute path, size and modification time) and the server, so
//! running the same command again after an interruption (a dropped network,
//! a killed process) asks the server with HEAD how much it has and sends
//! only the rest. Every request has a deadline.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use reqwest::{Client, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// What `upload` was asked to do.
#[derive(Debug, Clone)]
pub struct UploadArgs {
    /// The local file.
    pub file: PathBuf,
    /// Title of the video.
    pub title: String,
    /// Base URL of the server (a node or the balancer).
    pub server: String,
    /// API token.
    pub token: String,
    /// Bytes per PATCH.
    pub chunk_bytes: u64,
    /// Where resume state is kept.
    pub state_dir: PathBuf,
    /// Highest average rate in bytes per second, if limited.
    pub max_rate: Option<u64>,
    /// Return once uploaded instead of waiting until the video plays.
    pub no_wait: bool,
}

const TUS: &str = "1.0.0";
/// Deadline of a request without a body.
const SHORT: Duration = Duration::from_secs(30);
/// Failed attempts in a row before giving up.
const MAX_FAILURES: u32 = 8;
/// Longest wait for the video to become ready.
const READY_WAIT: Duration = Duration::from_secs(6 * 3600);
/// Longest run of `423 Locked` answers waited out. A lock can rightly last
/// the server's lock lease plus its read timeout (a PATCH of ours whose
/// connection dropped, still held by the server), 60 s by default.
const LOCK_WAIT: Duration = Duration::from_secs(150);

/// Why a PATCH did not move the offset.
enum PatchError {
    /// Another request holds the upload; retry after this long.
    Locked(Duration),
    /// Anything else.
    Other(anyhow::Error),
}

impl From<anyhow::Error> for PatchError {
    fn from(e: anyhow::Error) -> Self {
        PatchError::Other(e)
    }
}

impl From<reqwest::Error> for PatchError {
    fn from(e: reqwest::Error) -> Self {
        PatchError::Other(anyhow::Error::new(e).context("sending bytes"))
    }
}

/// Whether `url` is on the same scheme, host and port as `server`: only
/// there is the token sent.
fn same_origin(server: &str, url: &str) -> bool {
    match (reqwest::Url::parse(server), reqwest::Url::parse(url)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

/// Creates the state folder readable by its owner only: it names uploads
/// that the token can write to.
fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// Resume state of one file.
#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    url: String,
    video_id: String,
    length: u64,
}

/// Default folder for resume state.
pub fn default_state_dir() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("reel").join("uploads")
}

fn state_file(dir: &Path, file: &Path, server: &str, len: u64, mtime: u128) -> PathBuf {
    let mut h = Sha256::new();
    h.update(file.as_os_str().as_encoded_bytes());
    h.update([0]);
    h.update(server.as_bytes());
    h.update(format!("\0{len}\0{mtime}").as_bytes());
    let d = h.finalize();
    let name: String = d[..12].iter().map(|b| format!("{b:02x}")).collect();
    dir.join(format!("{name}.json"))
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

/// Runs the upload; returns the process exit code.
pub async fn upload(a: UploadArgs) -> anyhow::Result<i32> {
    let file = std::fs::canonicalize(&a.file)
        .with_context(|| format!("cannot open {}", a.file.display()))?;
    let meta = std::fs::metadata(&file)?;
    let length = meta.len();
    if length == 0 {
        bail!("{} is empty", file.display());
    }
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let server = a.server.trim_end_matches('/').to_string();
    let state = state_file(&a.state_dir, &file, &server, length, mtime);
    let http = Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    let c = Conn {
        http,
        token: a.token.clone(),
        server: server.clone(),
    };

    let mut saved = match std::fs::read(&state) {
        Ok(b) => serde_json::from_slice::<Saved>(&b).ok(),
        Err(_) => None,
    };
    let mut offset = None;
    if saved
        .as_ref()
        .is_some_and(|s| !same_origin(&server, &s.url))
    {
        // Never sent the token: the file may have been edited.
        eprintln!("the saved upload is not on {server}; starting again");
        let _ = std::fs::remove_file(&state);
        saved = None;
    }
    if let Some(s) = &saved {
        match c.head(&s.url).await? {
            Some((o, l)) if l == length => {
                eprintln!("resuming {} at {o} of {length} bytes", s.video_id);
                offset = Some(o);
            }
            _ => {
                eprintln!("the earlier upload is gone; starting again");
                let _ = std::fs::remove_file(&state);
                saved = None;
            }
        }
    }
    let saved = match saved {
        Some(s) => s,
        None => {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let s = c.create(length, &a.title, &name).await?;
            make_private_dir(&a.state_dir)?;
            std::fs::write(&state, serde_json::to_vec(&s)?)?;
            eprintln!("created upload {} for video {}", s.url, s.video_id);
            offset = Some(0);
            s
        }
    };
    let mut offset = offset.unwrap_or(0);
    let mut f = tokio::fs::File::open(&file).await?;
    let started = Instant::now();
    let first = offset;
    let mut failures = 0u32;
    let mut locked_since: Option<Instant> = None;
    while offset < length {
        let n = a.chunk_bytes.min(length - offset);
        let mut buf = vec![0u8; n as usize];
        f.seek(std::io::SeekFrom::Start(offset)).await?;
        f.read_exact(&mut buf).await?;
        match c.patch(&saved.url, offset, buf).await {
            Ok(o) => {
                offset = o;
                failures = 0;
                locked_since = None;
                let secs = started.elapsed().as_secs_f64().max(0.001);
                let rate = (offset - first) as f64 / secs;
                eprintln!(
                    "{offset} / {length} bytes ({:.0}%), {:.1} MB/s",
                    100.0 * offset as f64 / length as f64,
                    rate / 1e6
                );
                if let Some(max) = a.max_rate.filter(|m| *m > 0) {
                    let due = Duration::from_secs_f64((offset - first) as f64 / max as f64);
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        tokio::time::sleep(wait).await;
                    }
                }
            }
            Err(PatchError::Locked(wait)) => {
                // Not a failure: an earlier request of ours (or another
                // node's lease) still holds the upload.
                let since = *locked_since.get_or_insert_with(Instant::now);
                if since.elapsed() > LOCK_WAIT {
                    bail!("the upload stayed locked for {LOCK_WAIT:?}; run again to resume");
                }
                eprintln!("the upload is locked; asking again in {wait:?}");
                tokio::time::sleep(wait).await;
                if let Ok(Some((o, _))) = c.head(&saved.url).await {
                    offset = o;
                }
            }
            Err(PatchError::Other(e)) => {
                locked_since = None;
                failures += 1;
                if failures > MAX_FAILURES {
                    return Err(e.context("too many failed attempts; run again to resume"));
                }
                let wait = Duration::from_millis(500 * u64::from(failures.min(10)));
                eprintln!("attempt failed ({e:#}); asking the server again in {wait:?}");
                tokio::time::sleep(wait).await;
                // The server may have kept part of the body: ask.
                if let Ok(Some((o, _))) = c.head(&saved.url).await {
                    offset = o;
                }
            }
        }
    }
    let _ = std::fs::remove_file(&state);
    println!("{}", saved.video_id);
    if a.no_wait {
        return Ok(0);
    }
    c.wait_ready(&saved.video_id).await
}

/// A server and the credentials to use it.
struct Conn {
    http: Client,
    token: String,
    server: String,
}

impl Conn {
    fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{}", self.server, location)
        }
    }

    async fn create(&self, length: u64, title: &str, name: &str) -> anyhow::Result<Saved> {
        let r = self
            .http
            .post(format!("{}/api/uploads", self.server))
            .bearer_auth(&self.token)
            .header("tus-resumable", TUS)
            .header("upload-length", length)
            .header(
                "upload-metadata",
                format!("title {},filename {}", b64(title), b64(name)),
            )
            .timeout(SHORT)
            .send()
            .await
            .context("creating the upload")?;
        if r.status() != StatusCode::CREATED {
            bail!("the server refused the upload: {}", error_text(r).await);
        }
        let loc = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| anyhow!("the server named no upload URL"))?;
        let url = self.absolute(loc);
        if !same_origin(&self.server, &url) {
            bail!("the server named an upload URL elsewhere ({url}); the token is not sent there");
        }
        let video_id = r
            .headers()
            .get("reel-video-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        Ok(Saved {
            url,
            video_id,
            length,
        })
    }

    /// `(offset, length)` of the upload, or `None` if it is gone.
    async fn head(&self, url: &str) -> anyhow::Result<Option<(u64, u64)>> {
        let r = self
            .http
            .head(url)
            .bearer_auth(&self.token)
            .header("tus-resumable", TUS)
            .timeout(SHORT)
            .send()
            .await
            .context("asking for the upload's offset")?;
        if matches!(r.status(), StatusCode::NOT_FOUND | StatusCode::GONE) {
            return Ok(None);
        }
        if !r.status().is_success() {
            bail!("HEAD answered {}", r.status());
        }
        let num = |h: &str| {
            r.headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
        };
        match (num("upload-offset"), num("upload-length")) {
            (Some(o), Some(l)) => Ok(Some((o, l))),
            _ => bail!("HEAD named no offset"),
        }
    }

    /// Sends `buf` at `offset`; the new offset.
    async fn patch(&self, url: &str, offset: u64, buf: Vec<u8>) -> Result<u64, PatchError> {
        use base64::Engine;
        // The server keeps the chunk only if it arrived intact.
        let sum = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&buf));
        // At least 50 KB/s, plus room for the server to assemble the file
        // after the last chunk.
        let deadline = Duration::from_secs(120 + buf.len() as u64 / 50_000);
        let r = self
            .http
            .patch(url)
            .bearer_auth(&self.token)
            .header("tus-resumable", TUS)
            .header("upload-offset", offset)
            .header("content-type", "application/offset+octet-stream")
            .header("upload-checksum", format!("sha256 {sum}"))
            .body(buf)
            .timeout(deadline)
            .send()
            .await?;
        if r.status() == StatusCode::LOCKED {
            let secs = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(1);
            return Err(PatchError::Locked(Duration::from_secs(secs.clamp(1, 30))));
        }
        if r.status() != StatusCode::NO_CONTENT {
            return Err(anyhow!("PATCH answered {}", error_text(r).await).into());
        }
        Ok(r.headers()
            .get("upload-offset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow!("PATCH named no offset"))?)
    }

    async fn wait_ready(&self, id: &str) -> anyhow::Result<i32> {
        let until = Instant::now() + READY_WAIT;
        let mut last = String::new();
        while Instant::now() < until {
            let v: serde_json::Value = match self
                .http
                .get(format!("{}/api/videos/{id}", self.server))
                .bearer_auth(&self.token)
                .timeout(SHORT)
                .send()
                .await
            {
                Ok(r) if r.status() == StatusCode::NOT_FOUND => {
                    bail!("the video {id} no longer exists")
                }
                Ok(r) if r.status().is_success() => r
                    .bytes()
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or_default(),
                _ => serde_json::Value::Null,
            };
            let status = v["status"].as_str().unwrap_or("").to_string();
            if status != last && !status.is_empty() {
                eprintln!("{status}");
                last = status.clone();
            }
            match status.as_str() {
                "ready" => return Ok(0),
                "failed" => {
                    eprintln!(
                        "failed: {}",
                        v["error"].as_str().unwrap_or("unknown reason")
                    );
                    return Ok(1);
                }
                _ => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
        bail!("the video was not ready in time")
    }
}

async fn error_text(r: reqwest::Response) -> String {
    let status = r.status();
    let body: serde_json::Value = tokio::time::timeout(SHORT, r.bytes())
        .await
        .ok()
        .and_then(Result::ok)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    match body["error"]["message"].as_str() {
        Some(m) => format!("{status}: {m}"),
        None => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_servers_own_origin_gets_the_token() {
        let srv = "https://reel.example:8443";
        assert!(same_origin(srv, "https://reel.example:8443/api/uploads/a"));
        assert!(!same_origin(srv, "http://reel.example:8443/api/uploads/a"));
        assert!(!same_origin(srv, "https://reel.example/api/uploads/a"));
        assert!(!same_origin(srv, "https://evil.example:8443/api/uploads/a"));
        assert!(!same_origin(
            srv,
            "https://reel.example:8443@evil.example/x"
        ));
        assert!(!same_origin(srv, "not a url"));
    }

    #[cfg(unix)]
    #[test]
    fn the_state_folder_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("a/b");
        make_private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}

//! Streaming URL download to a local file with size and time limits.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::redirect;
use tokio::io::AsyncWriteExt;
use url::Url;

use super::ssrf::{check_url, GuardedResolver};
use super::IngestError;
use crate::config::IngestConfig;

const MAX_REDIRECTS: usize = 5;

/// An HTTP client configured with the SSRF guard and the ingest limits.
#[derive(Clone)]
pub struct Downloader {
    client: reqwest::Client,
    max_bytes: u64,
    allow_private: bool,
    total: Duration,
}

impl Downloader {
    /// Builds the client once; it is reused for every download.
    pub fn new(cfg: &IngestConfig) -> Result<Self, IngestError> {
        let allow = cfg.allow_private_networks;
        let policy = redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error(IngestError::BadUrl("too many redirects".into()));
            }
            match check_url(attempt.url(), allow) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(e),
            }
        });
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: allow,
            }))
            .redirect(policy)
            .connect_timeout(Duration::from_secs(cfg.connect_timeout_s))
            .read_timeout(Duration::from_secs(cfg.read_timeout_s))
            .user_agent(concat!("reel-node/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .build()
            .map_err(|e| IngestError::Network(e.to_string()))?;
        Ok(Downloader {
            client,
            max_bytes: cfg.max_bytes,
            allow_private: allow,
            total: Duration::from_secs(cfg.total_timeout_s),
        })
    }

    /// Parses and checks a URL before anything is queued.
    pub fn check(&self, raw: &str) -> Result<Url, IngestError> {
        let url = Url::parse(raw.trim())
            .map_err(|e| IngestError::BadUrl(format!("not a valid URL: {e}")))?;
        check_url(&url, self.allow_private)?;
        Ok(url)
    }
}

/// Downloads `url` into `dest`, reporting `(bytes so far, expected total)`.
pub async fn download(
    d: &Downloader,
    url: &str,
    dest: &Path,
    progress: &(dyn Fn(u64, Option<u64>) + Send + Sync),
) -> Result<u64, IngestError> {
    let url = d.check(url)?;
    match tokio::time::timeout(d.total, fetch(d, url, dest, progress)).await {
        Ok(r) => r,
        Err(_) => Err(IngestError::Timeout),
    }
}

fn classify(e: reqwest::Error) -> IngestError {
    // Our own refusals travel inside reqwest's error chain; surface them.
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = src {
        if let Some(ie) = s.downcast_ref::<IngestError>() {
            return match ie {
                IngestError::Forbidden(m) => IngestError::Forbidden(m.clone()),
                IngestError::BadUrl(m) => IngestError::BadUrl(m.clone()),
                other => IngestError::Network(other.to_string()),
            };
        }
        src = s.source();
    }
    if e.is_timeout() {
        IngestError::Timeout
    } else {
        IngestError::Network(e.to_string())
    }
}

async fn fetch(
    d: &Downloader,
    url: Url,
    dest: &Path,
    progress: &(dyn Fn(u64, Option<u64>) + Send + Sync),
) -> Result<u64, IngestError> {
    let resp = d.client.get(url).send().await.map_err(classify)?;
    if !resp.status().is_success() {
        return Err(IngestError::Status(resp.status().as_u16()));
    }
    let expected = resp.content_length();
    if expected.is_some_and(|n| n > d.max_bytes) {
        return Err(IngestError::TooLarge { limit: d.max_bytes });
    }
    let mut file = tokio::fs::File::create(dest).await?;
    let mut got: u64 = 0;
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(classify)?;
        got += chunk.len() as u64;
        // Content-Length can lie; the limit holds on what actually arrives.
        if got > d.max_bytes {
            return Err(IngestError::TooLarge { limit: d.max_bytes });
        }
        file.write_all(&chunk).await?;
        progress(got, expected);
    }
    file.flush().await?;
    file.sync_all().await?;
    Ok(got)
}

//! Telling the balancers' edge caches that a deleted video's files are
//! gone: `POST {admin}/purge/{id}` with the balancer's admin token, to each
//! URL in `edge.purge_urls`. Best effort, off the request path: a few
//! attempts with a short timeout each, and a warning if a balancer cannot
//! be reached (its cache then serves the old files until they are evicted;
//! the files themselves are already gone from the store).

use std::sync::Arc;
use std::time::Duration;

/// Environment variable holding the balancers' admin token; never a
/// config-file key, because the file is committed.
pub const PURGE_TOKEN_ENV: &str = "REEL_EDGE__PURGE_TOKEN";

const ATTEMPTS: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(3);

/// Sends purges to the configured balancers.
#[derive(Clone)]
pub struct EdgePurger {
    urls: Arc<[String]>,
    token: Option<Arc<str>>,
    client: reqwest::Client,
}

impl std::fmt::Debug for EdgePurger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgePurger")
            .field("urls", &self.urls)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl EdgePurger {
    /// Purges to `urls` (balancer admin base URLs) with the token from
    /// [`PURGE_TOKEN_ENV`].
    pub fn new(urls: &[String]) -> EdgePurger {
        let token = std::env::var(PURGE_TOKEN_ENV)
            .ok()
            .filter(|t| !t.is_empty())
            .map(Arc::from);
        EdgePurger {
            urls: urls
                .iter()
                .map(|u| u.trim_end_matches('/').to_string())
                .collect(),
            token,
            client: reqwest::Client::builder()
                .timeout(TIMEOUT)
                .connect_timeout(TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
        }
    }

    /// Starts the purge of one video on every balancer and returns at once.
    pub fn purge(&self, video: &str) {
        if self.urls.is_empty() {
            return;
        }
        if self.token.is_none() {
            tracing::warn!(
                video,
                "edge.purge_urls set but {PURGE_TOKEN_ENV} is not; cached files stay until evicted"
            );
            return;
        }
        for base in self.urls.iter() {
            let this = self.clone();
            let url = format!("{base}/purge/{video}");
            let video = video.to_string();
            tokio::spawn(async move { this.send(&url, &video).await });
        }
    }

    async fn send(&self, url: &str, video: &str) {
        let token = self.token.as_deref().unwrap_or_default();
        for attempt in 1..=ATTEMPTS {
            let result = self.client.post(url).bearer_auth(token).send().await;
            match result {
                Ok(r) if r.status().is_success() => {
                    tracing::debug!(video, url, "edge cache purged");
                    return;
                }
                // A refusal will not change on retry.
                Ok(r) if r.status().is_client_error() => {
                    tracing::warn!(
                        video,
                        url,
                        status = r.status().as_u16(),
                        "edge purge refused"
                    );
                    return;
                }
                Ok(r) => tracing::debug!(
                    video,
                    url,
                    status = r.status().as_u16(),
                    attempt,
                    "edge purge failed"
                ),
                Err(e) => tracing::debug!(video, url, attempt, "edge purge failed: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
        }
        tracing::warn!(
            video,
            url,
            "edge purge gave up; cached files stay until evicted"
        );
    }
}

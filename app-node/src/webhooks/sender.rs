//! Sending due deliveries: claim from the outbox, POST with a signature,
//! record the answer, back off on failure.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use url::Url;

use super::{
    backoff, sign, WebhookError, ID_HEADER, SECRET_ENV, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use crate::catalog::{within, Catalog, ClaimedDelivery};
use crate::config::{Config, WebhooksConfig};
use crate::failure::FailureKind;
use crate::ingest::{check_url, GuardedResolver, IngestError};
use crate::state::AppState;

/// Deliveries claimed (and sent at once) per round.
const BATCH: u32 = 16;

/// Longest wait for one catalog call.
const CATALOG_LIMIT: Duration = Duration::from_secs(10);

/// Extra lease beyond the attempt's own deadline, for recording the answer
/// (at least the catalog call's limit).
const LEASE_MARGIN: Duration = Duration::from_secs(15);

/// Sends webhook deliveries; cheap to clone.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    secret: Arc<[u8]>,
    allow_private: bool,
    timeout: Duration,
    max_attempts: i64,
    backoff_base: Duration,
    backoff_cap: Duration,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("secret", &"<redacted>")
            .field("allow_private", &self.allow_private)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Sender {
    /// A sender signing with `secret`. Endpoints on private networks are
    /// refused unless `allow_private` (the imports' setting).
    pub fn new(
        cfg: &WebhooksConfig,
        allow_private: bool,
        secret: &[u8],
    ) -> Result<Sender, WebhookError> {
        let timeout = Duration::from_secs(cfg.timeout_s);
        let client = reqwest::Client::builder()
            // Host names are checked as they resolve, so the address
            // connected is one that passed the guard.
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            // A redirect could lead past the guard, and a receiver that
            // moved should be reconfigured, not followed.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(cfg.connect_timeout_s))
            .timeout(timeout)
            .user_agent(concat!(
                "reel-node/",
                env!("CARGO_PKG_VERSION"),
                " webhooks"
            ))
            .no_proxy()
            .build()
            .map_err(|e| WebhookError::Network(e.to_string()))?;
        Ok(Sender {
            client,
            secret: Arc::from(secret),
            allow_private,
            timeout,
            max_attempts: cfg.max_attempts,
            backoff_base: Duration::from_secs(cfg.retry_backoff_s),
            backoff_cap: Duration::from_secs(cfg.retry_backoff_max_s),
        })
    }

    /// The sender `config` asks for with the secret from [`SECRET_ENV`];
    /// `None` (with a warning) when endpoints are set but the secret is not:
    /// unsigned events would be worthless to receivers.
    pub fn from_env(config: &Config) -> Option<Sender> {
        let secret = std::env::var(SECRET_ENV).ok().filter(|s| !s.is_empty());
        let Some(secret) = secret else {
            tracing::warn!(
                "webhooks.urls set but {SECRET_ENV} is not; webhook deliveries wait in the catalog"
            );
            return None;
        };
        match Sender::new(
            &config.webhooks,
            config.webhooks.allow_private_networks,
            secret.as_bytes(),
        ) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(code = e.code(), "webhook sender not started: {e}");
                None
            }
        }
    }

    /// How long a claim holds a delivery: the attempt's deadline and a
    /// margin to record the answer. Past it another node may try again.
    pub fn lease(&self) -> Duration {
        self.timeout + LEASE_MARGIN
    }

    /// One attempt: POSTs the delivery's body, signed for this moment.
    /// `Ok` with the 2xx status, or why it failed.
    pub async fn send(&self, d: &ClaimedDelivery) -> Result<u16, WebhookError> {
        let url = Url::parse(&d.url).map_err(|e| WebhookError::BadUrl(e.to_string()))?;
        // IP literals never reach the resolver; check them here, at every
        // send, not only at config load.
        check_url(&url, self.allow_private).map_err(|e| match e {
            IngestError::Forbidden(m) => WebhookError::Forbidden(m),
            other => WebhookError::BadUrl(other.to_string()),
        })?;
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let signature = sign(&self.secret, timestamp, d.payload.as_bytes());
        let request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(ID_HEADER, &d.event_id)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(d.payload.clone())
            .send();
        // The client's own timeout covers the request; this one also bounds
        // anything it does not (resolution included).
        let response =
            match tokio::time::timeout(self.timeout + Duration::from_secs(1), request).await {
                Err(_) => return Err(WebhookError::Timeout),
                Ok(Err(e)) => return Err(classify(e)),
                Ok(Ok(r)) => r,
            };
        let status = response.status().as_u16();
        if response.status().is_success() {
            Ok(status)
        } else {
            Err(WebhookError::Status(status))
        }
    }

    /// Claims due deliveries, sends them at once and records each answer.
    /// How many were claimed (0: nothing due).
    pub async fn deliver_due(&self, catalog: &Catalog) -> Result<usize, WebhookError> {
        let claim = catalog.webhooks.claim_deliveries(self.lease(), BATCH);
        let claimed = within(CATALOG_LIMIT, "a webhook claim", claim).await?;
        let n = claimed.len();
        let sends = claimed.into_iter().map(|d| async move {
            if let Err(e) = self.attempt(catalog, &d).await {
                tracing::warn!(delivery = %d.id, code = e.code(), "webhook outcome not recorded: {e}");
            }
        });
        futures_util::future::join_all(sends).await;
        Ok(n)
    }

    /// One claimed delivery: sent unless its attempts are used up (earlier
    /// senders died holding it), then recorded.
    async fn attempt(&self, catalog: &Catalog, d: &ClaimedDelivery) -> Result<(), WebhookError> {
        let result = if d.attempt > self.max_attempts {
            Err(WebhookError::Network(format!(
                "gave up after {} attempts: the sender stopped",
                self.max_attempts
            )))
        } else {
            self.send(d).await
        };
        let hooks = &catalog.webhooks;
        let recorded = match &result {
            Ok(status) => {
                tracing::info!(delivery = %d.id, event = %d.event_id, kind = %d.event_type,
                    attempt = d.attempt, status, "webhook delivered");
                let call = hooks.delivery_succeeded(d, *status);
                within(CATALOG_LIMIT, "a webhook outcome", call).await?
            }
            Err(e) => {
                let again = e.kind() == FailureKind::Transient && d.attempt < self.max_attempts;
                let retry_in =
                    again.then(|| backoff(d.attempt, self.backoff_base, self.backoff_cap));
                tracing::warn!(delivery = %d.id, event = %d.event_id, kind = %d.event_type,
                    attempt = d.attempt, code = e.code(), ?retry_in, "webhook attempt failed: {e}");
                let why = format!("{}: {e}", e.code());
                let call = hooks.delivery_failed(d, e.status(), &why, retry_in);
                within(CATALOG_LIMIT, "a webhook outcome", call).await?
            }
        };
        if !recorded {
            tracing::warn!(delivery = %d.id, "webhook lease lapsed before the answer was recorded");
        }
        Ok(())
    }
}

/// Sorts a client error by its type: the guard's refusal (raised inside
/// the resolver) is permanent, a timeout and anything else transient.
fn classify(e: reqwest::Error) -> WebhookError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(IngestError::Forbidden(m)) = s.downcast_ref::<IngestError>() {
            return WebhookError::Forbidden(m.clone());
        }
        source = s.source();
    }
    if e.is_timeout() {
        return WebhookError::Timeout;
    }
    // The endpoint's URL may carry a secret in its path or query: it is
    // left out of the message, which goes to logs and the deliveries list;
    // the causes below it say what failed.
    let e = e.without_url();
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    WebhookError::Network(message)
}

/// Sends due deliveries until `shutdown`. Does nothing without endpoints or
/// without a secret. An attempt cut short by shutdown stays counted and is
/// made again once its lease lapses (at least once, never lost).
pub async fn run_sender(state: AppState, shutdown: CancellationToken) {
    if state.config.webhooks.urls.is_empty() {
        return;
    }
    let Some(sender) = Sender::from_env(&state.config) else {
        return;
    };
    let idle = Duration::from_millis(state.config.webhooks.poll_ms);
    loop {
        let round = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = sender.deliver_due(&state.catalog) => r,
        };
        let wait = match round {
            Ok(0) => idle,
            Ok(_) => Duration::ZERO,
            Err(e) => {
                tracing::warn!(code = e.code(), "webhook deliveries not claimed: {e}");
                idle
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

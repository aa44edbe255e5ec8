//! Webhooks: `video.ready`, `video.failed` and `video.deleted`, POSTed as
//! signed JSON to each endpoint in `webhooks.urls`.
//!
//! Events go into the catalog's outbox ([`crate::catalog::Webhooks`]) where
//! the video changes state (`video.ready` and `video.failed` in the same
//! transaction as the change); [`run_sender`] on every node claims due
//! deliveries and sends them, at least once each: a receiver drops repeats
//! by the event id, which stays the same on every attempt.

mod sender;

use std::time::Duration;

use hmac::{Hmac, Mac};
use rand::Rng;
use serde::Serialize;
use sha2::Sha256;

use crate::catalog::{Announcement, CatalogError, Published, Video, VideoStatus, WebhookEvent};
use crate::failure::FailureKind;
use crate::state::AppState;

pub use sender::{run_sender, Sender};

/// Environment variable holding the signing secret; never a config-file
/// key, because the file is committed.
pub const SECRET_ENV: &str = "REEL_WEBHOOKS__SECRET";

/// Header naming the event (the same on every attempt).
pub const ID_HEADER: &str = "reel-webhook-id";
/// Header with the attempt's time, Unix seconds.
pub const TIMESTAMP_HEADER: &str = "reel-webhook-timestamp";
/// Header with `v1=` and the hex HMAC-SHA256 of `"{timestamp}.{body}"`.
pub const SIGNATURE_HEADER: &str = "reel-webhook-signature";

/// What went wrong sending a delivery.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The endpoint's address is not allowed (the SSRF guard).
    #[error("the endpoint is not allowed: {0}")]
    Forbidden(String),
    /// The endpoint URL cannot be used.
    #[error("bad endpoint URL: {0}")]
    BadUrl(String),
    /// No answer within `webhooks.timeout_s` (or no connection within
    /// `webhooks.connect_timeout_s`).
    #[error("the endpoint did not answer in time")]
    Timeout,
    /// The connection failed.
    #[error("network error: {0}")]
    Network(String),
    /// The endpoint answered, but not with 2xx (redirects included: they are
    /// not followed).
    #[error("the endpoint answered {0}")]
    Status(u16),
    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

impl WebhookError {
    /// Stable code for logs and the deliveries list.
    pub fn code(&self) -> &'static str {
        match self {
            WebhookError::Forbidden(_) => "webhook-forbidden",
            WebhookError::BadUrl(_) => "webhook-bad-url",
            WebhookError::Timeout => "webhook-timeout",
            WebhookError::Network(_) => "webhook-network",
            WebhookError::Status(_) => "webhook-status",
            WebhookError::Catalog(e) => e.code(),
        }
    }

    /// Permanent when another attempt would be refused the same way (the
    /// address is not allowed, the URL is unusable); every answer from the
    /// receiver, and every network failure, is worth a retry.
    pub fn kind(&self) -> FailureKind {
        match self {
            WebhookError::Forbidden(_) | WebhookError::BadUrl(_) => FailureKind::Permanent,
            WebhookError::Timeout | WebhookError::Network(_) | WebhookError::Status(_) => {
                FailureKind::Transient
            }
            WebhookError::Catalog(e) => e.kind(),
        }
    }

    /// The HTTP status the endpoint answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            WebhookError::Status(s) => Some(*s),
            _ => None,
        }
    }
}

/// The events a node announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// A video was published and can be watched.
    Ready,
    /// A video's processing failed for good.
    Failed,
    /// A video and its media were deleted.
    Deleted,
}

impl EventType {
    /// The name in the payload's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Ready => "video.ready",
            EventType::Failed => "video.failed",
            EventType::Deleted => "video.deleted",
        }
    }
}

/// The `video` object of a payload: what a receiver needs to act, without
/// the node's internal fields.
#[derive(Serialize)]
struct VideoBody<'a> {
    id: &'a str,
    title: &'a str,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    width: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    height: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner_id: Option<i64>,
}

#[derive(Serialize)]
struct Payload<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    created_at: String,
    video: VideoBody<'a>,
}

/// Longest wait for the catalog on the way to or from the outbox.
const CATALOG_LIMIT: Duration = Duration::from_secs(30);

/// A new event about `video` with its JSON body. Its id is random, except
/// for `video.deleted`: a video is deleted once, and a retried delete (one
/// that stopped half-way) must not announce a second event, so that id is
/// derived from the video's and the outbox keeps the first.
pub fn event(kind: EventType, video: &Video) -> WebhookEvent {
    let event_id = match kind {
        EventType::Deleted => {
            use sha2::Digest;
            let h = Sha256::digest(format!("video.deleted\n{}", video.id));
            hex::encode(&h[..16])
        }
        EventType::Ready | EventType::Failed => {
            let bytes: [u8; 16] = rand::thread_rng().gen();
            hex::encode(bytes)
        }
    };
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let status = match kind {
        EventType::Deleted => "deleted",
        _ => video.status.as_str(),
    };
    let body = Payload {
        id: &event_id,
        kind: kind.as_str(),
        created_at: crate::http::rfc3339(now_ms),
        video: VideoBody {
            id: &video.id,
            title: &video.title,
            status,
            error: video.error.as_deref(),
            duration_s: video.duration_s,
            width: video.width,
            height: video.height,
            owner_id: video.owner_id,
        },
    };
    WebhookEvent {
        payload: serde_json::to_string(&body).unwrap_or_default(),
        event_id,
        event_type: kind.as_str().to_string(),
        video_id: video.id.clone(),
    }
}

/// An event about `video` as it will be once a change is committed, for
/// the catalog to queue in that change's transaction; `None` without
/// endpoints.
pub fn announcement(state: &AppState, kind: EventType, video: &Video) -> Option<Announcement> {
    let urls = &state.config.webhooks.urls;
    (!urls.is_empty()).then(|| Announcement {
        event: event(kind, video),
        urls: urls.clone(),
    })
}

/// The `video.ready` event of a publish about to be committed: the video
/// as read now, with what the publish will record. `None` without
/// endpoints, or (logged) if the video cannot be read; the publish goes on.
pub async fn ready_announcement(
    state: &AppState,
    video_id: &str,
    p: &Published,
) -> Option<Announcement> {
    let mut v = read_for_event(state, video_id).await?;
    v.status = VideoStatus::Ready;
    v.error = None;
    v.duration_s = Some(p.duration_s);
    v.width = Some(p.width);
    v.height = Some(p.height);
    announcement(state, EventType::Ready, &v)
}

/// The `video.failed` event of a failure about to be committed, with its
/// reason; like [`ready_announcement`].
pub async fn failed_announcement(
    state: &AppState,
    video_id: &str,
    message: &str,
) -> Option<Announcement> {
    let mut v = read_for_event(state, video_id).await?;
    v.status = VideoStatus::Failed;
    v.error = Some(message.to_string());
    announcement(state, EventType::Failed, &v)
}

async fn read_for_event(state: &AppState, video_id: &str) -> Option<Video> {
    if state.config.webhooks.urls.is_empty() {
        return None;
    }
    let get = state.catalog.videos.get(video_id);
    match crate::catalog::within(CATALOG_LIMIT, "a video", get).await {
        Ok(Some(v)) => Some(v),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(
                video = video_id,
                "no webhook event (the video could not be read): {e}"
            );
            None
        }
    }
}

/// The signature header's value for one attempt: `v1=` and the hex
/// HMAC-SHA256, keyed by the secret, of `"{timestamp}.{body}"`. The
/// timestamp is signed so a captured request cannot be replayed later
/// under a fresh time.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Wait before retrying after failed attempt number `attempt` (1-based):
/// `base` × 2^(attempt−1), at most `cap`, so a receiver that is down is
/// not hammered.
pub fn backoff(attempt: i64, base: Duration, cap: Duration) -> Duration {
    let doublings = attempt.saturating_sub(1).clamp(0, 31) as u32;
    base.saturating_mul(1u32 << doublings).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_of_timestamp_dot_body() {
        // Computed apart, with Python's hmac module:
        // hmac.new(b"Jefe", b"1700000000.{}", hashlib.sha256).hexdigest()
        let s = sign(b"Jefe", 1700000000, b"{}");
        assert_eq!(
            s,
            "v1=d3793e2b4103edfbd98cc19591832f5fad701d413db9fcae0ae7dab8184ed207"
        );
        assert_ne!(s, sign(b"Jefe", 1700000001, b"{}"));
        assert_ne!(s, sign(b"other", 1700000000, b"{}"));
    }

    fn test_video() -> Video {
        Video {
            id: String::new(),
            title: String::new(),
            status: crate::catalog::VideoStatus::Ready,
            progress: 1.0,
            error: None,
            source: String::new(),
            created_at_ms: 0,
            duration_s: None,
            width: None,
            height: None,
            has_poster: false,
            has_storyboard: false,
            renditions: Vec::new(),
            subtitles: Vec::new(),
            media_version: None,
            playable: true,
            time_to_playable_s: None,
            owner_id: None,
            owner: None,
            visibility: crate::catalog::Visibility::Public,
        }
    }

    #[test]
    fn a_deleted_video_has_one_event_id() {
        let v = Video {
            id: "0123456789abcdef".into(),
            title: "t".into(),
            status: crate::catalog::VideoStatus::Deleting,
            ..test_video()
        };
        let (a, b) = (event(EventType::Deleted, &v), event(EventType::Deleted, &v));
        assert_eq!(a.event_id, b.event_id);
        assert_eq!(a.event_id.len(), 32);
        let other = Video {
            id: "fedcba9876543210".into(),
            ..v.clone()
        };
        assert_ne!(a.event_id, event(EventType::Deleted, &other).event_id);
        let (r1, r2) = (event(EventType::Ready, &v), event(EventType::Ready, &v));
        assert_ne!(r1.event_id, r2.event_id);
        let body: serde_json::Value = serde_json::from_str(&a.payload).unwrap();
        assert_eq!(body["id"], a.event_id.as_str());
        assert_eq!(body["video"]["status"], "deleted");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let (b, c) = (Duration::from_secs(10), Duration::from_secs(60));
        let waits: Vec<u64> = (1..=5).map(|a| backoff(a, b, c).as_secs()).collect();
        assert_eq!(waits, vec![10, 20, 40, 60, 60]);
    }

    #[test]
    fn only_refusals_of_the_address_are_permanent() {
        assert!(WebhookError::Forbidden("x".into()).kind().is_permanent());
        assert!(!WebhookError::Status(500).kind().is_permanent());
        assert!(!WebhookError::Status(404).kind().is_permanent());
        assert!(!WebhookError::Timeout.kind().is_permanent());
        assert_eq!(WebhookError::Status(503).status(), Some(503));
    }
}

//! Webhook deliveries as the catalog stores them: an outbox row per event
//! per endpoint. What an event says and how it is signed and sent is decided
//! above the catalog (in `crate::webhooks`).

/// An event to announce, before it is fanned out to the endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// Random id (32 hex digits) receivers use to drop duplicates: it stays
    /// the same on every attempt of every endpoint.
    pub event_id: String,
    /// `video.ready`, `video.failed` or `video.deleted`.
    pub event_type: String,
    /// The video it is about.
    pub video_id: String,
    /// The JSON body, fixed at enqueue so every attempt sends the same bytes.
    pub payload: String,
}

/// An event with the endpoints it goes to, handed to a state change so
/// that its deliveries are queued in the same transaction: the change and
/// its announcement happen together or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The event.
    pub event: WebhookEvent,
    /// One delivery each.
    pub urls: Vec<String>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not yet accepted; due at `next_attempt_at` (or leased until then).
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Attempts used up, or refused for good.
    Failed,
}

impl DeliveryState {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    /// Parses the stored word; unknown words read as failed, the state
    /// nothing acts on.
    pub fn parse(s: &str) -> Self {
        match s {
            "pending" => DeliveryState::Pending,
            "delivered" => DeliveryState::Delivered,
            _ => DeliveryState::Failed,
        }
    }
}

/// One delivery row as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Delivery id (derived from event id and endpoint).
    pub id: String,
    /// The event's id (the `Reel-Webhook-Id` header).
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The video it is about.
    pub video_id: String,
    /// The endpoint.
    pub url: String,
    /// The JSON body sent.
    pub payload: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts begun so far.
    pub attempts: i64,
    /// When the next attempt is due (or the current lease ends), Unix ms.
    pub next_attempt_at: i64,
    /// HTTP status of the last answer, if one came.
    pub last_status: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the event was enqueued, Unix ms.
    pub created_at: i64,
    /// Last change, Unix ms.
    pub updated_at: i64,
}

/// A delivery claimed for one attempt: every write about it names the lease
/// token, so a sender whose lease lapsed cannot overwrite a newer attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDelivery {
    /// Delivery id.
    pub id: String,
    /// The event's id.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The endpoint.
    pub url: String,
    /// The JSON body to send.
    pub payload: String,
    /// This attempt's number, 1-based.
    pub attempt: i64,
    /// Token of this claim.
    pub lease_token: String,
}

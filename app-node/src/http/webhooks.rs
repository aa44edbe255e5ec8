//! `GET /api/webhooks/deliveries`: the webhook outbox as admins see it.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::Uploader;
use super::error::ApiError;
use super::query::ApiQuery;
use super::video_json::rfc3339;
use crate::catalog::{Delivery, Role};
use crate::state::AppState;

/// Most deliveries listed at once.
const MAX_LIMIT: u32 = 1000;

/// Query string of the list.
#[derive(Deserialize)]
pub struct ListQuery {
    /// How many of the newest deliveries (default 100, at most 1000).
    limit: Option<u32>,
}

/// One delivery in the list.
#[derive(Serialize)]
struct DeliveryJson {
    id: String,
    event_id: String,
    #[serde(rename = "type")]
    kind: String,
    video_id: String,
    url: String,
    state: &'static str,
    attempts: i64,
    last_status: Option<i64>,
    last_error: Option<String>,
    next_attempt_at: String,
    created_at: String,
    updated_at: String,
}

impl From<Delivery> for DeliveryJson {
    fn from(d: Delivery) -> Self {
        DeliveryJson {
            id: d.id,
            event_id: d.event_id,
            kind: d.event_type,
            video_id: d.video_id,
            url: d.url,
            state: d.state.as_str(),
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error,
            next_attempt_at: rfc3339(d.next_attempt_at),
            created_at: rfc3339(d.created_at),
            updated_at: rfc3339(d.updated_at),
        }
    }
}

/// The newest deliveries, newest first, with their state, attempts and
/// last answer. Admins only: endpoints and payloads of every uploader's
/// videos are in it.
pub async fn deliveries(
    State(state): State<AppState>,
    who: Uploader,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if who.role != Role::Admin {
        return Err(ApiError::forbidden(
            "only admins may see webhook deliveries",
        ));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_LIMIT);
    let list = state.catalog.webhooks.deliveries(limit).await?;
    let list: Vec<DeliveryJson> = list.into_iter().map(DeliveryJson::from).collect();
    Ok(Json(serde_json::json!({ "deliveries": list })))
}

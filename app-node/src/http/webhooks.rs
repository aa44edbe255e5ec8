//! `GET /api/webhooks/deliveries`: the webhook outbox as admins see it.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::Uploader;
use super::error::{ApiError, ErrorBody};
use super::query::ApiQuery;
use super::video_json::rfc3339;
use crate::catalog::{Delivery, Role};
use crate::state::AppState;

/// Most deliveries listed at once.
const MAX_LIMIT: u32 = 1000;

/// Query string of the list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// How many of the newest deliveries (default 100, clamped to 1..=1000).
    // u32: utoipa would say int32, whose range is smaller.
    #[param(value_type = Option<u64>, minimum = 0, maximum = 4294967295_u64)]
    limit: Option<u32>,
}

/// One delivery in the list.
#[derive(Serialize, utoipa::ToSchema)]
struct DeliveryJson {
    /// Delivery id.
    id: String,
    /// Id of the event, the same for every endpoint it goes to.
    event_id: String,
    /// Event type, e.g. `video.ready`.
    #[serde(rename = "type")]
    kind: String,
    /// The video the event is about.
    video_id: String,
    /// Endpoint URL.
    url: String,
    /// pending, delivered or failed.
    state: &'static str,
    /// Attempts so far.
    attempts: i64,
    /// HTTP status of the last attempt, if it got an answer.
    last_status: Option<i64>,
    /// Why the last attempt failed.
    last_error: Option<String>,
    /// RFC 3339.
    next_attempt_at: String,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339.
    updated_at: String,
}

/// The answer of the list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryList {
    /// Newest first.
    deliveries: Vec<DeliveryJson>,
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
#[utoipa::path(
    get, path = "/api/webhooks/deliveries", tag = "webhooks",
    operation_id = "webhookDeliveries",
    params(ListQuery),
    responses(
        (status = 200, description = "The newest deliveries", body = DeliveryList),
        (status = 400, description = "Unreadable query", body = ErrorBody),
        (status = 401, description = "No or unknown credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 503, description = "Busy; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn deliveries(
    State(state): State<AppState>,
    who: Uploader,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<DeliveryList>, ApiError> {
    if who.role != Role::Admin {
        return Err(ApiError::forbidden(
            "only admins may see webhook deliveries",
        ));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_LIMIT);
    let list = state.catalog.webhooks.deliveries(limit).await?;
    let list: Vec<DeliveryJson> = list.into_iter().map(DeliveryJson::from).collect();
    Ok(Json(DeliveryList { deliveries: list }))
}

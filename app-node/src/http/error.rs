//! The API error shape: `{"error":{"code","message"}}` with the right status.
//!
//! Internal failures are logged with their details and reach clients only as
//! a generic message, so paths and SQL never leak.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::catalog::CatalogError;
use crate::storage::StorageError;

/// An error answer of the HTTP API.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable kebab-case code.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Seconds for `Retry-After`, when the client should come back.
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 for an unknown video.
    pub fn video_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "video-not-found",
            "no video has this id",
        )
    }

    /// 403 for an authenticated caller who may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// The same error under another code.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }

    /// 503 asking the client to retry.
    pub fn unavailable(code: &'static str, message: impl Into<String>, retry_after: u32) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
        }
    }

    /// 500 for a page whose template failed (the failure is logged where
    /// it happened).
    pub fn page_failed() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "page-failed",
            "page rendering failed",
        )
    }

    fn internal(code: &'static str, detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(code, "internal error: {detail}");
        ApiError::unavailable(
            code,
            "the node could not complete the request; try again",
            2,
        )
    }
}

/// The JSON body of every API error: `{"error":{"code","message"}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable kebab-case code clients can branch on, e.g. `video-not-found`.
    #[schema(example = "video-not-found")]
    pub code: String,
    /// Human-readable message; its wording may change.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        });
        let mut resp = (self.status, body).into_response();
        if let Some(s) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"reel\""),
            );
        }
        resp
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            CatalogError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "not-found", m),
            other => ApiError::internal(other.code(), &other),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound(_) | StorageError::BadKey(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such file")
            }
            other => ApiError::internal(other.code(), &other),
        }
    }
}

impl From<crate::housekeeping::HousekeepingError> for ApiError {
    fn from(e: crate::housekeeping::HousekeepingError) -> Self {
        match e {
            crate::housekeeping::HousekeepingError::Catalog(e) => e.into(),
            crate::housekeeping::HousekeepingError::Storage(e) => e.into(),
        }
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        ApiError::internal("io", &e)
    }
}

//! Who is calling: an uploader by API token or by login session.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};

use super::error::ApiError;
use crate::auth::{digest, same};
use crate::state::AppState;

/// Name of the login session cookie.
pub const SESSION_COOKIE: &str = "reel_session";
/// Header carrying the session's CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// An authenticated uploader.
#[derive(Debug, Clone)]
pub struct Uploader {
    /// User id.
    pub user_id: i64,
}

/// The login session behind a cookie, if any.
#[derive(Debug, Clone)]
pub struct Session {
    /// User id.
    pub user_id: i64,
    /// Token forms and scripts must echo back.
    pub csrf: String,
    /// Digest of the session id (the catalog key).
    pub id_hash: String,
}

/// Reads one cookie from the request headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Looks up the session cookie.
pub async fn session(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, ApiError> {
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let id_hash = digest(id);
    Ok(state
        .catalog
        .accounts
        .session(&id_hash)
        .await?
        .map(|(user_id, csrf)| Session {
            user_id,
            csrf,
            id_hash,
        }))
}

fn unauthorized(code: &'static str, msg: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, msg)
}

impl FromRequestParts<AppState> for Uploader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    unauthorized(
                        "bad-authorization",
                        "use the header Authorization: Bearer <token>",
                    )
                })?;
            return match state.catalog.accounts.token_user(&digest(token)).await? {
                Some(user_id) => Ok(Uploader { user_id }),
                None => Err(unauthorized("invalid-token", "the API token is not valid")),
            };
        }
        let Some(s) = session(state, &parts.headers).await? else {
            return Err(unauthorized(
                "unauthorized",
                "an uploader token (Authorization: Bearer) or login is required",
            ));
        };
        // Cookies ride along on cross-site requests; a matching CSRF header
        // proves the request came from our own page.
        if parts.method != Method::GET && parts.method != Method::HEAD {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !same(sent, &s.csrf) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf-mismatch",
                    "the request lacks a valid CSRF token",
                ));
            }
        }
        Ok(Uploader { user_id: s.user_id })
    }
}

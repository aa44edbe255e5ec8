//! Who is calling: an uploader by API token or by login session.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};

use super::error::ApiError;
use crate::auth::{digest, same};
use crate::catalog::{Role, User, Video};
use crate::state::AppState;

/// Name of the login session cookie.
pub const SESSION_COOKIE: &str = "reel_session";
/// Header carrying the session's CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// An authenticated uploader: who they are and what they may do, as the
/// catalog says on this request.
#[derive(Debug, Clone)]
pub struct Uploader {
    /// User id (the owner id of the videos they create).
    pub user_id: i64,
    /// Their role.
    pub role: Role,
}

impl Uploader {
    fn of(user: &User) -> Self {
        Uploader {
            user_id: user.id,
            role: user.role,
        }
    }

    /// Refuses with 403 unless this uploader may change `video` (its owner
    /// or an admin).
    pub fn check_may_edit(&self, video: &Video) -> Result<(), ApiError> {
        if video.editable_by(self.user_id, self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "only the video's owner or an admin may change it",
            ))
        }
    }
}

/// The login session behind a cookie, if any.
#[derive(Debug, Clone)]
pub struct Session {
    /// User id.
    pub user_id: i64,
    /// The user's role.
    pub role: Role,
    /// Token forms and scripts must echo back.
    pub csrf: String,
    /// Digest of the session id (the catalog key).
    pub id_hash: String,
}

impl Session {
    /// The signed-in uploader.
    pub fn uploader(&self) -> Uploader {
        Uploader {
            user_id: self.user_id,
            role: self.role,
        }
    }
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
        .map(|(user, csrf)| Session {
            user_id: user.id,
            role: user.role,
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
        Uploader::authenticate(state, &parts.method, &parts.headers).await
    }
}

impl Uploader {
    /// The caller of a request with this method and these headers, by API
    /// token or by session (whose CSRF header is checked on changes).
    pub async fn authenticate(
        state: &AppState,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<Uploader, ApiError> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
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
                Some(user) => Ok(Uploader::of(&user)),
                None => Err(unauthorized("invalid-token", "the API token is not valid")),
            };
        }
        let Some(s) = session(state, headers).await? else {
            return Err(unauthorized(
                "unauthorized",
                "an uploader token (Authorization: Bearer) or login is required",
            ));
        };
        // Cookies ride along on cross-site requests; a matching CSRF header
        // proves the request came from our own page.
        if method != Method::GET && method != Method::HEAD {
            let sent = headers
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
        Ok(s.uploader())
    }
}

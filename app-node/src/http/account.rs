//! Uploader pages: sign in, sign out and the upload form.
//!
//! The login form is protected by a double-submit cookie (there is no session
//! yet); signed-in forms and scripts echo the session's own CSRF token.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use minijinja::context;
use serde::Deserialize;

use super::auth::{cookie, session, SESSION_COOKIE};
use super::error::ApiError;
use super::templates::page;
use crate::auth::{digest, new_secret, same, verify_password};
use crate::state::AppState;

const LOGIN_CSRF_COOKIE: &str = "reel_login_csrf";
const SESSION_DAYS: i64 = 14;

fn set_cookie(resp: &mut Response, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn login_page(error: Option<&str>, status: StatusCode) -> Response {
    let token = new_secret();
    let mut r = page(
        "login.html",
        context! { login_csrf => token.clone(), error => error },
    );
    *r.status_mut() = status;
    set_cookie(
        &mut r,
        format!(
            "{LOGIN_CSRF_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600"
        ),
    );
    r
}

/// `GET /login`.
pub async fn login_form() -> Response {
    login_page(None, StatusCode::OK)
}

/// Fields of the login form.
#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    csrf: String,
}

/// `POST /login`: checks the password and starts a session.
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, ApiError> {
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    if expected.is_empty() || !same(expected, &f.csrf) {
        return Ok(login_page(
            Some("The form expired; please try again."),
            StatusCode::FORBIDDEN,
        ));
    }
    let user = state.catalog.accounts.user_password(f.name.trim()).await?;
    let ok = match &user {
        Some((_, hash)) => {
            let (pw, hash) = (f.password.clone(), hash.clone());
            tokio::task::spawn_blocking(move || verify_password(&pw, &hash))
                .await
                .unwrap_or(false)
        }
        None => false,
    };
    let Some((user_id, _)) = user.filter(|_| ok) else {
        return Ok(login_page(
            Some("Wrong name or password."),
            StatusCode::UNAUTHORIZED,
        ));
    };
    let sid = new_secret();
    let ttl = std::time::Duration::from_secs(SESSION_DAYS as u64 * 86_400);
    state
        .catalog
        .accounts
        .add_session(&digest(&sid), user_id, &new_secret(), ttl)
        .await?;
    let mut r = Redirect::to("/upload").into_response();
    set_cookie(
        &mut r,
        format!(
            "{SESSION_COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
            SESSION_DAYS * 86_400
        ),
    );
    set_cookie(
        &mut r,
        format!("{LOGIN_CSRF_COOKIE}=; Path=/login; Max-Age=0"),
    );
    Ok(r)
}

/// Fields of the sign-out form.
#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

/// `POST /logout`.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<LogoutForm>,
) -> Result<Response, ApiError> {
    if let Some(s) = session(&state, &headers).await? {
        if !same(&s.csrf, &f.csrf) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf-mismatch",
                "the form expired",
            ));
        }
        state.catalog.accounts.delete_session(&s.id_hash).await?;
    }
    let mut r = Redirect::to("/").into_response();
    set_cookie(
        &mut r,
        format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    Ok(r)
}

/// `GET /upload`: the form, for signed-in uploaders only.
pub async fn upload_form(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    match session(&state, &headers).await? {
        Some(s) => Ok(page(
            "upload.html",
            context! { signed_in => true, csrf => s.csrf },
        )),
        None => Ok(Redirect::to("/login").into_response()),
    }
}

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
use super::client::Client;
use super::error::ApiError;
use super::templates::page;
use crate::auth::{digest, new_secret, same};
use crate::state::AppState;

const LOGIN_CSRF_COOKIE: &str = "reel_login_csrf";
const SESSION_DAYS: i64 = 14;

fn set_cookie(resp: &mut Response, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Cookie attributes every cookie we set shares; `Secure` when the client
/// came over HTTPS (as a trusted balancer reports), so the browser never
/// sends the cookie in the clear.
fn attrs(client: &Client) -> &'static str {
    if client.https {
        "HttpOnly; Secure"
    } else {
        "HttpOnly"
    }
}

fn login_page(error: Option<&str>, status: StatusCode, client: &Client) -> Response {
    let token = new_secret();
    let mut r = page(
        "login.html",
        context! { login_csrf => token.clone(), error => error },
    );
    *r.status_mut() = status;
    set_cookie(
        &mut r,
        format!(
            "{LOGIN_CSRF_COOKIE}={token}; Path=/login; {}; SameSite=Strict; Max-Age=3600",
            attrs(client)
        ),
    );
    r
}

/// `GET /login`.
pub async fn login_form(client: Client) -> Response {
    login_page(None, StatusCode::OK, &client)
}

/// The sign-in page again, with 429 and `Retry-After`.
fn too_many(client: &Client, wait: std::time::Duration) -> Response {
    let secs = wait.as_secs().max(1);
    let mut r = login_page(
        Some(&format!(
            "Too many sign-in attempts; try again in {secs} seconds."
        )),
        StatusCode::TOO_MANY_REQUESTS,
        client,
    );
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Fields of the login form.
#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    csrf: String,
}

/// `POST /login`: checks the password and starts a session. Attempts are
/// limited per client address and per user name; the check itself runs on
/// the password pool, against a decoy hash when the name is unknown.
pub async fn login(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, ApiError> {
    if let Err(wait) = state.login_throttle.check_ip(client.ip) {
        state.metrics.shed.with_label_values(&["login-ip"]).inc();
        return Ok(too_many(&client, wait));
    }
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    if expected.is_empty() || !same(expected, &f.csrf) {
        return Ok(login_page(
            Some("The form expired; please try again."),
            StatusCode::FORBIDDEN,
            &client,
        ));
    }
    let name = f.name.trim();
    if let Err(wait) = state.login_throttle.check_user(name, client.ip) {
        state.metrics.shed.with_label_values(&["login-user"]).inc();
        return Ok(too_many(&client, wait));
    }
    let user = state.catalog.accounts.user_password(name).await?;
    let stored = user.as_ref().map(|(_, hash)| hash.clone());
    let ok = match state.passwords.verify(f.password, stored).await {
        Ok(ok) => ok,
        Err(busy) => {
            let mut r = login_page(
                Some(&busy.to_string()),
                StatusCode::SERVICE_UNAVAILABLE,
                &client,
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            return Ok(r);
        }
    };
    let Some((user_id, _)) = user.filter(|_| ok) else {
        return Ok(login_page(
            Some("Wrong name or password."),
            StatusCode::UNAUTHORIZED,
            &client,
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
            "{SESSION_COOKIE}={sid}; Path=/; {}; SameSite=Lax; Max-Age={}",
            attrs(&client),
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
    client: Client,
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
        format!(
            "{SESSION_COOKIE}=; Path=/; {}; SameSite=Lax; Max-Age=0",
            attrs(&client)
        ),
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

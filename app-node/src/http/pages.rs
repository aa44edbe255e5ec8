//! Viewer pages: the catalog and the player.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use minijinja::context;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::auth::{session, Session};
use super::client::Client;
use super::embed::{public_origin, share_size};
use super::error::ApiError;
use super::listing_cache::ListingCache;
use super::templates::{html, page, render};
use super::video_json::VideoJson;
use crate::catalog::{valid_id, Video, VideoStatus};
use crate::state::AppState;

const PER_PAGE: u32 = 24;

/// `mm:ss` or `h:mm:ss`.
pub fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn card(v: &Video) -> minijinja::Value {
    let j = VideoJson::from(v);
    context! {
        id => j.id, title => j.title, status => j.status, poster_url => j.poster_url,
        playable => j.playable,
        created_at => j.created_at.clone(), date => j.created_at.get(..10).unwrap_or(""),
        duration => v.duration_s.map(clock).unwrap_or_default(),
        percent => (v.progress * 100.0).floor() as i64,
    }
}

/// Query of the catalog page.
#[derive(Deserialize)]
pub struct IndexQuery {
    q: Option<String>,
    page: Option<String>,
}

/// `GET /`: ready videos newest first, then what is still processing.
pub async fn index(
    State(state): State<AppState>,
    Extension(listings): Extension<ListingCache>,
    Query(q): Query<IndexQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let page_no = q
        .page
        .as_deref()
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(1)
        .clamp(1, 100_000);
    let query =
        q.q.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(200).collect::<String>());
    let sess = session(&state, &headers).await?;
    if sess.is_some() {
        return Ok(html(
            render_index(&state, query.as_deref(), page_no, sess).await?,
        ));
    }
    // Visitors who are not signed in all see the same page: kept a moment.
    let key = format!("page {page_no} {}", query.as_deref().unwrap_or(""));
    let body = listings
        .get_or_render(key, async {
            let r = render_index(&state, query.as_deref(), page_no, None).await?;
            Ok(bytes::Bytes::from(r))
        })
        .await?;
    Ok(html(body))
}

/// The catalog page's HTML for a visitor, signed in or not.
async fn render_index(
    state: &AppState,
    query: Option<&str>,
    page_no: u32,
    sess: Option<Session>,
) -> Result<String, ApiError> {
    let home = state.catalog.videos.home(query, page_no, PER_PAGE).await?;
    render(
        "index.html",
        context! {
            videos => home.ready.iter().map(card).collect::<Vec<_>>(),
            processing => home.processing.iter().map(card).collect::<Vec<_>>(),
            prev_query => (page_no > 1).then(|| page_query(query, page_no - 1)),
            next_query => home.more.then(|| page_query(query, page_no + 1)),
            q => query,
            signed_in => sess.is_some(),
            csrf => sess.map(|s| s.csrf),
            qoe => state.config.qoe.enabled,
        },
    )
    .ok_or_else(ApiError::page_failed)
}

/// The query string of another page of the catalog, the search kept and
/// form-encoded (`page=2&q=sun+%26+sea`).
fn page_query(query: Option<&str>, page: u32) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    s.append_pair("page", &page.to_string());
    if let Some(q) = query {
        s.append_pair("q", q);
    }
    s.finish()
}

/// Query of the watch and embed pages: a playback token for a private
/// video (the start time `t` is read by the player script).
#[derive(Deserialize)]
pub struct TokenQuery {
    /// A token from `POST /api/videos/{id}/playback-token`.
    pub token: Option<String>,
}

/// `GET /watch/{id}[?token=…]`: the player, or the status while
/// processing. A private video plays for its owner and admins (with a
/// token minted for the page) and for anyone with a valid `token`; anyone
/// else gets a 403 page that says why.
pub async fn watch(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
    client: Client,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !valid_id(&id) {
        return Ok(not_found());
    }
    let Some(v) = state
        .catalog
        .videos
        .get(&id)
        .await?
        .filter(|v| v.status != VideoStatus::Deleting)
    else {
        return Ok(not_found());
    };
    let sess = session(&state, &headers).await?;
    let can_edit = sess
        .as_ref()
        .is_some_and(|s| v.editable_by(s.user_id, s.role));
    let token = match super::playback::page_token(&state, &v, q.token.as_deref(), can_edit) {
        Ok(t) => t,
        Err(why) => return Ok(refused_page(why, sess.as_ref())),
    };
    let j = VideoJson::signed(&v, token.as_deref());
    let private = v.visibility == crate::catalog::Visibility::Private;
    // The oEmbed discovery link names this page by the address the viewer
    // used, as consumers that found the page will.
    let oembed_url = public_origin(&client, &headers)
        .filter(|_| !private)
        .map(|origin| {
            let watch = format!("{origin}/watch/{}", v.id);
            let q = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("url", &watch)
                .append_pair("format", "json")
                .finish();
            format!("{origin}/oembed?{q}")
        });
    let (embed_width, embed_height) = share_size(&v);
    Ok(page(
        "watch.html",
        context! {
            src => player_src(&v, token.as_deref()),
            oembed_url, embed_width, embed_height, private,
            date => j.created_at.get(..10).unwrap_or("").to_string(),
            duration => v.duration_s.map(clock),
            percent => (v.progress * 100.0).floor() as i64,
            v => j,
            signed_in => sess.is_some(),
            // Controls that change the video only for those who may.
            can_edit,
            csrf => sess.map(|s| s.csrf),
            qoe => state.config.qoe.enabled,
        },
    ))
}

/// The player's master playlist URL (signed with `token` when given),
/// tagged with the subtitle tracks; `None` until the video is playable.
pub(super) fn player_src(v: &Video, token: Option<&str>) -> Option<String> {
    VideoJson::signed(v, token)
        .hls_url
        .map(|u| format!("{u}?v={}", tracks_tag(v)))
}

/// The 403 page of a private video the visitor may not play.
fn refused_page(why: super::playback::PageRefusal, sess: Option<&Session>) -> Response {
    let mut r = page(
        "private.html",
        context! {
            message => why.message(),
            signed_in => sess.is_some(),
            csrf => sess.map(|s| s.csrf.clone()),
        },
    );
    *r.status_mut() = axum::http::StatusCode::FORBIDDEN;
    r
}

/// Changes whenever the subtitle tracks do. The master playlist may be
/// cached for a few seconds; a new tag in its URL makes the page that an
/// uploader reloads after adding a track see the new master at once.
fn tracks_tag(v: &Video) -> String {
    let mut h = Sha256::new();
    for s in &v.subtitles {
        h.update(s.lang.as_bytes());
        h.update([0]);
        h.update(s.label.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())[..12].to_string()
}

fn not_found() -> Response {
    let mut r = page("base.html", context! {});
    *r.status_mut() = axum::http::StatusCode::NOT_FOUND;
    r.into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn clock_formats() {
        assert_eq!(super::clock(5.4), "0:05");
        assert_eq!(super::clock(75.0), "1:15");
        assert_eq!(super::clock(3725.0), "1:02:05");
    }

    #[test]
    fn page_links_keep_the_search_encoded() {
        assert_eq!(super::page_query(None, 2), "page=2");
        assert_eq!(
            super::page_query(Some("sun & sea/100%"), 3),
            "page=3&q=sun+%26+sea%2F100%25"
        );
    }
}

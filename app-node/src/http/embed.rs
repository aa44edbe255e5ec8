//! The player on other sites: `/embed/{id}` (the player alone, for an
//! `<iframe>`) and `/oembed` (the iframe code for sites that discover it
//! from a watch page's link, as blog engines and chat apps do).

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::client::Client;
use super::error::{ApiError, ErrorBody};
use super::pages::{clock, player_src, TokenQuery};
use super::query::ApiQuery;
use super::templates::{csp_framed_by, page};
use super::video_json::VideoJson;
use crate::catalog::{valid_id, Video, VideoStatus};
use crate::state::AppState;

/// Width of an embed when the consumer sets no bound, in CSS pixels.
const DEFAULT_WIDTH: u32 = 640;

/// Named in oEmbed answers.
const PROVIDER: &str = "Reel";

/// The video `id` if it can be embedded: known, not being deleted, ready.
/// (A video still encoding would show a stalled player on someone else's
/// site.) A private one plays only with a valid token (see [`embed`]).
async fn embeddable(state: &AppState, id: &str) -> Result<Option<Video>, ApiError> {
    if !valid_id(id) {
        return Ok(None);
    }
    Ok(state
        .catalog
        .videos
        .get(id)
        .await?
        .filter(|v| v.status == VideoStatus::Ready))
}

/// `GET /embed/{id}[?t=SECONDS][&token=…]`: the player alone (the start
/// time is read by the player script). Its CSP lets the sites in
/// `embed.frame_ancestors` frame it; every other page refuses all frames.
/// An unknown or unready video gets a 404 page with the same policy, so the
/// host site shows the reason rather than a browser error; a private video
/// without a valid `token` gets a 403 page saying so (an embed has no
/// signed-in owner: the token is the only way to play it).
pub async fn embed(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, ApiError> {
    let video = embeddable(&state, &id).await?;
    let token = match &video {
        Some(v) => super::playback::page_token(&state, v, q.token.as_deref(), false),
        None => Ok(None),
    };
    let mut resp = match (&video, token) {
        (Some(v), Ok(token)) => page(
            "embed.html",
            context! {
                src => player_src(v, token.as_deref()),
                duration => v.duration_s.map(clock),
                v => VideoJson::signed(v, token.as_deref()),
                qoe => state.config.qoe.enabled,
            },
        ),
        (Some(_), Err(why)) => {
            let mut r = page("embed.html", context! { message => why.message() });
            *r.status_mut() = StatusCode::FORBIDDEN;
            r
        }
        (None, _) => {
            let mut r = page("embed.html", context! {});
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    };
    let csp = csp_framed_by(&state.config.embed.frame_ancestors_value());
    if let Ok(v) = HeaderValue::from_str(&csp) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    Ok(resp)
}

/// Query of `/oembed`, all text so that bad values get our JSON error.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OEmbedQuery {
    /// A `/watch/{id}` or `/embed/{id}` URL of this site (same host as the
    /// request).
    url: Option<String>,
    /// Largest width in pixels, a positive integer.
    #[param(value_type = Option<String>, pattern = "^[0-9]*$")]
    maxwidth: Option<String>,
    /// Largest height in pixels, a positive integer.
    #[param(value_type = Option<String>, pattern = "^[0-9]*$")]
    maxheight: Option<String>,
    /// Only `json` (the default; also empty) is offered: any other format
    /// is 501, as oEmbed asks.
    #[param(value_type = Option<String>, pattern = "^(json)?$")]
    format: Option<String>,
}

/// An oEmbed 1.0 `video` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OEmbed {
    /// `1.0`.
    version: &'static str,
    /// `video`.
    #[serde(rename = "type")]
    kind: &'static str,
    /// The video's title.
    title: String,
    /// This service's name.
    provider_name: &'static str,
    /// This site's root URL.
    provider_url: String,
    /// The `<iframe>` to paste.
    html: String,
    /// Frame width in pixels.
    width: u32,
    /// Frame height in pixels.
    height: u32,
    /// Poster image, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    thumbnail_url: Option<String>,
}

/// `GET /oembed?url=…[&maxwidth=&maxheight=&format=json]`.
///
/// `url` is a watch or embed URL of ours: its host must be the one this
/// request was sent to (the balancer's or a CDN's name, which a node cannot
/// know otherwise), so the answer never points frames at another site under
/// our name; the answer's absolute URLs reuse that origin. 400 for a URL
/// that is not ours, 404 for a video that cannot be embedded, 501 for any
/// format but JSON (oEmbed's answer for an unsupported format).
#[utoipa::path(
    get, path = "/oembed", tag = "embedding",
    operation_id = "oembed",
    params(OEmbedQuery),
    responses(
        (status = 200, description = "oEmbed 1.0 video answer", body = OEmbed),
        (status = 400, description = "Unreadable query, bad size, or a URL not of this site", body = ErrorBody),
        (status = 404, description = "No video that can be embedded", body = ErrorBody),
        (status = 501, description = "A format other than json", body = ErrorBody),
        (status = 503, description = "Busy; see Retry-After", body = ErrorBody),
    ),
    security(()),
)]
pub async fn oembed(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    ApiQuery(q): ApiQuery<OEmbedQuery>,
) -> Result<Response, ApiError> {
    // Empty like absent, as for the sizes: `format=` asks for the default.
    match q.format.as_deref() {
        None | Some("" | "json") => {}
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "format-unsupported",
                "only format=json is offered",
            ))
        }
    }
    let bound = |v: &Option<String>, name: &str| -> Result<u32, ApiError> {
        match v.as_deref() {
            None | Some("") => Ok(u32::MAX),
            Some(s) => s.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                ApiError::bad_request("bad-size", format!("{name} must be a positive integer"))
            }),
        }
    };
    let (maxw, maxh) = (
        bound(&q.maxwidth, "maxwidth")?,
        bound(&q.maxheight, "maxheight")?,
    );
    let asked_host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let target = q
        .url
        .as_deref()
        .and_then(OurUrl::parse)
        .filter(|t| !asked_host.is_empty() && t.authority.eq_ignore_ascii_case(asked_host))
        .ok_or_else(|| {
            ApiError::bad_request(
                "not-ours",
                "url must be a /watch/{id} or /embed/{id} URL of this site",
            )
        })?;
    // Private videos are refused like unknown ones: an oEmbed answer is
    // for anyone to embed, and a token in it would be handed to all.
    let v = embeddable(&state, &target.id)
        .await?
        .filter(|v| v.visibility != crate::catalog::Visibility::Private)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such video"))?;
    let (width, height) = fit(v.width, v.height, maxw, maxh);
    let src = match target.start {
        Some(t) => format!("{}/embed/{}?t={t}", target.origin, v.id),
        None => format!("{}/embed/{}", target.origin, v.id),
    };
    let j = VideoJson::from(&v);
    let body = OEmbed {
        version: "1.0",
        kind: "video",
        html: iframe(&src, &v.title, width, height),
        title: v.title,
        provider_name: PROVIDER,
        provider_url: format!("{}/", target.origin),
        width,
        height,
        thumbnail_url: j.poster_url.map(|p| format!("{}{p}", target.origin)),
    };
    let mut resp = Json(body).into_response();
    // Consumers ask again when they render; a title may change.
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(resp)
}

/// A watch or embed URL of ours, taken apart.
#[derive(Debug, PartialEq, Eq)]
struct OurUrl {
    /// `scheme://host[:port]` as the consumer wrote it.
    origin: String,
    /// `host[:port]`, to compare with the request's `Host`.
    authority: String,
    id: String,
    /// Whole seconds of a `?t=` start.
    start: Option<u64>,
}

impl OurUrl {
    fn parse(s: &str) -> Option<OurUrl> {
        let u = url::Url::parse(s).ok()?;
        if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
            return None;
        }
        let rest = u
            .path()
            .strip_prefix("/watch/")
            .or_else(|| u.path().strip_prefix("/embed/"))?;
        if !valid_id(rest) {
            return None;
        }
        let start = u
            .query_pairs()
            .find(|(k, _)| k == "t")
            .and_then(|(_, v)| v.trim_end_matches('s').parse::<f64>().ok())
            .filter(|t| t.is_finite() && *t >= 1.0)
            .map(|t| t.min(1e9) as u64);
        let authority = match u.port() {
            Some(p) => format!("{}:{p}", u.host_str()?),
            None => u.host_str()?.to_string(),
        };
        Some(OurUrl {
            authority,
            origin: u.origin().ascii_serialization(),
            id: rest.to_string(),
            start,
        })
    }
}

/// The embed's size: [`DEFAULT_WIDTH`] wide at the video's aspect ratio
/// (16:9 when unknown), shrunk to fit the consumer's bounds.
fn fit(w: Option<i64>, h: Option<i64>, maxw: u32, maxh: u32) -> (u32, u32) {
    let aspect = match (w, h) {
        (Some(w), Some(h)) if w > 0 && h > 0 => w as f64 / h as f64,
        _ => 16.0 / 9.0,
    };
    let mut width = f64::from(DEFAULT_WIDTH.min(maxw));
    let mut height = width / aspect;
    if height > f64::from(maxh) {
        height = f64::from(maxh);
        width = height * aspect;
    }
    (
        (width.round() as u32).max(1),
        (height.round() as u32).max(1),
    )
}

/// Escapes text for an HTML attribute value in double quotes.
pub fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// The iframe code, the same shape the watch page's share box builds.
pub fn iframe(src: &str, title: &str, width: u32, height: u32) -> String {
    format!(
        "<iframe src=\"{}\" width=\"{width}\" height=\"{height}\" title=\"{}\" frameborder=\"0\" \
         allow=\"autoplay; fullscreen; picture-in-picture\" allowfullscreen></iframe>",
        escape_attr(src),
        escape_attr(title)
    )
}

/// Size of the share box's iframe code for a video.
pub fn share_size(v: &Video) -> (u32, u32) {
    fit(v.width, v.height, u32::MAX, u32::MAX)
}

/// The page's own origin as the viewer reached it, for the oEmbed
/// discovery link: `Host`, and the scheme a trusted proxy reports. `None`
/// when the host is missing or not a plain host name.
pub fn public_origin(client: &Client, headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let plain = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    let scheme = if client.https { "https" } else { "http" };
    plain.then(|| format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_keep_the_aspect_and_the_bounds() {
        assert_eq!(fit(Some(1920), Some(1080), u32::MAX, u32::MAX), (640, 360));
        assert_eq!(fit(None, None, u32::MAX, u32::MAX), (640, 360));
        assert_eq!(fit(Some(1920), Some(1080), 320, u32::MAX), (320, 180));
        assert_eq!(fit(Some(1920), Some(1080), 640, 90), (160, 90));
        assert_eq!(fit(Some(1080), Some(1920), u32::MAX, 400), (225, 400));
    }

    #[test]
    fn only_watch_and_embed_paths_are_ours() {
        let id = "a".repeat(16);
        let ok = OurUrl::parse(&format!("https://cdn.example:8443/watch/{id}?t=42")).unwrap();
        assert_eq!(ok.origin, "https://cdn.example:8443");
        assert_eq!(ok.start, Some(42));
        assert!(OurUrl::parse(&format!("http://x/embed/{id}")).is_some());
        for bad in [
            format!("ftp://x/watch/{id}"),
            format!("http://x/api/videos/{id}"),
            format!("http://x/watch/{id}/more"),
            "http://x/watch/../etc".to_string(),
            "not a url".to_string(),
        ] {
            assert!(OurUrl::parse(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn attributes_are_escaped() {
        let html = iframe("https://x/embed/a", "\"><script>alert(1)</script>&'", 1, 1);
        assert!(
            html.contains("title=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;&#39;\"")
        );
        assert!(!html.contains("<script"));
    }
}

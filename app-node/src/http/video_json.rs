//! The public JSON shape of a video.

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::catalog::{Rendition, Video, VideoStatus, Visibility};

/// A rendition as clients see it: the rendition's own facts plus the
/// absolute URL of its media playlist.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RenditionJson {
    /// Name, size, bandwidths, codecs, frame rate, relative playlist path.
    #[serde(flatten)]
    pub rendition: Rendition,
    /// Media playlist URL.
    pub url: String,
}

/// A subtitle track as clients see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubtitleJson {
    /// Language tag.
    pub lang: String,
    /// Menu label.
    pub label: String,
    /// WebVTT URL.
    pub url: String,
}

/// The video resource of the API.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VideoJson {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// uploading, queued, downloading, transcoding, ready or failed.
    #[schema(inline)]
    pub status: VideoStatus,
    /// 0..1.
    pub progress: f64,
    /// Failure reason.
    pub error: Option<String>,
    /// Upload date, RFC 3339.
    pub created_at: String,
    /// Duration in seconds once known.
    pub duration_s: Option<f64>,
    /// Display width once known.
    pub width: Option<i64>,
    /// Display height once known.
    pub height: Option<i64>,
    /// Whether it can be watched: from the moment every rung has its first
    /// segments, while `status` is still `transcoding`, and once ready.
    pub playable: bool,
    /// Seconds from the start of the encoding attempt until it was
    /// playable.
    pub time_to_playable_s: Option<f64>,
    /// `public`, `unlisted` or `private`.
    pub visibility: Visibility,
    /// Master playlist, once playable. For a private video, a signed URL
    /// (`/v/{token}/…`) when the caller may play it, else `null`; the same
    /// holds for every media URL below.
    pub hls_url: Option<String>,
    /// Poster JPEG, once ready.
    pub poster_url: Option<String>,
    /// WebVTT thumbnails track for seek-bar previews, once ready.
    pub storyboard_url: Option<String>,
    /// Player page.
    pub watch_url: String,
    /// User name of the uploader who owns it, shown only to callers who
    /// may edit the video (its owner, admins): a user name is half of a
    /// sign-in, so the public never sees it. Absent too when the video has
    /// no owner (imported before ownership or from the CLI, or its owner
    /// was removed), which leaves it to admins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Rungs, highest first.
    pub renditions: Vec<RenditionJson>,
    /// Subtitle tracks.
    pub subtitles: Vec<SubtitleJson>,
}

/// RFC 3339 text of a Unix-milliseconds time.
pub fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

impl From<&Video> for VideoJson {
    /// Plain `/media/…` URLs: none for a private video.
    fn from(v: &Video) -> Self {
        VideoJson::signed(v, None)
    }
}

impl VideoJson {
    /// The same JSON with the owner's user name, for a caller who may edit
    /// the video.
    pub fn with_owner(mut self, v: &Video) -> Self {
        self.owner = v.owner.clone();
        self
    }

    /// The JSON of `v` with its media URLs under `/v/{token}/…` when a
    /// token is given, else under `/media/…` (and none at all for a
    /// private video, whose plain URLs are refused).
    pub fn signed(v: &Video, token: Option<&str>) -> Self {
        let ready = v.status == VideoStatus::Ready;
        let prefix = v.media_prefix();
        let media = |p: &str| match token {
            Some(t) => reel_playback::signed_path(t, &prefix, p),
            None => format!("/media/{prefix}/{p}"),
        };
        let reachable = token.is_some() || v.visibility != Visibility::Private;
        let playable = ready || (v.playable && v.media_version.is_some());
        VideoJson {
            id: v.id.clone(),
            title: v.title.clone(),
            status: v.status,
            progress: (v.progress * 1000.0).round() / 1000.0,
            error: v.error.clone(),
            created_at: rfc3339(v.created_at_ms),
            duration_s: v.duration_s,
            width: v.width,
            height: v.height,
            playable,
            time_to_playable_s: v.time_to_playable_s,
            visibility: v.visibility,
            hls_url: (reachable && playable).then(|| media("master.m3u8")),
            poster_url: (reachable && ready && v.has_poster).then(|| media("poster.jpg")),
            storyboard_url: (reachable && ready && v.has_storyboard)
                .then(|| media("storyboard.vtt")),
            watch_url: format!("/watch/{}", v.id),
            owner: None,
            renditions: v
                .renditions
                .iter()
                .filter(|_| reachable)
                .map(|r| RenditionJson {
                    url: media(&r.playlist),
                    rendition: r.clone(),
                })
                .collect(),
            subtitles: v
                .subtitles
                .iter()
                .filter(|_| reachable)
                .map(|s| SubtitleJson {
                    lang: s.lang.clone(),
                    label: s.label.clone(),
                    url: media(&s.path),
                })
                .collect(),
        }
    }
}

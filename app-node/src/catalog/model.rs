//! Catalog records, independent of the SQL backend.

use rand::Rng;
use serde::{Deserialize, Serialize};

pub use crate::media::Rendition;

/// Lifecycle of a video as viewers and uploaders see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VideoStatus {
    /// A resumable upload still receiving bytes; no job yet.
    Uploading,
    /// Waiting for a worker.
    Queued,
    /// Fetching the source.
    Downloading,
    /// Probing and encoding.
    Transcoding,
    /// Published and playable.
    Ready,
    /// Gave up; `error` says why.
    Failed,
    /// Being deleted: hidden from viewers and the API, its media going.
    Deleting,
}

impl VideoStatus {
    /// Text stored in the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            VideoStatus::Uploading => "uploading",
            VideoStatus::Queued => "queued",
            VideoStatus::Downloading => "downloading",
            VideoStatus::Transcoding => "transcoding",
            VideoStatus::Ready => "ready",
            VideoStatus::Failed => "failed",
            VideoStatus::Deleting => "deleting",
        }
    }

    /// Parses stored text; unknown text reads as failed rather than panicking.
    pub fn parse(s: &str) -> Self {
        match s {
            "uploading" => VideoStatus::Uploading,
            "queued" => VideoStatus::Queued,
            "downloading" => VideoStatus::Downloading,
            "transcoding" => VideoStatus::Transcoding,
            "ready" => VideoStatus::Ready,
            "deleting" => VideoStatus::Deleting,
            _ => VideoStatus::Failed,
        }
    }
}

/// Who may find and play a video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Listed in the catalog, the API's listings and search; plays by its
    /// plain `/media/…` URLs.
    Public,
    /// Left out of every listing and search; plays by its plain URLs for
    /// anyone who has the link.
    Unlisted,
    /// Left out of every listing and search, and shown to its owner and
    /// admins only; plays only through a signed URL (`/v/{token}/…`), its
    /// plain media URLs are refused.
    Private,
}

impl Visibility {
    /// Text stored in the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Unlisted => "unlisted",
            Visibility::Private => "private",
        }
    }

    /// Parses stored or requested text; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "public" => Some(Visibility::Public),
            "unlisted" => Some(Visibility::Unlisted),
            "private" => Some(Visibility::Private),
            _ => None,
        }
    }

    /// Reads the stored column; unknown text reads as private, the value
    /// that shows the least.
    pub fn from_stored(s: &str) -> Self {
        Self::parse(s).unwrap_or(Visibility::Private)
    }
}

/// A subtitle track of a video.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Subtitle {
    /// BCP 47 language tag.
    pub lang: String,
    /// Label shown in the player.
    pub label: String,
    /// WebVTT path under the video's prefix.
    pub path: String,
}

/// A video with everything viewers need.
#[derive(Debug, Clone)]
pub struct Video {
    /// Random id, 16 lowercase hex digits.
    pub id: String,
    /// Title given by the uploader.
    pub title: String,
    /// Lifecycle state.
    pub status: VideoStatus,
    /// 0..1 through the whole ingest.
    pub progress: f64,
    /// Why it failed, fit for users.
    pub error: Option<String>,
    /// Where it came from (URL or uploaded file name).
    pub source: String,
    /// Upload date, Unix milliseconds.
    pub created_at_ms: i64,
    /// Duration once probed.
    pub duration_s: Option<f64>,
    /// Display width once probed.
    pub width: Option<i64>,
    /// Display height once probed.
    pub height: Option<i64>,
    /// Whether a poster was published.
    pub has_poster: bool,
    /// Whether a seek-bar storyboard was published.
    pub has_storyboard: bool,
    /// Published rungs, highest first.
    pub renditions: Vec<Rendition>,
    /// Published subtitle tracks.
    pub subtitles: Vec<Subtitle>,
    /// Folder of the published version below the video's prefix; `None`
    /// before the first publish (and for trees published before versioning,
    /// which sit directly under the video's prefix).
    pub media_version: Option<String>,
    /// Whether viewers can watch it: from the moment every rung has its
    /// first segments (while still processing), and once ready.
    pub playable: bool,
    /// Seconds from the start of the attempt that made it playable until
    /// it was.
    pub time_to_playable_s: Option<f64>,
    /// Id of the uploader who created it; `None` for videos from before
    /// ownership, CLI imports without an owner, and videos whose owner was
    /// removed. Only admins may edit those.
    pub owner_id: Option<i64>,
    /// Name of that uploader, read with the video.
    pub owner: Option<String>,
    /// Who may find and play it.
    pub visibility: Visibility,
}

impl Video {
    /// Store prefix of the published tree: `{id}/{version}` or, for trees
    /// published before versioning, `{id}`.
    pub fn media_prefix(&self) -> String {
        match &self.media_version {
            Some(v) => format!("{}/{}", self.id, v),
            None => self.id.clone(),
        }
    }

    /// Whether the user `user_id` with `role` may rename it, delete it or
    /// add tracks to it: its owner, or any admin. Ownerless videos are left
    /// to admins, as nobody can prove they uploaded them.
    pub fn editable_by(&self, user_id: i64, role: Role) -> bool {
        role == Role::Admin || self.owner_id == Some(user_id)
    }
}

/// Which videos a listing returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// Every status.
    All,
    /// Published videos only.
    Ready,
    /// Uploading, queued, downloading or transcoding.
    Processing,
}

impl StatusFilter {
    /// Stored-text form used in queries.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusFilter::All => "all",
            StatusFilter::Ready => "ready",
            StatusFilter::Processing => "processing",
        }
    }
}

/// A page of videos.
#[derive(Debug, Clone)]
pub struct VideoPage {
    /// Videos on this page.
    pub videos: Vec<Video>,
    /// Matches across all pages.
    pub total: i64,
}

/// What the catalog page shows: a page of ready videos and, on the first
/// page, the videos still processing. Renditions and subtitles are left
/// empty (the page shows neither), and there is no total: only whether
/// another page follows.
#[derive(Debug, Clone, Default)]
pub struct HomePage {
    /// Ready videos on this page, newest first.
    pub ready: Vec<Video>,
    /// Whether ready videos follow this page.
    pub more: bool,
    /// Queued, downloading or transcoding videos, newest first (first page
    /// only).
    pub processing: Vec<Video>,
}

/// What an uploader asked for.
#[derive(Debug, Clone)]
pub struct NewVideo {
    /// Id chosen by the caller (from [`new_id`]) so staged files can be named
    /// after the video before its row exists.
    pub id: String,
    /// Title, already validated.
    pub title: String,
    /// Human-readable origin for the catalog.
    pub source: String,
    /// The uploader creating it; `None` leaves it to admins alone.
    pub owner_id: Option<i64>,
    /// Who may find and play it from the start.
    pub visibility: Visibility,
}

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Uploads, and edits and deletes their own videos.
    Uploader,
    /// Edits and deletes any video, ownerless ones included.
    Admin,
}

impl Role {
    /// Text stored in the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Uploader => "uploader",
            Role::Admin => "admin",
        }
    }

    /// Parses stored text; anything unknown grants the least.
    pub fn parse(s: &str) -> Self {
        match s {
            "admin" => Role::Admin,
            _ => Role::Uploader,
        }
    }
}

/// A user as the rest of the node sees it: never the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id, the owner id of their videos.
    pub id: i64,
    /// Login name.
    pub name: String,
    /// What they may do.
    pub role: Role,
}

/// Where a job finds its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobSource {
    /// Download from this URL.
    Url(String),
    /// Copy from this key of the media store.
    Stored(String),
}

/// Store key of an uploaded source waiting for its job.
pub fn staged_key(video_id: &str) -> String {
    format!("incoming/{video_id}.src")
}

impl JobSource {
    /// Stored form: `url:<u>` or `store:<key>`.
    pub fn encode(&self) -> String {
        match self {
            JobSource::Url(u) => format!("url:{u}"),
            JobSource::Stored(k) => format!("store:{k}"),
        }
    }

    /// Reads the stored form.
    pub fn decode(s: &str) -> Option<Self> {
        if let Some(u) = s.strip_prefix("url:") {
            Some(JobSource::Url(u.to_string()))
        } else {
            s.strip_prefix("store:")
                .map(|k| JobSource::Stored(k.to_string()))
        }
    }
}

/// A job this worker holds a lease on.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// Job id.
    pub id: String,
    /// Video being produced.
    pub video_id: String,
    /// Input location.
    pub source: JobSource,
    /// Secret proving the lease; every write checks it.
    pub lease_token: String,
    /// 1 on the first try.
    pub attempt: i64,
}

/// Facts recorded when a video is published.
#[derive(Debug, Clone)]
pub struct Published {
    /// Folder below the video's prefix that holds this version's tree.
    pub version: String,
    /// Duration in seconds.
    pub duration_s: f64,
    /// Display width.
    pub width: i64,
    /// Display height.
    pub height: i64,
    /// Whether `poster.jpg` exists.
    pub has_poster: bool,
    /// Whether `storyboard.jpg` and `storyboard.vtt` exist.
    pub has_storyboard: bool,
    /// Encoded rungs.
    pub renditions: Vec<Rendition>,
    /// Subtitle tracks found in the source.
    pub subtitles: Vec<Subtitle>,
    /// Seconds from the start of the attempt until now, recorded as its
    /// time until playable unless it was made playable earlier (a ladder
    /// too short to be watched before it ended).
    pub time_to_playable_s: Option<f64>,
    /// The `video.ready` webhook event, queued in the same transaction as
    /// the flip to ready (none when no endpoints are configured).
    pub announce: Option<super::Announcement>,
}

/// What a video being encoded can already be watched with: the version its
/// first segments are stored under and the planned rungs (bandwidths are
/// the planned ones until [`Published`] replaces them with measured ones).
#[derive(Debug, Clone)]
pub struct Playable {
    /// Folder below the video's prefix that holds this version's tree.
    pub version: String,
    /// Duration in seconds (of the source).
    pub duration_s: f64,
    /// Display width.
    pub width: i64,
    /// Display height.
    pub height: i64,
    /// Planned rungs.
    pub renditions: Vec<Rendition>,
    /// Seconds from the start of the attempt until now.
    pub time_to_playable_s: f64,
}

/// What [`super::Jobs::finish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishOutcome {
    /// The video now points at the new version.
    Published,
    /// The lease was gone (re-claimed elsewhere, or the video deleted):
    /// nothing changed, and the new files must be removed by the caller.
    LeaseLost,
}

/// A fresh media version name: `v` + 12 hex digits, never reused, so a URL
/// under it can be cached forever.
pub fn new_version() -> String {
    let n: u64 = rand::thread_rng().gen();
    format!("v{:012x}", n & 0xffff_ffff_ffff)
}

/// Whether `s` is a version name we issue.
pub fn valid_version(s: &str) -> bool {
    s.len() == 13
        && s.starts_with('v')
        && s[1..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Checks and normalises a title: `(code, message)` on refusal.
pub fn clean_title(raw: &str) -> Result<String, (&'static str, &'static str)> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(("missing-title", "a non-empty title is required"));
    }
    if t.chars().count() > 200 {
        return Err((
            "title-too-long",
            "the title may have at most 200 characters",
        ));
    }
    if t.chars().any(char::is_control) {
        return Err(("bad-title", "the title may not contain control characters"));
    }
    Ok(t.to_string())
}

/// A fresh random id: 16 lowercase hex digits.
pub fn new_id() -> String {
    let n: u64 = rand::thread_rng().gen();
    format!("{n:016x}")
}

/// Whether `s` looks like an id we issued; keeps path segments tame.
pub fn valid_id(s: &str) -> bool {
    s.len() == 16
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// An API token as operators see it: never the secret, only a short id
/// (the start of the stored digest) to revoke it by.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenInfo {
    /// First [`TOKEN_ID_LEN`] hex digits of the token's digest.
    pub id: String,
    /// Owner's user name.
    pub user: String,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
}

/// Length of a token id.
pub const TOKEN_ID_LEN: usize = 12;

/// Whether `id` looks like a token id (and so can be used as a prefix
/// without any pattern characters in it).
pub fn valid_token_id(id: &str) -> bool {
    id.len() == TOKEN_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A video marked for deletion.
#[derive(Debug, Clone)]
pub struct Tombstone {
    /// The video as it is now (status `deleting`).
    pub video: Video,
    /// Whether a worker held its job when it was marked: that worker may
    /// still write files until it notices its lease is gone, so the row
    /// stays until the sweeper has cleared the media once more.
    pub worker_was_running: bool,
}

//! The catalog: videos, renditions, subtitles, jobs and uploaders.
//!
//! Everything above this module talks to [`Catalog`]; the SQL backend is an
//! implementation detail chosen from the URL at start-up.

mod error;
mod jobs;
mod model;
mod sqlite;
mod users;

use std::sync::Arc;

use async_trait::async_trait;

pub use error::CatalogError;
pub use model::{
    new_id, now_ms, staged_key, valid_id, ClaimedJob, JobSource, NewVideo, Published, Rendition,
    StatusFilter, Subtitle, Video, VideoPage, VideoStatus,
};
pub use sqlite::SqliteCatalog;

/// Result alias for catalog calls.
pub type Result<T> = std::result::Result<T, CatalogError>;

/// Persistent state shared by every node.
#[async_trait]
pub trait Catalog: Send + Sync {
    /// Cheap round trip for readiness checks.
    async fn ping(&self) -> Result<()>;

    /// Records a new queued video and its job in one transaction.
    async fn create_video(&self, v: &NewVideo, source: &JobSource) -> Result<Video>;
    /// One video with its renditions and subtitles.
    async fn get_video(&self, id: &str) -> Result<Option<Video>>;
    /// Newest first, filtered by title search and status.
    async fn list_videos(
        &self,
        query: Option<&str>,
        filter: StatusFilter,
        page: u32,
        per_page: u32,
    ) -> Result<VideoPage>;
    /// Renames a video; `false` if it does not exist.
    async fn set_title(&self, id: &str, title: &str) -> Result<bool>;
    /// Removes a video and everything hanging off it; `false` if unknown.
    async fn delete_video(&self, id: &str) -> Result<bool>;

    /// Claims the oldest runnable job (queued, or running with an expired lease).
    async fn claim_job(&self, lease_ms: i64, max_attempts: i64) -> Result<Option<ClaimedJob>>;
    /// Claims the job of one video if it is runnable.
    async fn claim_job_for(
        &self,
        video_id: &str,
        lease_ms: i64,
        max_attempts: i64,
    ) -> Result<Option<ClaimedJob>>;
    /// Extends a lease; `false` means the lease was lost and work must stop.
    async fn heartbeat(&self, job: &ClaimedJob, lease_ms: i64) -> Result<bool>;
    /// Moves the video's visible status and progress, under the lease.
    async fn set_progress(
        &self,
        job: &ClaimedJob,
        status: VideoStatus,
        progress: f64,
    ) -> Result<bool>;
    /// Flips the video to ready with its media facts; ends the job.
    async fn publish(&self, job: &ClaimedJob, p: &Published) -> Result<bool>;
    /// Records a failed attempt: requeued while attempts remain and the
    /// error is retryable, otherwise the video becomes `failed`.
    async fn fail_job(
        &self,
        job: &ClaimedJob,
        message: &str,
        retryable: bool,
        max_attempts: i64,
    ) -> Result<()>;
    /// Gives a job back without counting the attempt (graceful shutdown).
    async fn release_job(&self, job: &ClaimedJob) -> Result<()>;
    /// Job counts by state, for metrics.
    async fn job_counts(&self) -> Result<Vec<(String, i64)>>;
    /// Attaches or replaces a subtitle track.
    async fn put_subtitle(&self, video_id: &str, s: &Subtitle) -> Result<()>;

    /// Creates an uploader; fails with `Conflict` if the name is taken.
    async fn add_user(&self, name: &str, password_hash: &str) -> Result<i64>;
    /// Password hash of a user, by name.
    async fn user_password(&self, name: &str) -> Result<Option<(i64, String)>>;
    /// Stores the hash of a new API token for a user.
    async fn add_token(&self, user: &str, token_hash: &str) -> Result<()>;
    /// The user owning a token hash.
    async fn token_user(&self, token_hash: &str) -> Result<Option<i64>>;
    /// Stores a login session.
    async fn add_session(
        &self,
        id_hash: &str,
        user_id: i64,
        csrf: &str,
        expires_ms: i64,
    ) -> Result<()>;
    /// A live session's user and CSRF token.
    async fn session(&self, id_hash: &str) -> Result<Option<(i64, String)>>;
    /// Ends a session.
    async fn delete_session(&self, id_hash: &str) -> Result<()>;
}

/// Opens the catalog named by `url`, creating and migrating it if needed.
pub async fn open(url: &str, max_connections: u32) -> Result<Arc<dyn Catalog>> {
    if url.starts_with("sqlite:") {
        let c = SqliteCatalog::open(url, max_connections).await?;
        return Ok(Arc::new(c));
    }
    Err(CatalogError::Unsupported(
        url.split(':').next().unwrap_or("").to_string(),
    ))
}

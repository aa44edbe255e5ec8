//! The catalog: videos, renditions, subtitles, jobs and uploaders.
//!
//! Everything above this module talks to the traits here, one per concern:
//! [`Videos`] (what viewers and uploaders see), [`Jobs`] (the work queue with
//! leases), [`Accounts`] (uploaders, tokens, sessions) and [`Qoe`] (viewer
//! sessions as their players report them), [`Webhooks`] (the outbox of
//! webhook deliveries) and [`Uploads`] (resumable uploads). One SQL
//! implementation serves SQLite, PostgreSQL and MySQL/MariaDB; which engine
//! is chosen from the URL at start-up and is invisible above this module.

mod error;
mod model;
mod qoe;
mod sql;
mod uploads;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use error::CatalogError;
pub use model::{
    clean_title, new_id, new_version, staged_key, valid_id, valid_version, ClaimedJob,
    FinishOutcome, HomePage, JobSource, NewVideo, Playable, Published, Rendition, Role,
    StatusFilter, Subtitle, TokenInfo, Tombstone, User, Video, VideoPage, VideoStatus, Visibility,
    TOKEN_ID_LEN,
};
pub use qoe::QoeSession;
pub use uploads::{Chunk, LockOutcome, NewUpload, Upload, UploadLock};
pub use webhooks::{Announcement, ClaimedDelivery, Delivery, DeliveryState, WebhookEvent};

/// Result alias for catalog calls.
pub type Result<T> = std::result::Result<T, CatalogError>;

/// Videos as viewers and uploaders see them.
#[async_trait]
pub trait Videos: Send + Sync {
    /// Records a new queued video and its job in one transaction.
    async fn create(&self, v: &NewVideo, source: &JobSource) -> Result<Video>;
    /// One video with its renditions and subtitles.
    async fn get(&self, id: &str) -> Result<Option<Video>>;
    /// Newest first, filtered by title search and status: public videos
    /// only, or with `owner_id`, every video of that uploader whatever its
    /// visibility.
    async fn list(
        &self,
        query: Option<&str>,
        filter: StatusFilter,
        owner_id: Option<i64>,
        page: u32,
        per_page: u32,
    ) -> Result<VideoPage>;
    /// The catalog page in one query (public videos only): `per_page` ready videos of page
    /// `page` matching `query`, whether more follow, and on page 1 up to
    /// `per_page` videos still processing. Renditions and subtitles are not
    /// loaded.
    async fn home(&self, query: Option<&str>, page: u32, per_page: u32) -> Result<HomePage>;
    /// Renames a video; `false` if it does not exist.
    async fn set_title(&self, id: &str, title: &str) -> Result<bool>;
    /// Changes who may find and play a video; `false` if it does not exist.
    async fn set_visibility(&self, id: &str, visibility: Visibility) -> Result<bool>;
    /// The status and visibility of a video, in one small read (no
    /// renditions or subtitles): what `/media` asks on every request.
    /// `None` if it does not exist.
    async fn access(&self, id: &str) -> Result<Option<(VideoStatus, Visibility)>>;
    /// First step of a delete: marks the video `deleting` (left out of
    /// listings; `get` still returns it with that status, and the HTTP layer
    /// answers 404 for it) and removes its job, so a
    /// worker still encoding it loses its lease and never publishes.
    /// `None` if the video is unknown; a video already marked is returned
    /// again, so a retried delete can finish the work. `announce` (the
    /// `video.deleted` event) is queued in the same transaction.
    async fn begin_delete(
        &self,
        id: &str,
        announce: Option<&Announcement>,
    ) -> Result<Option<Tombstone>>;
    /// Last step of a delete, once the media is gone: removes the row and
    /// everything hanging off it. Only a video marked `deleting` is removed.
    async fn purge(&self, id: &str) -> Result<bool>;
    /// Videos marked `deleting` at least `age` ago (by the database clock):
    /// deletes that stopped half-way, for the sweeper to finish.
    async fn stale_deletes(&self, age: Duration) -> Result<Vec<String>>;
    /// Attaches or replaces a subtitle track of a ready video; `false` (and
    /// nothing changed) when the video is not ready, e.g. being deleted.
    async fn put_subtitle(&self, video_id: &str, s: &Subtitle) -> Result<bool>;
}

/// The work queue. Every write after a claim is conditioned on the lease
/// token, and lease times come from the database's clock.
#[async_trait]
pub trait Jobs: Send + Sync {
    /// Claims the oldest runnable job (queued and past its retry backoff, or
    /// running with an expired lease); jobs whose attempts are used up are
    /// failed on the way.
    async fn claim(&self, lease: Duration, max_attempts: i64) -> Result<Option<ClaimedJob>>;
    /// Claims the job of one video if it is runnable.
    async fn claim_for(
        &self,
        video_id: &str,
        lease: Duration,
        max_attempts: i64,
    ) -> Result<Option<ClaimedJob>>;
    /// Extends a lease; `false` means the lease was lost and work must stop.
    async fn renew(&self, job: &ClaimedJob, lease: Duration) -> Result<bool>;
    /// Moves the video's visible status and progress, under the lease.
    async fn progress(&self, job: &ClaimedJob, status: VideoStatus, progress: f64) -> Result<bool>;
    /// Points the video at the version being encoded, whose first segments
    /// are stored, and makes it playable while it stays processing; under
    /// the lease (`LeaseLost` changes nothing).
    async fn make_playable(&self, job: &ClaimedJob, p: &Playable) -> Result<FinishOutcome>;
    /// Stops pointing viewers at `version` if an unfinished attempt made it
    /// playable (called before that attempt's files are removed).
    async fn withdraw(&self, video_id: &str, version: &str) -> Result<()>;
    /// Points the video at its newly stored version and makes it ready, in
    /// one transaction; ends the job.
    async fn finish(&self, job: &ClaimedJob, p: &Published) -> Result<FinishOutcome>;
    /// Records a failed attempt. `retry_in: Some(d)` requeues the job, not
    /// runnable until `d` has passed on the database's clock (retry
    /// backoff); `None` fails the video for good with `message` as its
    /// reason. Whether to retry is the caller's policy.
    async fn fail(&self, job: &ClaimedJob, message: &str, retry_in: Option<Duration>)
        -> Result<()>;
    /// Fails the video for good, like `fail` with no retry, and queues
    /// `announce` (its `video.failed` event) in the same transaction; both
    /// only if the lease is still held.
    async fn give_up(
        &self,
        job: &ClaimedJob,
        message: &str,
        announce: Option<&Announcement>,
    ) -> Result<()>;
    /// Gives a job back without counting the attempt (graceful shutdown).
    async fn release(&self, job: &ClaimedJob) -> Result<()>;
    /// Job counts by state, for metrics.
    async fn counts(&self) -> Result<Vec<(String, i64)>>;
}

/// Uploaders, their API tokens and login sessions; only hashes of secrets
/// are stored.
#[async_trait]
pub trait Accounts: Send + Sync {
    /// Creates a user with a role; fails with `Conflict` if the name is
    /// taken.
    async fn add_user(&self, name: &str, password_hash: &str, role: Role) -> Result<i64>;
    /// A user by name.
    async fn user(&self, name: &str) -> Result<Option<User>>;
    /// Changes a user's role; `false` if the name is unknown.
    async fn set_role(&self, name: &str, role: Role) -> Result<bool>;
    /// Id and password hash of a user, by name.
    async fn user_password(&self, name: &str) -> Result<Option<(i64, String)>>;
    /// Stores the hash of a new API token for a user.
    async fn add_token(&self, user: &str, token_hash: &str) -> Result<()>;
    /// The user owning a token hash, with their role as it is now (so a
    /// changed role applies to tokens already handed out).
    async fn token_user(&self, token_hash: &str) -> Result<Option<User>>;
    /// Tokens, oldest first, of one user or of everyone.
    async fn list_tokens(&self, user: Option<&str>) -> Result<Vec<TokenInfo>>;
    /// Deletes the token with this id; `false` if there is none. Takes
    /// effect on every node at once: tokens are looked up on each request.
    async fn revoke_token(&self, id: &str) -> Result<bool>;
    /// Deletes a user with its tokens and sessions; their videos stay, with
    /// no owner. `false` if unknown.
    async fn remove_user(&self, name: &str) -> Result<bool>;
    /// Stores a login session that lives for `ttl`.
    async fn add_session(
        &self,
        id_hash: &str,
        user_id: i64,
        csrf: &str,
        ttl: Duration,
    ) -> Result<()>;
    /// A live session's user (with their role as it is now) and CSRF token.
    async fn session(&self, id_hash: &str) -> Result<Option<(User, String)>>;
    /// Ends a session.
    async fn delete_session(&self, id_hash: &str) -> Result<()>;
}

/// Viewer sessions reported by players (QoE). Nodes fold reports into a
/// session without locks: an update names the sequence number it started
/// from, and whoever loses that race reads the session again.
#[async_trait]
pub trait Qoe: Send + Sync {
    /// The stored session with this id.
    async fn qoe_session(&self, sid: &str) -> Result<Option<QoeSession>>;
    /// Stores a new session: `Conflict` if its id is taken, `NotFound` if
    /// its video does not exist.
    async fn insert_qoe_session(&self, s: &QoeSession) -> Result<()>;
    /// Replaces a stored session if its `last_sn` is still `expected_sn`;
    /// `false` (nothing changed) if another report got in first.
    async fn update_qoe_session(&self, s: &QoeSession, expected_sn: i64) -> Result<bool>;
    /// The newest `limit` sessions of one video.
    async fn qoe_sessions_of(&self, video_id: &str, limit: u32) -> Result<Vec<QoeSession>>;
    /// Removes sessions with no report for `age`, and those that never
    /// played with none for `unplayed_age`; how many went.
    async fn prune_qoe_sessions(&self, age: Duration, unplayed_age: Duration) -> Result<u64>;
}

/// The outbox of webhook deliveries, shared by every node. Claims lease a
/// row by moving its due time past the attempt's deadline (on the
/// database's clock), so two senders never make the same attempt at once
/// and a sender that dies mid-send leaves the row due again.
#[async_trait]
pub trait Webhooks: Send + Sync {
    /// Adds one pending delivery of `event` per endpoint in `urls`, due at
    /// once, in one transaction. Enqueueing the same event again adds
    /// nothing for endpoints it already has.
    async fn enqueue_webhook(&self, event: &WebhookEvent, urls: &[String]) -> Result<()>;
    /// Claims up to `limit` due deliveries, oldest first, each for one
    /// attempt that must end within `lease`; their attempt count goes up.
    async fn claim_deliveries(&self, lease: Duration, limit: u32) -> Result<Vec<ClaimedDelivery>>;
    /// Records an accepted attempt; `false` if the claim was lost.
    async fn delivery_succeeded(&self, d: &ClaimedDelivery, status: u16) -> Result<bool>;
    /// Records a failed attempt: due again after `retry_in` (on the
    /// database's clock), or failed for good with `None`. The backoff is the
    /// caller's policy. `false` if the claim was lost.
    async fn delivery_failed(
        &self,
        d: &ClaimedDelivery,
        status: Option<u16>,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<bool>;
    /// The newest `limit` deliveries, newest first.
    async fn deliveries(&self, limit: u32) -> Result<Vec<Delivery>>;
    /// Removes deliveries last changed at least `age` ago, whatever their
    /// state; how many went.
    async fn prune_deliveries(&self, age: Duration) -> Result<u64>;
}

/// Resumable (tus) uploads, shared by every node. The offset moves only
/// under a lock that is a lease on the database's clock, and only from the
/// offset the lock was taken at, so two nodes racing on one upload can never
/// both record their bytes.
#[async_trait]
pub trait Uploads: Send + Sync {
    /// Creates the upload and its video (status `uploading`, no job yet) in
    /// one transaction.
    async fn create_upload(&self, u: &NewUpload) -> Result<Upload>;
    /// One upload by its (video) id.
    async fn upload(&self, video_id: &str) -> Result<Option<Upload>>;
    /// Locks an open, unexpired upload for `lease` if its offset is still
    /// `offset` and no live lock is held on it.
    async fn lock_upload(
        &self,
        video_id: &str,
        offset: i64,
        lease: Duration,
    ) -> Result<LockOutcome>;
    /// Extends a held lock; `false` if it was lost.
    async fn renew_upload_lock(&self, lock: &UploadLock, lease: Duration) -> Result<bool>;
    /// Records `chunk` (starting at the lock's offset), moves the offset to
    /// its end, pushes the expiry `ttl` ahead (but never past `max_life`
    /// after the upload's creation) and releases the lock, in one
    /// transaction; `false` (nothing changed) if the lock was lost.
    async fn advance_upload(
        &self,
        lock: &UploadLock,
        chunk: &Chunk,
        ttl: Duration,
        max_life: Duration,
    ) -> Result<bool>;
    /// How many unfinished, unexpired uploads `owner_id` has.
    async fn open_uploads_of(&self, owner_id: i64) -> Result<i64>;
    /// How many chunks an upload has recorded.
    async fn chunk_count(&self, video_id: &str) -> Result<i64>;
    /// Releases a lock without recording anything.
    async fn unlock_upload(&self, lock: &UploadLock) -> Result<()>;
    /// The recorded chunks of an upload, in file order.
    async fn upload_chunks(&self, video_id: &str) -> Result<Vec<Chunk>>;
    /// Under the lock, with every byte recorded: marks the upload done,
    /// moves its video to `queued` and queues its job reading `source`, in
    /// one transaction; `false` (nothing changed) if the lock was lost or
    /// bytes are missing.
    async fn complete_upload(&self, lock: &UploadLock, source: &JobSource) -> Result<bool>;
    /// Under the lock, for an upload whose stored bytes cannot make the
    /// file: marks it done (so nobody retries the join) and its video
    /// `failed` with `reason`, in one transaction; `false` if the lock was
    /// lost.
    async fn fail_upload(&self, lock: &UploadLock, reason: &str) -> Result<bool>;
    /// Up to `limit` uploads past their expiry that no live lock holds,
    /// open or done.
    async fn expired_uploads(&self, limit: u32) -> Result<Vec<Upload>>;
    /// Open uploads holding every byte whose finishing step stopped (no
    /// live lock): for the sweeper to finish.
    async fn stranded_uploads(&self, limit: u32) -> Result<Vec<Upload>>;
    /// Removes an upload record and its chunk records; `false` if unknown.
    async fn remove_upload(&self, video_id: &str) -> Result<bool>;
}

/// Reachability of the database, for readiness.
#[async_trait]
pub trait Health: Send + Sync {
    /// Cheap round trip.
    async fn ping(&self) -> Result<()>;
}

/// Runs a catalog call with a deadline; `what` names it in the error.
pub async fn within<T>(
    limit: Duration,
    what: &'static str,
    call: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(limit, call)
        .await
        .unwrap_or(Err(CatalogError::TimedOut(what)))
}

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct CatalogOptions {
    /// Most pooled connections.
    pub max_connections: u32,
    /// Longest wait for a pooled connection before giving up.
    pub acquire_timeout: Duration,
}

impl Default for CatalogOptions {
    fn default() -> Self {
        CatalogOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The catalog's concerns, each behind its own trait; cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    /// Videos, renditions and subtitles.
    pub videos: Arc<dyn Videos>,
    /// The work queue.
    pub jobs: Arc<dyn Jobs>,
    /// Uploaders, tokens and sessions.
    pub accounts: Arc<dyn Accounts>,
    /// Viewer sessions reported by players.
    pub qoe: Arc<dyn Qoe>,
    /// The outbox of webhook deliveries.
    pub webhooks: Arc<dyn Webhooks>,
    /// Resumable uploads.
    pub uploads: Arc<dyn Uploads>,
    /// Database reachability.
    pub health: Arc<dyn Health>,
}

/// Opens the catalog named by `url` (`sqlite:`, `postgres:` or `mysql:`),
/// applying pending migrations under a lock so nodes started together never
/// race.
pub async fn open(url: &str, opts: &CatalogOptions) -> Result<Catalog> {
    let c = Arc::new(sql::SqlCatalog::open(url, opts).await?);
    Ok(Catalog {
        videos: c.clone(),
        jobs: c.clone(),
        accounts: c.clone(),
        qoe: c.clone(),
        webhooks: c.clone(),
        uploads: c.clone(),
        health: c,
    })
}

pub use sql::{copy_catalog, CopyReport};

/// Applies pending migrations only (`reel-node migrate`).
pub async fn migrate(url: &str) -> Result<()> {
    let opts = CatalogOptions {
        max_connections: 1,
        ..CatalogOptions::default()
    };
    sql::SqlCatalog::open(url, &opts).await.map(|_| ())
}

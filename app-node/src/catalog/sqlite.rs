//! SQLite catalog: the zero-setup default, safe for several processes on one
//! machine thanks to WAL mode and a generous busy timeout.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{Row, SqlitePool};

use super::model::{
    now_ms, ClaimedJob, JobSource, NewVideo, Published, Rendition, StatusFilter, Subtitle, Video,
    VideoPage, VideoStatus,
};
use super::{new_id, Catalog, CatalogError, Result};

/// Catalog stored in one SQLite file.
pub struct SqliteCatalog {
    pub(super) pool: SqlitePool,
}

impl SqliteCatalog {
    /// Opens (creating if needed) and migrates the database at `url`.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(15));
        if let Some(parent) = opts.get_filename().parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| CatalogError::Db(sqlx::Error::Io(e)))?;
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(opts)
            .await?;
        sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
        Ok(SqliteCatalog { pool })
    }

    async fn load_children(&self, v: &mut Video) -> Result<()> {
        let rows = sqlx::query(
            "SELECT name, width, height, bandwidth, average_bandwidth, codecs, playlist
             FROM renditions WHERE video_id = ? ORDER BY height DESC",
        )
        .bind(&v.id)
        .fetch_all(&self.pool)
        .await?;
        v.renditions = rows
            .iter()
            .map(|r| Rendition {
                name: r.get(0),
                width: r.get(1),
                height: r.get(2),
                bandwidth: r.get(3),
                average_bandwidth: r.get(4),
                codecs: r.get(5),
                playlist: r.get(6),
            })
            .collect();
        let rows =
            sqlx::query("SELECT lang, label, path FROM subtitles WHERE video_id = ? ORDER BY lang")
                .bind(&v.id)
                .fetch_all(&self.pool)
                .await?;
        v.subtitles = rows
            .iter()
            .map(|r| Subtitle {
                lang: r.get(0),
                label: r.get(1),
                path: r.get(2),
            })
            .collect();
        Ok(())
    }
}

const VIDEO_COLS: &str = "id, title, status, progress, error, source, created_at, duration_s, \
                          width, height, has_poster, has_storyboard";

fn video_from_row(r: &SqliteRow) -> Video {
    Video {
        id: r.get(0),
        title: r.get(1),
        status: VideoStatus::parse(r.get::<String, _>(2).as_str()),
        progress: r.get(3),
        error: r.get(4),
        source: r.get(5),
        created_at_ms: r.get(6),
        duration_s: r.get(7),
        width: r.get(8),
        height: r.get(9),
        has_poster: r.get::<i64, _>(10) != 0,
        has_storyboard: r.get::<i64, _>(11) != 0,
        renditions: Vec::new(),
        subtitles: Vec::new(),
    }
}

/// Escapes LIKE wildcards so a search for `100%` means the text `100%`.
fn like_pattern(q: &str) -> String {
    let mut s = String::from("%");
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('%');
    s
}

#[async_trait]
impl Catalog for SqliteCatalog {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_video(&self, v: &NewVideo, source: &JobSource) -> Result<Video> {
        let id = v.id.clone();
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO videos (id, title, status, progress, source, created_at, updated_at)
             VALUES (?, ?, 'queued', 0, ?, ?, ?)",
        )
        .bind(&id)
        .bind(&v.title)
        .bind(&v.source)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO jobs (id, video_id, source, state, created_at, updated_at)
             VALUES (?, ?, ?, 'queued', ?, ?)",
        )
        .bind(new_id())
        .bind(&id)
        .bind(source.encode())
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(self
            .get_video(&id)
            .await?
            .ok_or_else(|| CatalogError::NotFound(format!("video {id}")))?)
    }

    async fn get_video(&self, id: &str) -> Result<Option<Video>> {
        let row = sqlx::query(&format!("SELECT {VIDEO_COLS} FROM videos WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut v = video_from_row(&row);
        self.load_children(&mut v).await?;
        Ok(Some(v))
    }

    async fn list_videos(
        &self,
        query: Option<&str>,
        status: StatusFilter,
        page: u32,
        per_page: u32,
    ) -> Result<VideoPage> {
        let pattern = query
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(like_pattern);
        let filter = "(? IS NULL OR title LIKE ? ESCAPE '\\') AND (? = 'all' \
                      OR (? = 'ready' AND status = 'ready') \
                      OR (? = 'processing' AND status IN ('queued', 'downloading', 'transcoding')))";
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM videos WHERE {filter}"))
            .bind(&pattern)
            .bind(&pattern)
            .bind(status.as_str())
            .bind(status.as_str())
            .bind(status.as_str())
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(&format!(
            "SELECT {VIDEO_COLS} FROM videos WHERE {filter}
             ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
        ))
        .bind(&pattern)
        .bind(&pattern)
        .bind(status.as_str())
        .bind(status.as_str())
        .bind(status.as_str())
        .bind(per_page as i64)
        .bind(page.saturating_sub(1) as i64 * per_page as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut videos = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut v = video_from_row(r);
            self.load_children(&mut v).await?;
            videos.push(v);
        }
        Ok(VideoPage { videos, total })
    }

    async fn set_title(&self, id: &str, title: &str) -> Result<bool> {
        let r = sqlx::query("UPDATE videos SET title = ?, updated_at = ? WHERE id = ?")
            .bind(title)
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn delete_video(&self, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM videos WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn claim_job(&self, lease_ms: i64, max_attempts: i64) -> Result<Option<ClaimedJob>> {
        self.claim(None, lease_ms, max_attempts).await
    }

    async fn claim_job_for(
        &self,
        video_id: &str,
        lease_ms: i64,
        max_attempts: i64,
    ) -> Result<Option<ClaimedJob>> {
        self.claim(Some(video_id), lease_ms, max_attempts).await
    }

    async fn heartbeat(&self, job: &ClaimedJob, lease_ms: i64) -> Result<bool> {
        self.renew(job, lease_ms).await
    }

    async fn set_progress(
        &self,
        job: &ClaimedJob,
        status: VideoStatus,
        progress: f64,
    ) -> Result<bool> {
        self.progress(job, status, progress).await
    }

    async fn publish(&self, job: &ClaimedJob, p: &Published) -> Result<bool> {
        self.finish(job, p).await
    }

    async fn fail_job(
        &self,
        job: &ClaimedJob,
        message: &str,
        retryable: bool,
        max_attempts: i64,
    ) -> Result<()> {
        self.fail(job, message, retryable, max_attempts).await
    }

    async fn release_job(&self, job: &ClaimedJob) -> Result<()> {
        self.release(job).await
    }

    async fn job_counts(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT state, COUNT(*) FROM jobs GROUP BY state")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn put_subtitle(&self, video_id: &str, s: &Subtitle) -> Result<()> {
        sqlx::query(
            "INSERT INTO subtitles (video_id, lang, label, path) VALUES (?, ?, ?, ?)
             ON CONFLICT (video_id, lang) DO UPDATE SET label = excluded.label, path = excluded.path",
        )
        .bind(video_id)
        .bind(&s.lang)
        .bind(&s.label)
        .bind(&s.path)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn add_user(&self, name: &str, password_hash: &str) -> Result<i64> {
        self.insert_user(name, password_hash).await
    }

    async fn user_password(&self, name: &str) -> Result<Option<(i64, String)>> {
        self.find_user(name).await
    }

    async fn add_token(&self, user: &str, token_hash: &str) -> Result<()> {
        self.insert_token(user, token_hash).await
    }

    async fn token_user(&self, token_hash: &str) -> Result<Option<i64>> {
        self.find_token(token_hash).await
    }

    async fn add_session(
        &self,
        id_hash: &str,
        user_id: i64,
        csrf: &str,
        expires_ms: i64,
    ) -> Result<()> {
        self.insert_session(id_hash, user_id, csrf, expires_ms)
            .await
    }

    async fn session(&self, id_hash: &str) -> Result<Option<(i64, String)>> {
        self.find_session(id_hash).await
    }

    async fn delete_session(&self, id_hash: &str) -> Result<()> {
        self.remove_session(id_hash).await
    }
}

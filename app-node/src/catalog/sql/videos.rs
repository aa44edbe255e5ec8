//! Videos, renditions and subtitles.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::FromRow;

use super::dialect::placeholders;
use super::SqlCatalog;
use crate::catalog::model::{
    HomePage, JobSource, NewVideo, Rendition, StatusFilter, Subtitle, Video, VideoPage,
    VideoStatus, Visibility,
};
use crate::catalog::{new_id, Announcement, CatalogError, Result, Tombstone, Videos};

/// The columns a [`Video`] is read from: the table `videos` aliased `v`,
/// joined with [`OWNER_JOIN`] for the owner's name.
pub(super) const V_COLS: &str = "v.id, v.title, v.status, v.progress, v.error, v.source, \
                                 v.created_at, v.duration_s, v.width, v.height, v.has_poster, \
                                 v.has_storyboard, v.media_version, v.playable, \
                                 v.time_to_playable_s, v.owner_id, o.name AS owner, \
                                 v.visibility";

/// Joins the owner (aliased `o`) of the video aliased `v`; ownerless
/// videos are kept.
pub(super) const OWNER_JOIN: &str = "LEFT JOIN users o ON o.id = v.owner_id";

/// One row of `videos`, read by column name.
#[derive(FromRow)]
pub(super) struct VideoRow {
    id: String,
    title: String,
    status: String,
    progress: f64,
    error: Option<String>,
    source: String,
    created_at: i64,
    duration_s: Option<f64>,
    width: Option<i64>,
    height: Option<i64>,
    has_poster: i64,
    has_storyboard: i64,
    media_version: Option<String>,
    playable: i64,
    time_to_playable_s: Option<f64>,
    owner_id: Option<i64>,
    owner: Option<String>,
    visibility: String,
}

impl From<VideoRow> for Video {
    fn from(r: VideoRow) -> Self {
        Video {
            id: r.id,
            title: r.title,
            status: VideoStatus::parse(&r.status),
            progress: r.progress,
            error: r.error,
            source: r.source,
            created_at_ms: r.created_at,
            duration_s: r.duration_s,
            width: r.width,
            height: r.height,
            has_poster: r.has_poster != 0,
            has_storyboard: r.has_storyboard != 0,
            renditions: Vec::new(),
            subtitles: Vec::new(),
            media_version: r.media_version,
            playable: r.playable != 0,
            time_to_playable_s: r.time_to_playable_s,
            owner_id: r.owner_id,
            owner: r.owner,
            visibility: Visibility::from_stored(&r.visibility),
        }
    }
}

/// `video_id` plus the child's own columns.
#[derive(FromRow)]
struct Child<T> {
    video_id: String,
    #[sqlx(flatten)]
    item: T,
}

impl SqlCatalog {
    /// Renditions and subtitles of many videos in two queries (not two per
    /// video), so a catalog page costs the same whatever its length.
    pub(super) async fn load_children(&self, videos: &mut [Video]) -> Result<()> {
        if videos.is_empty() {
            return Ok(());
        }
        let ids = placeholders(videos.len());
        let q = format!(
            "SELECT video_id, name, width, height, bandwidth, average_bandwidth, codecs, frame_rate,
                    playlist
             FROM renditions WHERE video_id IN ({ids}) ORDER BY height DESC, name"
        );
        let q = self.sql(&q);
        let mut query = sqlx::query_as::<_, Child<Rendition>>(&q);
        for v in videos.iter() {
            query = query.bind(&v.id);
        }
        let mut renditions: HashMap<String, Vec<Rendition>> = HashMap::new();
        for c in query.fetch_all(&self.pool).await? {
            renditions.entry(c.video_id).or_default().push(c.item);
        }
        let q = format!(
            "SELECT video_id, lang, label, path FROM subtitles
             WHERE video_id IN ({ids}) ORDER BY lang"
        );
        let q = self.sql(&q);
        let mut query = sqlx::query_as::<_, Child<Subtitle>>(&q);
        for v in videos.iter() {
            query = query.bind(&v.id);
        }
        let mut subtitles: HashMap<String, Vec<Subtitle>> = HashMap::new();
        for c in query.fetch_all(&self.pool).await? {
            subtitles.entry(c.video_id).or_default().push(c.item);
        }
        for v in videos.iter_mut() {
            v.renditions = renditions.remove(&v.id).unwrap_or_default();
            v.subtitles = subtitles.remove(&v.id).unwrap_or_default();
        }
        Ok(())
    }
}

#[async_trait]
impl Videos for SqlCatalog {
    async fn create(&self, v: &NewVideo, source: &JobSource) -> Result<Video> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(&self.sql(
            "INSERT INTO videos
                 (id, title, status, progress, source, owner_id, visibility, created_at,
                  updated_at)
             VALUES (?, ?, 'queued', 0, ?, ?, ?, NOW_MS, NOW_MS)",
        ))
        .bind(&v.id)
        .bind(&v.title)
        .bind(&v.source)
        .bind(v.owner_id)
        .bind(v.visibility.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query(&self.sql(
            "INSERT INTO jobs (id, video_id, source, state, created_at, updated_at)
             VALUES (?, ?, ?, 'queued', NOW_MS, NOW_MS)",
        ))
        .bind(new_id())
        .bind(&v.id)
        .bind(source.encode())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.get(&v.id)
            .await?
            .ok_or_else(|| CatalogError::NotFound(format!("video {}", v.id)))
    }

    async fn get(&self, id: &str) -> Result<Option<Video>> {
        let q = format!("SELECT {V_COLS} FROM videos v {OWNER_JOIN} WHERE v.id = ?");
        let row = sqlx::query_as::<_, VideoRow>(&self.sql(&q))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut v = [Video::from(row)];
        self.load_children(&mut v).await?;
        let [v] = v;
        Ok(Some(v))
    }

    async fn list(
        &self,
        query: Option<&str>,
        filter: StatusFilter,
        owner_id: Option<i64>,
        page: u32,
        per_page: u32,
    ) -> Result<VideoPage> {
        self.list_page(query, filter, owner_id, page, per_page)
            .await
    }

    async fn home(&self, query: Option<&str>, page: u32, per_page: u32) -> Result<HomePage> {
        self.home_page(query, page, per_page).await
    }

    async fn set_title(&self, id: &str, title: &str) -> Result<bool> {
        let r =
            sqlx::query(&self.sql("UPDATE videos SET title = ?, updated_at = NOW_MS WHERE id = ?"))
                .bind(title)
                .bind(id)
                .execute(&self.pool)
                .await?;
        // sqlx asks MySQL for rows matched (FOUND_ROWS), as the others count.
        Ok(r.rows_affected() == 1)
    }

    async fn set_visibility(&self, id: &str, visibility: Visibility) -> Result<bool> {
        let r = sqlx::query(
            &self.sql("UPDATE videos SET visibility = ?, updated_at = NOW_MS WHERE id = ?"),
        )
        .bind(visibility.as_str())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn access(&self, id: &str) -> Result<Option<(VideoStatus, Visibility)>> {
        let row: Option<(String, String)> =
            sqlx::query_as(&self.sql("SELECT status, visibility FROM videos WHERE id = ?"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(s, v)| (VideoStatus::parse(&s), Visibility::from_stored(&v))))
    }

    async fn begin_delete(
        &self,
        id: &str,
        announce: Option<&Announcement>,
    ) -> Result<Option<Tombstone>> {
        let mut tx = self.pool.begin().await?;
        let marked = sqlx::query(
            &self.sql("UPDATE videos SET status = 'deleting', updated_at = NOW_MS WHERE id = ?"),
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() == 0 {
            // MySQL counts only changed rows; a row already marked is found
            // by the read below either way.
            let exists: Option<String> =
                sqlx::query_scalar(&self.sql("SELECT id FROM videos WHERE id = ?"))
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_none() {
                return Ok(None);
            }
        }
        let running: i64 = sqlx::query_scalar(
            &self.sql("SELECT COUNT(*) FROM jobs WHERE video_id = ? AND state = 'running'"),
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(&self.sql("DELETE FROM jobs WHERE video_id = ?"))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // With the tombstone: the delete is decided here, and finishing it
        // (now, by a retry or by the sweeper) never needs the event again.
        // A repeated delete queues nothing new (the event id comes from
        // the video).
        if let Some(a) = announce {
            self.insert_deliveries(&mut tx, &a.event, &a.urls).await?;
        }
        tx.commit().await?;
        Ok(self.get(id).await?.map(|video| Tombstone {
            video,
            worker_was_running: running > 0,
        }))
    }

    async fn purge(&self, id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let status: Option<String> =
            sqlx::query_scalar(&self.sql("SELECT status FROM videos WHERE id = ?"))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        if status.as_deref() != Some(VideoStatus::Deleting.as_str()) {
            return Ok(false);
        }
        sqlx::query(&self.sql("DELETE FROM upload_chunks WHERE upload_id = ?"))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for table in ["subtitles", "renditions", "jobs", "qoe_sessions", "uploads"] {
            sqlx::query(&self.sql(&format!("DELETE FROM {table} WHERE video_id = ?")))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let r = sqlx::query(&self.sql("DELETE FROM videos WHERE id = ? AND status = 'deleting'"))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    async fn stale_deletes(&self, age: Duration) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(&self.sql(
            "SELECT id FROM videos WHERE status = 'deleting' AND updated_at <= NOW_MS - ?
             ORDER BY updated_at LIMIT 500",
        ))
        .bind(age.as_millis().min(i64::MAX as u128) as i64)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn put_subtitle(&self, video_id: &str, s: &Subtitle) -> Result<bool> {
        // Delete + insert in one transaction: an upsert every engine spells
        // the same way. The insert takes its row from the video only while
        // it is ready, so a track never lands on a video being deleted.
        let mut tx = self.pool.begin().await?;
        sqlx::query(&self.sql("DELETE FROM subtitles WHERE video_id = ? AND lang = ?"))
            .bind(video_id)
            .bind(&s.lang)
            .execute(&mut *tx)
            .await?;
        let added = sqlx::query(&self.sql(
            "INSERT INTO subtitles (video_id, lang, label, path)
             SELECT id, ?, ?, ? FROM videos WHERE id = ? AND status = 'ready'",
        ))
        .bind(&s.lang)
        .bind(&s.label)
        .bind(&s.path)
        .bind(video_id)
        .execute(&mut *tx)
        .await?;
        if added.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }
}

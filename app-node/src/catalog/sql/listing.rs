//! Listings: the catalog page and the API's pages, each in as few queries
//! as the engines allow.
//!
//! Pages are read with a late row lookup: the inner query finds the ids of
//! one page in an index that holds the status, upload time and id (so the
//! rows skipped by OFFSET are index entries, never table rows), and only
//! those ids are joined back to `videos`.
//!
//! Search is a case-insensitive substring match on the title (`LOWER(title)
//! LIKE '%text%'`, wildcards taken literally) on every engine, so every
//! engine returns the same videos. On PostgreSQL a trigram GIN index on
//! `LOWER(title)` finds the candidates when `pg_trgm` could be installed.
//! SQLite and MySQL/MariaDB walk the listing's index newest first and check
//! titles until the page is full: cheap for common words, a scan of the
//! catalog for rare ones. (An FTS5 trigram table was measured on SQLite with
//! 10,000 titles: 72 ms for a common term against 12 ms for this walk, as
//! FTS gathers every match before the first row; MySQL's FULLTEXT matches
//! words, not substrings.)

use sqlx::FromRow;

use super::dialect::like_pattern;
use super::videos::{VideoRow, OWNER_JOIN, V_COLS};
use super::SqlCatalog;
use crate::catalog::model::{HomePage, StatusFilter, Video, VideoPage, VideoStatus};
use crate::catalog::Result;

/// The order of every listing: newest first, ties broken by id so pages
/// never overlap.
const NEWEST_FIRST: &str = "ORDER BY created_at DESC, id DESC";

/// Statuses of videos still being worked on.
const PROCESSING: &str = "status IN ('uploading', 'queued', 'downloading', 'transcoding')";

/// The only videos listed to everyone.
const PUBLIC: &str = "visibility = 'public'";

/// [`PROCESSING`] as anyone but the owner sees it: a video still uploading
/// is only an intention (anyone with a token could fill the page with
/// them), so it is listed to its owner alone.
const PUBLIC_PROCESSING: &str = "status IN ('queued', 'downloading', 'transcoding')";

/// A page row with the listing's total beside it.
#[derive(FromRow)]
struct Counted {
    #[sqlx(flatten)]
    row: VideoRow,
    total: i64,
}

/// A parameter of a listing's WHERE clause, bound with its own type (an
/// owner id bound as text would not compare with a BIGINT on PostgreSQL).
#[derive(Debug, Clone, PartialEq)]
enum Param {
    Text(String),
    Int(i64),
}

/// A WHERE clause and its parameters, in order.
struct Filter {
    clause: String,
    params: Vec<Param>,
}

impl Filter {
    /// Public videos with `status_clause` whose title contains `query`.
    fn new(query: Option<&str>, status_clause: &str) -> Self {
        Self::owned(query, status_clause, None)
    }

    /// As [`Filter::new`] but, with `owner_id`, the videos of that owner
    /// whatever their visibility instead of the public ones.
    fn owned(query: Option<&str>, status_clause: &str, owner_id: Option<i64>) -> Self {
        let mut clauses = vec![status_clause.to_string()];
        let mut params = Vec::new();
        match owner_id {
            Some(id) => {
                clauses.push("owner_id = ?".into());
                params.push(Param::Int(id));
            }
            // Unlisted and private videos are in no listing anyone but
            // their owner sees (and so in no kept listing either).
            None => clauses.push(PUBLIC.into()),
        }
        if let Some(q) = query.map(str::trim).filter(|q| !q.is_empty()) {
            clauses.push("LOWER(title) LIKE ? ESCAPE '!'".into());
            params.push(Param::Text(like_pattern(q)));
        }
        Filter {
            clause: format!("WHERE {}", clauses.join(" AND ")),
            params,
        }
    }
}

type AnyArgs<'q> = sqlx::any::AnyArguments<'q>;

/// Binds a listing's parameters, in order, to any kind of query.
fn bind_all<'q, Q>(mut q: Q, params: &'q [Param]) -> Q
where
    Q: BindParam<'q>,
{
    for p in params {
        q = match p {
            Param::Text(t) => q.bind_text(t),
            Param::Int(i) => q.bind_int(*i),
        };
    }
    q
}

/// The two query kinds a listing binds its parameters to.
trait BindParam<'q>: Sized {
    fn bind_text(self, t: &'q str) -> Self;
    fn bind_int(self, i: i64) -> Self;
}

impl<'q, O> BindParam<'q> for sqlx::query::QueryAs<'q, sqlx::Any, O, AnyArgs<'q>> {
    fn bind_text(self, t: &'q str) -> Self {
        self.bind(t)
    }
    fn bind_int(self, i: i64) -> Self {
        self.bind(i)
    }
}

impl<'q, O> BindParam<'q> for sqlx::query::QueryScalar<'q, sqlx::Any, O, AnyArgs<'q>> {
    fn bind_text(self, t: &'q str) -> Self {
        self.bind(t)
    }
    fn bind_int(self, i: i64) -> Self {
        self.bind(i)
    }
}

/// The status clause of a listing; videos being deleted are gone as far as
/// anyone above the catalog is concerned.
fn status_clause(filter: StatusFilter) -> &'static str {
    match filter {
        StatusFilter::All => "status <> 'deleting'",
        StatusFilter::Ready => "status = 'ready'",
        StatusFilter::Processing => PROCESSING,
    }
}

/// [`status_clause`] for a listing of everyone's videos: none uploading.
fn public_status_clause(filter: StatusFilter) -> &'static str {
    match filter {
        StatusFilter::All => "status NOT IN ('deleting', 'uploading')",
        StatusFilter::Ready => "status = 'ready'",
        StatusFilter::Processing => PUBLIC_PROCESSING,
    }
}

/// Ids of one page, in order, as a derived table `k`.
fn page_ids(f: &Filter, limit_and_offset: bool) -> String {
    let tail = if limit_and_offset {
        "LIMIT ? OFFSET ?"
    } else {
        "LIMIT ?"
    };
    format!(
        "(SELECT id FROM videos {} {NEWEST_FIRST} {tail}) k",
        f.clause
    )
}

/// Newest first, as the listing order says (a join need not keep it).
fn sort_newest_first(videos: &mut [Video]) {
    videos.sort_by(|a, b| {
        b.created_at_ms
            .cmp(&a.created_at_ms)
            .then_with(|| b.id.cmp(&a.id))
    });
}

fn offset(page: u32, per_page: u32) -> i64 {
    page.saturating_sub(1) as i64 * per_page as i64
}

impl SqlCatalog {
    /// One page of a listing with its total and the videos' renditions and
    /// subtitles: the page and its count in one query, the children in one
    /// batched query each.
    pub(super) async fn list_page(
        &self,
        query: Option<&str>,
        filter: StatusFilter,
        owner_id: Option<i64>,
        page: u32,
        per_page: u32,
    ) -> Result<VideoPage> {
        let status = match owner_id {
            Some(_) => status_clause(filter),
            None => public_status_clause(filter),
        };
        let f = Filter::owned(query, status, owner_id);
        let q = format!(
            "SELECT {V_COLS}, (SELECT COUNT(*) FROM videos {clause}) AS total
             FROM {ids} JOIN videos v ON v.id = k.id {OWNER_JOIN}",
            clause = f.clause,
            ids = page_ids(&f, true),
        );
        let q = self.sql(&q);
        let rows = sqlx::query_as::<_, Counted>(&q);
        let rows = bind_all(bind_all(rows, &f.params), &f.params);
        let rows = rows
            .bind(per_page as i64)
            .bind(offset(page, per_page))
            .fetch_all(&self.pool)
            .await?;
        let total = match rows.first() {
            Some(r) => r.total,
            // Past the last page: nothing to carry the total, so ask.
            None => self.count(&f).await?,
        };
        let mut videos: Vec<Video> = rows.into_iter().map(|r| Video::from(r.row)).collect();
        sort_newest_first(&mut videos);
        self.load_children(&mut videos).await?;
        Ok(VideoPage { videos, total })
    }

    async fn count(&self, f: &Filter) -> Result<i64> {
        let q = format!("SELECT COUNT(*) FROM videos {}", f.clause);
        let q = self.sql(&q);
        let count = bind_all(sqlx::query_scalar::<_, i64>(&q), &f.params);
        Ok(count.fetch_one(&self.pool).await?)
    }

    /// The catalog page: one query for the ready page (one row more than
    /// shown, to know whether another page follows) and, on page 1, the
    /// videos still processing.
    pub(super) async fn home_page(
        &self,
        query: Option<&str>,
        page: u32,
        per_page: u32,
    ) -> Result<HomePage> {
        let ready = Filter::new(query, status_clause(StatusFilter::Ready));
        let mut q = format!(
            "SELECT {V_COLS} FROM {} JOIN videos v ON v.id = k.id {OWNER_JOIN}",
            page_ids(&ready, true)
        );
        let processing = (page <= 1).then(|| Filter::new(query, PUBLIC_PROCESSING));
        if let Some(p) = &processing {
            q.push_str(&format!(
                " UNION ALL SELECT {V_COLS} FROM {} JOIN videos v ON v.id = k.id {OWNER_JOIN}",
                page_ids(p, false)
            ));
        }
        let q = self.sql(&q);
        let mut rows = bind_all(sqlx::query_as::<_, VideoRow>(&q), &ready.params);
        rows = rows.bind(per_page as i64 + 1).bind(offset(page, per_page));
        if let Some(p) = &processing {
            rows = bind_all(rows, &p.params).bind(per_page as i64);
        }
        let (mut ready, mut processing): (Vec<Video>, Vec<Video>) = rows
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(Video::from)
            .partition(|v| v.status == VideoStatus::Ready);
        sort_newest_first(&mut ready);
        sort_newest_first(&mut processing);
        let more = ready.len() > per_page as usize;
        ready.truncate(per_page as usize);
        Ok(HomePage {
            ready,
            more,
            processing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_match_text_literally() {
        let f = Filter::new(Some(" 100%_x "), "status = 'ready'");
        assert_eq!(
            f.clause,
            "WHERE status = 'ready' AND visibility = 'public' AND LOWER(title) LIKE ? ESCAPE '!'"
        );
        assert_eq!(f.params, [Param::Text("%100!%!_x%".into())]);
        assert_eq!(Filter::new(Some("  "), "s").params.len(), 0);
    }

    #[test]
    fn an_owner_narrows_the_listing_before_the_search() {
        let f = Filter::owned(Some("sea"), "status <> 'deleting'", Some(7));
        assert_eq!(
            f.clause,
            "WHERE status <> 'deleting' AND owner_id = ? AND LOWER(title) LIKE ? ESCAPE '!'"
        );
        assert_eq!(f.params, [Param::Int(7), Param::Text("%sea%".into())]);
    }
}

//! Copying a whole catalog to another database (`reel-node catalog copy`),
//! for the move from one machine (SQLite) to several (PostgreSQL, MySQL).
//!
//! Idempotent: rows whose key already exists in the target are left alone,
//! so an interrupted copy is finished by running it again.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Dialect, SqlCatalog};
use crate::catalog::{CatalogError, CatalogOptions, Result};

/// How a column is read and written.
#[derive(Clone, Copy)]
enum Col {
    Text,
    OptText,
    Int,
    OptInt,
    Real,
    OptReal,
}

/// One table: name, key columns, columns with their kinds. Listed parents
/// first so foreign keys always find their rows.
struct Table {
    name: &'static str,
    key: &'static [&'static str],
    cols: &'static [(&'static str, Col)],
}

const TABLES: &[Table] = &[
    Table {
        name: "users",
        key: &["id"],
        cols: &[
            ("id", Col::Int),
            ("name", Col::Text),
            ("password_hash", Col::Text),
            ("role", Col::Text),
            ("created_at", Col::Int),
        ],
    },
    Table {
        name: "api_tokens",
        key: &["token_hash"],
        cols: &[
            ("token_hash", Col::Text),
            ("user_id", Col::Int),
            ("created_at", Col::Int),
        ],
    },
    Table {
        name: "videos",
        key: &["id"],
        cols: &[
            ("id", Col::Text),
            ("title", Col::Text),
            ("status", Col::Text),
            ("progress", Col::Real),
            ("error", Col::OptText),
            ("source", Col::Text),
            ("created_at", Col::Int),
            ("updated_at", Col::Int),
            ("duration_s", Col::OptReal),
            ("width", Col::OptInt),
            ("height", Col::OptInt),
            ("has_poster", Col::Int),
            ("has_storyboard", Col::Int),
            ("media_version", Col::OptText),
            ("playable", Col::Int),
            ("time_to_playable_s", Col::OptReal),
            ("owner_id", Col::OptInt),
            ("visibility", Col::Text),
        ],
    },
    Table {
        name: "renditions",
        key: &["video_id", "name"],
        cols: &[
            ("video_id", Col::Text),
            ("name", Col::Text),
            ("width", Col::Int),
            ("height", Col::Int),
            ("bandwidth", Col::Int),
            ("average_bandwidth", Col::Int),
            ("codecs", Col::Text),
            ("frame_rate", Col::Real),
            ("playlist", Col::Text),
        ],
    },
    Table {
        name: "subtitles",
        key: &["video_id", "lang"],
        cols: &[
            ("video_id", Col::Text),
            ("lang", Col::Text),
            ("label", Col::Text),
            ("path", Col::Text),
        ],
    },
    Table {
        name: "jobs",
        key: &["id"],
        cols: &[
            ("id", Col::Text),
            ("video_id", Col::Text),
            ("source", Col::Text),
            ("state", Col::Text),
            ("attempts", Col::Int),
            ("lease_token", Col::OptText),
            ("lease_until", Col::Int),
            ("heartbeat_at", Col::OptInt),
            ("last_error", Col::OptText),
            ("run_after", Col::Int),
            ("created_at", Col::Int),
            ("updated_at", Col::Int),
        ],
    },
    Table {
        name: "qoe_sessions",
        key: &["sid"],
        cols: &[
            ("sid", Col::Text),
            ("video_id", Col::Text),
            ("created_at", Col::Int),
            ("updated_at", Col::Int),
            ("last_sn", Col::Int),
            ("last_ts", Col::Int),
            ("seen_ms", Col::Int),
            ("last_state", Col::Text),
            ("bitrate_kbps", Col::Real),
            ("started_ts", Col::OptInt),
            ("startup_ms", Col::OptInt),
            ("rebuffers", Col::Int),
            ("rebuffer_ms", Col::Int),
            ("played_ms", Col::Int),
            ("played_kbit", Col::Real),
            ("seek_wait", Col::Int),
            ("failed", Col::Int),
        ],
    },
    // No foreign key: a `video.deleted` delivery outlives its video.
    Table {
        name: "webhook_deliveries",
        key: &["id"],
        cols: &[
            ("id", Col::Text),
            ("event_id", Col::Text),
            ("event_type", Col::Text),
            ("video_id", Col::Text),
            ("url", Col::Text),
            ("payload", Col::Text),
            ("state", Col::Text),
            ("attempts", Col::Int),
            ("next_attempt_at", Col::Int),
            ("lease_token", Col::OptText),
            ("last_status", Col::OptInt),
            ("last_error", Col::OptText),
            ("created_at", Col::Int),
            ("updated_at", Col::Int),
        ],
    },
    Table {
        name: "uploads",
        key: &["video_id"],
        cols: &[
            ("video_id", Col::Text),
            ("owner_id", Col::Int),
            ("upload_length", Col::Int),
            ("upload_offset", Col::Int),
            ("metadata", Col::Text),
            ("state", Col::Text),
            ("lock_token", Col::OptText),
            ("lock_until", Col::Int),
            ("expires_at", Col::Int),
            ("created_at", Col::Int),
            ("updated_at", Col::Int),
        ],
    },
    Table {
        name: "upload_chunks",
        key: &["upload_id", "start_offset"],
        cols: &[
            ("upload_id", Col::Text),
            ("start_offset", Col::Int),
            ("end_offset", Col::Int),
            ("object_key", Col::Text),
        ],
    },
];

/// Rows read per round trip.
const BATCH: i64 = 500;

/// What a copy did, per table.
#[derive(Debug, Default, Clone)]
pub struct CopyReport {
    /// `(table, rows copied, rows already there)`.
    pub tables: Vec<(&'static str, u64, u64)>,
}

/// Copies every row of `from` into `to` (migrated first). `progress` hears
/// `(table, rows done, rows in table)`.
pub async fn copy_catalog(
    from: &str,
    to: &str,
    progress: &(dyn Fn(&str, u64, u64) + Send + Sync),
) -> Result<CopyReport> {
    let opts = CatalogOptions::default();
    let src = SqlCatalog::open(from, &opts).await?;
    // Rows already in the target are kept as they are, so a copy taken
    // while nodes still work on the source would freeze a video mid-job.
    let live: i64 = sqlx::query_scalar(
        &src.sql("SELECT COUNT(*) FROM jobs WHERE state = 'running' AND lease_until > NOW_MS"),
    )
    .fetch_one(&src.pool)
    .await?;
    if live > 0 {
        return Err(CatalogError::Busy(format!(
            "{live} job(s) are running on the source catalog: stop its nodes, then copy"
        )));
    }
    let dst = SqlCatalog::open(to, &opts).await?;
    let mut report = CopyReport::default();
    for t in TABLES {
        let (copied, kept) = copy_table(&src, &dst, t, progress).await?;
        report.tables.push((t.name, copied, kept));
    }
    if dst.dialect == Dialect::Postgres {
        // Explicit ids do not move an identity's sequence; new users must
        // not collide with copied ones.
        sqlx::query(
            "SELECT setval(pg_get_serial_sequence('users', 'id'), \
             GREATEST((SELECT MAX(id) FROM users), 1))",
        )
        .execute(&dst.pool)
        .await?;
    }
    Ok(report)
}

async fn copy_table(
    src: &SqlCatalog,
    dst: &SqlCatalog,
    t: &Table,
    progress: &(dyn Fn(&str, u64, u64) + Send + Sync),
) -> Result<(u64, u64)> {
    let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", t.name))
        .fetch_one(&src.pool)
        .await?;
    let names: Vec<&str> = t.cols.iter().map(|(n, _)| *n).collect();
    let order = t.key.join(", ");
    let select = src
        .sql(&format!(
            "SELECT {} FROM {} ORDER BY {order} LIMIT ? OFFSET ?",
            names.join(", "),
            t.name
        ))
        .into_owned();
    let exists = dst
        .sql(&format!(
            "SELECT COUNT(*) FROM {} WHERE {}",
            t.name,
            t.key
                .iter()
                .map(|k| format!("{k} = ?"))
                .collect::<Vec<_>>()
                .join(" AND ")
        ))
        .into_owned();
    let insert = dst
        .sql(&format!(
            "INSERT INTO {} ({}) VALUES ({})",
            t.name,
            names.join(", "),
            vec!["?"; names.len()].join(", ")
        ))
        .into_owned();
    let (mut copied, mut kept, mut offset) = (0u64, 0u64, 0i64);
    loop {
        let rows = sqlx::query(&select)
            .bind(BATCH)
            .bind(offset)
            .fetch_all(&src.pool)
            .await?;
        if rows.is_empty() {
            break;
        }
        offset += rows.len() as i64;
        let mut tx = dst.pool.begin().await?;
        for row in &rows {
            let mut q = sqlx::query(&exists);
            for k in t.key {
                let kind = t.cols.iter().find(|(n, _)| n == k).map(|(_, c)| *c);
                q = bind(q, row, k, kind.unwrap_or(Col::Text))?;
            }
            let n: i64 = q.fetch_one(&mut *tx).await?.try_get(0)?;
            if n > 0 {
                kept += 1;
                continue;
            }
            let mut q = sqlx::query(&insert);
            for (name, kind) in t.cols {
                q = bind(q, row, name, *kind)?;
            }
            q.execute(&mut *tx).await?;
            copied += 1;
        }
        tx.commit().await?;
        progress(t.name, copied + kept, total as u64);
    }
    Ok((copied, kept))
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind<'q>(q: Query<'q>, row: &AnyRow, name: &str, kind: Col) -> Result<Query<'q>> {
    Ok(match kind {
        Col::Text => q.bind(row.try_get::<String, _>(name)?),
        Col::OptText => q.bind(row.try_get::<Option<String>, _>(name)?),
        Col::Int => q.bind(row.try_get::<i64, _>(name)?),
        Col::OptInt => q.bind(row.try_get::<Option<i64>, _>(name)?),
        Col::Real => q.bind(row.try_get::<f64, _>(name)?),
        Col::OptReal => match row.try_get::<Option<f64>, _>(name)? {
            Some(v) => q.bind(v),
            // sqlx 0.8's Any driver sends a NULL f64 to PostgreSQL as a
            // float4 and a NULL f32 as a float8 (the two are swapped). A
            // statement prepared with float4 then refuses the next row's
            // real float8, so NULL goes in as the type that arrives as float8.
            None => q.bind(None::<f32>),
        },
    })
}

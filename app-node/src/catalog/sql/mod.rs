//! The SQL catalog on SQLite, PostgreSQL or MySQL/MariaDB through sqlx's
//! `Any` driver: one set of queries, with the engines' differences kept in
//! [`dialect`].

mod accounts;
mod copy;
mod dialect;
mod jobs;
mod listing;
mod migrate;
mod qoe;
mod uploads;
mod videos;
mod webhooks;

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, Executor};

pub use copy::{copy_catalog, CopyReport};
pub use dialect::Dialect;

use super::{CatalogError, CatalogOptions, Health, Result};

/// Catalog in an SQL database.
pub struct SqlCatalog {
    pool: AnyPool,
    dialect: Dialect,
}

/// Settings every SQLite connection needs: WAL so readers never block the
/// writer, a generous busy timeout so several processes can share one file,
/// and foreign keys so deletes cascade.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                              PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 15000;";

impl SqlCatalog {
    /// Connects, then applies pending migrations under a lock.
    pub async fn open(url: &str, opts: &CatalogOptions) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::from_url(url).ok_or_else(|| {
            CatalogError::Unsupported(url.split(':').next().unwrap_or("").to_string())
        })?;
        let mut url = url.to_string();
        let mut sqlite_file = None;
        if dialect == Dialect::Sqlite {
            let file = SqliteConnectOptions::from_str(&url)?
                .get_filename()
                .to_path_buf();
            if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .map_err(|e| CatalogError::Db(sqlx::Error::Io(e)))?;
            }
            if !url.contains("mode=") {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str("mode=rwc");
            }
            sqlite_file = Some(file);
        }
        let pool = AnyPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.acquire_timeout)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    match dialect {
                        Dialect::Sqlite => {
                            conn.execute(SQLITE_PRAGMAS).await?;
                        }
                        // InnoDB's default (REPEATABLE READ) takes gap locks
                        // on the range a claim scans, which deadlocks
                        // concurrent claims and finishes; every queue write
                        // here re-checks its condition, so READ COMMITTED
                        // is enough.
                        Dialect::Mysql => {
                            conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                                .await?;
                        }
                        Dialect::Postgres => {}
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        migrate::run(&pool, dialect, sqlite_file.as_deref()).await?;
        Ok(SqlCatalog { pool, dialect })
    }

    /// The engine's text of a query written with `?` and `NOW_MS`.
    fn sql<'q>(&self, q: &'q str) -> std::borrow::Cow<'q, str> {
        self.dialect.sql(q)
    }
}

#[async_trait]
impl Health for SqlCatalog {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Runs `op` again when the engine aborted it as a deadlock or
/// serialization failure (SQLSTATE 40001 / 40P01): those say "try again" by
/// definition, and every queue operation is safe to repeat.
async fn retry_conflicts<T, F, Fut>(mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut tries = 0;
    loop {
        match op().await {
            Err(CatalogError::Db(sqlx::Error::Database(d)))
                if tries < 5 && matches!(d.code().as_deref(), Some("40001" | "40P01")) =>
            {
                tries += 1;
                let jitter = rand::random::<u64>() % 20;
                tokio::time::sleep(std::time::Duration::from_millis(10 * tries + jitter)).await;
            }
            other => return other,
        }
    }
}

//! Schema migrations per engine, applied under a lock so that nodes started
//! together never race: sqlx's migrator takes a PostgreSQL advisory lock
//! itself. For MySQL/MariaDB we take `GET_LOCK` with a finite timeout on the
//! migrating connection (the migrator asks for an infinite one with `-1`,
//! which MariaDB answers with NULL, i.e. no lock at all), and for SQLite
//! (where the migrator takes none) an exclusive `flock` on a file next to
//! the database does the same job.

use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::migrate::Migrator;
use sqlx::AnyPool;

use super::Dialect;
use crate::catalog::{CatalogError, Result};

static SQLITE: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("../migrations/postgres");
static MYSQL: Migrator = sqlx::migrate!("../migrations/mysql");

/// Longest wait for another process's migration to finish.
const LOCK_WAIT: Duration = Duration::from_secs(120);

/// Applies every pending migration of the engine.
pub async fn run(pool: &AnyPool, dialect: Dialect, sqlite_file: Option<&Path>) -> Result<()> {
    let migrator = match dialect {
        Dialect::Sqlite => &SQLITE,
        Dialect::Postgres => &POSTGRES,
        Dialect::Mysql => &MYSQL,
    };
    let _guard = match sqlite_file {
        Some(f) if !f.as_os_str().is_empty() && f != Path::new(":memory:") => {
            Some(FileLock::acquire(&lock_path(f)).await?)
        }
        _ => None,
    };
    let mut conn = pool.acquire().await?;
    if dialect == Dialect::Mysql {
        let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK('reel_migrate', ?)")
            .bind(LOCK_WAIT.as_secs() as i64)
            .fetch_one(&mut *conn)
            .await?;
        if got != Some(1) {
            return Err(CatalogError::Db(sqlx::Error::Protocol(
                "another node held the migration lock for too long".into(),
            )));
        }
    }
    let result = migrator.run_direct(&mut *conn).await;
    if dialect == Dialect::Mysql {
        let _ = sqlx::query("SELECT RELEASE_LOCK('reel_migrate')")
            .execute(&mut *conn)
            .await;
    }
    result?;
    Ok(())
}

fn lock_path(db: &Path) -> std::path::PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".migrate-lock");
    db.with_file_name(name)
}

/// An exclusive advisory lock on a file, released when dropped (or when the
/// process dies, so a crash never leaves it held).
struct FileLock(std::fs::File);

impl FileLock {
    async fn acquire(path: &Path) -> Result<Self> {
        use std::os::fd::AsRawFd;
        let io = |e: std::io::Error| CatalogError::Db(sqlx::Error::Io(e));
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io)?;
        let started = Instant::now();
        loop {
            // SAFETY: flock on a descriptor we own; no memory is involved.
            let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if r == 0 {
                return Ok(FileLock(f));
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::WouldBlock || started.elapsed() > LOCK_WAIT {
                return Err(io(e));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: as above.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

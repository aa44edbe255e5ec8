//! Catalog errors.

use crate::failure::FailureKind;

/// What went wrong talking to the catalog.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The database failed; details are for logs only.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// Migrations failed to apply.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A unique value already exists.
    #[error("{0} already exists")]
    Conflict(String),
    /// A name that must exist does not.
    #[error("{0} not found")]
    NotFound(String),
    /// The database did not answer in time (a network that drops packets
    /// without resetting the connection would otherwise hang the call).
    #[error("the catalog did not answer {0} in time")]
    TimedOut(&'static str),
    /// The operation needs the catalog to be idle (no node working on it).
    #[error("{0}")]
    Busy(String),
    /// The URL scheme has no backend in this build.
    #[error("catalog backend {0:?} is not supported by this build")]
    Unsupported(String),
}

impl CatalogError {
    /// Permanent only for answers about the data itself (a conflict, a
    /// missing row); an unreachable, slow, busy or unmigrated database is
    /// transient.
    pub fn kind(&self) -> FailureKind {
        match self {
            CatalogError::Conflict(_) | CatalogError::NotFound(_) => FailureKind::Permanent,
            CatalogError::Db(_)
            | CatalogError::TimedOut(_)
            | CatalogError::Migrate(_)
            | CatalogError::Busy(_)
            | CatalogError::Unsupported(_) => FailureKind::Transient,
        }
    }

    /// Stable code for logs and API errors.
    pub fn code(&self) -> &'static str {
        match self {
            CatalogError::Db(_) | CatalogError::TimedOut(_) => "catalog-unavailable",
            CatalogError::Migrate(_) => "catalog-migration-failed",
            CatalogError::Conflict(_) => "conflict",
            CatalogError::Busy(_) => "catalog-busy",
            CatalogError::NotFound(_) => "not-found",
            CatalogError::Unsupported(_) => "catalog-unsupported",
        }
    }
}

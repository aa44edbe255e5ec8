//! Housekeeping: deleting videos step by step, and the sweeper that, at
//! start and then periodically, removes what crashed or abandoned work left
//! behind: half-finished deletes, the store's own work files, staged sources
//! of jobs that gave up, and old scratch files.

mod delete;
mod purge;
mod sweep;

pub use delete::{clear_media, delete_video, Deleted};
pub use purge::{EdgePurger, PURGE_TOKEN_ENV};
pub use sweep::{run_sweeper, sweep_once, SweepReport, Sweeper};

use crate::catalog::CatalogError;
use crate::storage::StorageError;

/// Why a housekeeping step failed; every step is safe to repeat.
#[derive(Debug, thiserror::Error)]
pub enum HousekeepingError {
    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The media store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl HousekeepingError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            HousekeepingError::Catalog(e) => e.code(),
            HousekeepingError::Storage(e) => e.code(),
        }
    }
}

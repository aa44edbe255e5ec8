//! Why a job attempt failed.

use crate::catalog::CatalogError;
use crate::ingest::IngestError;
use crate::media::MediaError;
use crate::storage::StorageError;

/// Failure of one job attempt.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Fetching the source failed.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// Probing or encoding failed.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// The media store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Local scratch space failed.
    #[error("scratch directory: {0}")]
    Io(#[from] std::io::Error),
    /// Stopped on purpose (shutdown).
    #[error("stopped")]
    Cancelled,
    /// Another worker owns the job now, or the video was deleted.
    #[error("lease lost")]
    LeaseLost,
}

impl JobError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            JobError::Ingest(e) => e.code(),
            JobError::Media(e) => e.code(),
            JobError::Storage(e) => e.code(),
            JobError::Catalog(e) => e.code(),
            JobError::Io(_) => "io",
            JobError::Cancelled => "cancelled",
            JobError::LeaseLost => "lease-lost",
        }
    }

    /// Whether another attempt may succeed; bad input fails at once.
    pub fn retryable(&self) -> bool {
        match self {
            JobError::Ingest(e) => e.retryable(),
            JobError::Media(e) => !matches!(
                e.code(),
                "not-a-video" | "no-video-stream" | "too-long" | "too-large-frame" | "unsupported"
            ),
            _ => true,
        }
    }

    /// Reason stored on the video, fit for users.
    pub fn user_message(&self) -> String {
        match self {
            JobError::Ingest(e) => e.user_message(),
            JobError::Media(e) => e.user_message(),
            JobError::Storage(_) | JobError::Io(_) => "the node could not store the media".into(),
            JobError::Catalog(_) => "the catalog was unavailable".into(),
            JobError::Cancelled => "processing was stopped".into(),
            JobError::LeaseLost => "processing moved to another worker".into(),
        }
    }
}

//! Why a job attempt failed.

use crate::catalog::CatalogError;
use crate::failure::{is_out_of_space, FailureKind, OUT_OF_SPACE_MESSAGE};
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
            JobError::Io(e) if is_out_of_space(e) => "disk-full",
            JobError::Io(_) => "io",
            JobError::Cancelled => "cancelled",
            JobError::LeaseLost => "lease-lost",
        }
    }

    /// Whether another attempt may succeed: each module's error decides by
    /// its own variants; bad input fails at once.
    pub fn kind(&self) -> FailureKind {
        match self {
            JobError::Ingest(e) => e.kind(),
            JobError::Media(e) => e.kind(),
            JobError::Storage(e) => e.kind(),
            JobError::Catalog(e) => e.kind(),
            JobError::Io(_) | JobError::Cancelled | JobError::LeaseLost => FailureKind::Transient,
        }
    }

    /// Reason stored on the video, fit for users.
    pub fn user_message(&self) -> String {
        match self {
            JobError::Ingest(e) => e.user_message(),
            JobError::Media(e) => e.user_message(),
            JobError::Storage(e) if e.is_out_of_space() => OUT_OF_SPACE_MESSAGE.into(),
            JobError::Io(e) if is_out_of_space(e) => OUT_OF_SPACE_MESSAGE.into(),
            JobError::Storage(_) | JobError::Io(_) => "the node could not store the media".into(),
            JobError::Catalog(_) => "the catalog was unavailable".into(),
            JobError::Cancelled => "processing was stopped".into(),
            JobError::LeaseLost => "processing moved to another worker".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::error::Limit;

    #[test]
    fn kinds_come_from_the_wrapped_errors() {
        let cases: Vec<(JobError, FailureKind)> = vec![
            (MediaError::NoVideoStream.into(), FailureKind::Permanent),
            (
                MediaError::LimitExceeded {
                    limit: Limit::FrameRate,
                    value: 1000.0,
                    max: 240.0,
                }
                .into(),
                FailureKind::Permanent,
            ),
            (IngestError::Status(404).into(), FailureKind::Permanent),
            (IngestError::Status(503).into(), FailureKind::Transient),
            (IngestError::Timeout.into(), FailureKind::Transient),
            (
                StorageError::NotFound("incoming/x.src".into()).into(),
                FailureKind::Permanent,
            ),
            (
                CatalogError::TimedOut("a claim").into(),
                FailureKind::Transient,
            ),
            (
                std::io::Error::from_raw_os_error(libc::ENOSPC).into(),
                FailureKind::Transient,
            ),
            (JobError::LeaseLost, FailureKind::Transient),
        ];
        for (e, kind) in cases {
            assert_eq!(e.kind(), kind, "{e}");
        }
    }

    #[test]
    fn a_full_disk_says_so() {
        let e: JobError = std::io::Error::from_raw_os_error(libc::ENOSPC).into();
        assert_eq!(e.code(), "disk-full");
        assert_eq!(e.user_message(), OUT_OF_SPACE_MESSAGE);
        let e: JobError = IngestError::Io(std::io::Error::from_raw_os_error(libc::ENOSPC)).into();
        assert_eq!(e.user_message(), OUT_OF_SPACE_MESSAGE);
    }
}

//! Storage errors.

use crate::failure::FailureKind;

/// What went wrong in the media store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The key is not a safe relative path.
    #[error("invalid storage key {0:?}")]
    BadKey(String),
    /// The object does not exist.
    #[error("object {0:?} not found")]
    NotFound(String),
    /// The backend failed; details are for logs only.
    #[error("storage I/O error on {key:?}: {source}")]
    Io {
        /// Key or path involved.
        key: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The configured kind has no backend in this build.
    #[error("storage kind {0:?} is not supported by this build")]
    Unsupported(String),
    /// A remote object store (S3) failed or could not be reached; details
    /// are for logs only. Kept apart from [`StorageError::Io`] so the
    /// object_store error (with its HTTP status and retry history) survives
    /// for the log line.
    #[error("remote storage error on {key:?}: {source}")]
    Remote {
        /// Key (or bucket, for whole-store calls) involved.
        key: String,
        /// Underlying error.
        source: object_store::Error,
    },
    /// The store's settings cannot work (missing credentials, a malformed
    /// endpoint). Found when the node starts, never at request time.
    #[error("storage misconfigured: {0}")]
    Misconfigured(String),
}

impl StorageError {
    /// Stable code for logs and API errors.
    pub fn code(&self) -> &'static str {
        match self {
            StorageError::BadKey(_) => "bad-key",
            StorageError::NotFound(_) => "not-found",
            StorageError::Io { .. } => "storage-unavailable",
            StorageError::Unsupported(_) => "storage-unsupported",
            StorageError::Remote { .. } => "storage-unavailable",
            StorageError::Misconfigured(_) => "storage-misconfigured",
        }
    }

    /// Permanent only when the object itself is wrong or gone (a staged
    /// upload that no longer exists will not come back); a store that fails
    /// or is misconfigured is the node's trouble, not the video's.
    pub fn kind(&self) -> FailureKind {
        match self {
            StorageError::BadKey(_) | StorageError::NotFound(_) => FailureKind::Permanent,
            StorageError::Io { .. }
            | StorageError::Remote { .. }
            | StorageError::Unsupported(_)
            | StorageError::Misconfigured(_) => FailureKind::Transient,
        }
    }

    /// Whether the local disk behind the store is full (told by errno).
    pub fn is_out_of_space(&self) -> bool {
        matches!(self, StorageError::Io { source, .. } if crate::failure::is_out_of_space(source))
    }

    /// Maps an object_store error by its type: a missing object is
    /// [`StorageError::NotFound`], everything else is
    /// [`StorageError::Remote`]. Never looks at message text.
    pub(super) fn remote(key: impl Into<String>, source: object_store::Error) -> Self {
        match source {
            object_store::Error::NotFound { .. } => StorageError::NotFound(key.into()),
            source => StorageError::Remote {
                key: key.into(),
                source,
            },
        }
    }

    pub(super) fn io(key: impl Into<String>, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            StorageError::NotFound(key.into())
        } else {
            StorageError::Io {
                key: key.into(),
                source,
            }
        }
    }
}

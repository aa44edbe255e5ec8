//! Storage errors.

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
}

impl StorageError {
    /// Stable code for logs and API errors.
    pub fn code(&self) -> &'static str {
        match self {
            StorageError::BadKey(_) => "bad-key",
            StorageError::NotFound(_) => "not-found",
            StorageError::Io { .. } => "storage-unavailable",
            StorageError::Unsupported(_) => "storage-unsupported",
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

//! Fetching sources: URL downloads behind the SSRF guard.

mod download;
mod ssrf;

pub use download::{download, Downloader};
pub use ssrf::{check_url, is_public, GuardedResolver};

use crate::failure::{is_out_of_space, FailureKind, OUT_OF_SPACE_MESSAGE};

/// Why a source could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Not an acceptable URL (scheme, syntax).
    #[error("{0}")]
    BadUrl(String),
    /// The URL leads to an address imports may not reach.
    #[error("the URL is not allowed: {0}")]
    Forbidden(String),
    /// The source is larger than `ingest.max_bytes`.
    #[error("the source is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The server answered with an error status.
    #[error("the source server answered HTTP {0}")]
    Status(u16),
    /// Connect, read or total time ran out.
    #[error("the download timed out")]
    Timeout,
    /// Network failure; details for logs.
    #[error("the download failed: {0}")]
    Network(String),
    /// Local disk failure.
    #[error("cannot write the download: {0}")]
    Io(#[from] std::io::Error),
}

impl IngestError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::BadUrl(_) => "bad-url",
            IngestError::Forbidden(_) => "url-forbidden",
            IngestError::TooLarge { .. } => "too-large",
            IngestError::Status(_) => "source-http-error",
            IngestError::Timeout => "source-timeout",
            IngestError::Network(_) => "source-unreachable",
            IngestError::Io(_) => "io",
        }
    }

    /// Permanent when the URL or the source is refused; transient when the
    /// network, the source server or the local disk failed.
    pub fn kind(&self) -> FailureKind {
        match self {
            IngestError::BadUrl(_) | IngestError::Forbidden(_) | IngestError::TooLarge { .. } => {
                FailureKind::Permanent
            }
            // Server trouble and rate limits pass; a 404 or 403 does not.
            IngestError::Status(s) if *s >= 500 || *s == 429 || *s == 408 => FailureKind::Transient,
            IngestError::Status(_) => FailureKind::Permanent,
            IngestError::Timeout | IngestError::Network(_) | IngestError::Io(_) => {
                FailureKind::Transient
            }
        }
    }

    /// Message fit for users (no local paths).
    pub fn user_message(&self) -> String {
        match self {
            IngestError::Io(e) if is_out_of_space(e) => OUT_OF_SPACE_MESSAGE.into(),
            IngestError::Io(_) => "the node could not store the download".into(),
            IngestError::Network(_) => "the source could not be reached".into(),
            other => other.to_string(),
        }
    }
}

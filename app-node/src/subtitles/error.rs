//! Why a subtitle file was refused.

/// A subtitle file that cannot be used; messages name the line at fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubtitleError {
    /// Bytes that are not text in a supported encoding.
    #[error("line {line}: the file is not UTF-8 or UTF-16 text ({why})")]
    NotText {
        /// 1-based line of the first bad byte.
        line: usize,
        /// What was wrong.
        why: &'static str,
    },
    /// A timing line that does not parse or runs backwards.
    #[error(
        "line {line}: bad timestamp in {text:?} (expected e.g. 00:00:01,000 --> 00:00:02,500)"
    )]
    BadTimestamp {
        /// 1-based line number.
        line: usize,
        /// The offending line, shortened.
        text: String,
    },
    /// A block that has no timing line where one is required.
    #[error("line {line}: expected a cue timing line (start --> end)")]
    MissingTiming {
        /// 1-based line number.
        line: usize,
    },
    /// No cues at all.
    #[error("line {line}: the file has no subtitle cues")]
    NoCues {
        /// Last line read.
        line: usize,
    },
    /// Over [`super::MAX_BYTES`].
    #[error("the file is larger than {limit} bytes")]
    TooLarge {
        /// Byte limit.
        limit: usize,
    },
}

impl SubtitleError {
    /// Stable kebab-case code for API errors.
    pub fn code(&self) -> &'static str {
        match self {
            SubtitleError::NotText { .. } => "not-text",
            SubtitleError::BadTimestamp { .. } => "bad-timestamp",
            SubtitleError::MissingTiming { .. } => "missing-timing",
            SubtitleError::NoCues { .. } => "no-cues",
            SubtitleError::TooLarge { .. } => "too-large",
        }
    }
}

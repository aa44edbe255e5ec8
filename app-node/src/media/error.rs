//! The one error type of the media pipeline.
//!
//! Two audiences read these errors: operators (logs, through `Display` and
//! `Debug`, which may carry ffmpeg's stderr) and uploaders (through
//! [`MediaError::user_message`], which never carries paths or tool output).
//! [`MediaError::code`] is the stable handle both the API and metrics use.

use std::time::Duration;

use crate::failure::{is_out_of_space, FailureKind, OUT_OF_SPACE_MESSAGE};

/// A configurable limit a source is checked against when probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Width × height of the video frame (`media.max_pixels`).
    Pixels,
    /// Frames per second (`media.max_fps`).
    FrameRate,
    /// Streams in the container (`media.max_streams`).
    Streams,
}

impl Limit {
    /// The configuration key that sets it, named in messages so an
    /// operator knows what to raise.
    pub fn key(self) -> &'static str {
        match self {
            Limit::Pixels => "media.max_pixels",
            Limit::FrameRate => "media.max_fps",
            Limit::Streams => "media.max_streams",
        }
    }
}

/// Why a media operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// ffprobe could not read the file as media at all.
    #[error("not a readable video: {detail}")]
    NotAVideo {
        /// Tail of ffprobe's stderr or a short reason, for logs only.
        detail: String,
    },
    /// The file is media but holds no (non cover-art) video stream.
    #[error("the file has no video stream")]
    NoVideoStream,
    /// The only picture is a single still image.
    #[error("the file is a still image ({codec}), not a video")]
    StillImage {
        /// Codec of the still (e.g. `png`).
        codec: String,
    },
    /// Longer than the configured maximum.
    #[error("video is {duration_s:.1} s long, the limit is {max_s:.0} s")]
    TooLong {
        /// Probed duration.
        duration_s: f64,
        /// Configured maximum.
        max_s: f64,
    },
    /// A frame dimension exceeds what the pipeline accepts.
    #[error("frame {width}x{height} exceeds the {max} px limit")]
    TooLargeFrame {
        /// Probed coded width.
        width: u32,
        /// Probed coded height.
        height: u32,
        /// Largest accepted dimension.
        max: u32,
    },
    /// A probed property is over its configured limit.
    #[error("{limit:?} is {value}, over the limit of {max} ({key})", key = limit.key())]
    LimitExceeded {
        /// Which limit.
        limit: Limit,
        /// The source's value.
        value: f64,
        /// The configured maximum.
        max: f64,
    },
    /// The node ran out of space while writing (disk or quota full, or a
    /// file over the process's size limit).
    #[error("out of disk space: {context}")]
    DiskFull {
        /// What was being written; may hold a path, so it is for logs only.
        context: String,
    },
    /// Readable, but something about it is outside what Reel handles.
    #[error("unsupported media: {what}")]
    Unsupported {
        /// Short, path-free description; shown to users.
        what: String,
    },
    /// ffmpeg or ffprobe exited unsuccessfully.
    #[error("{tool} failed ({status}): {stderr_tail}")]
    ToolFailed {
        /// Program name (file name only).
        tool: String,
        /// Exit status as text.
        status: String,
        /// Last few KiB of stderr.
        stderr_tail: String,
    },
    /// The wall-clock limit elapsed and the process group was killed.
    #[error("{tool} timed out after {after:?}; stderr: {stderr_tail}")]
    Timeout {
        /// Program name (file name only).
        tool: String,
        /// The limit that elapsed.
        after: Duration,
        /// Last few KiB of stderr seen before the kill.
        stderr_tail: String,
    },
    /// A shutdown or user action cancelled the run; the process group was killed.
    #[error("{tool} was cancelled")]
    Cancelled {
        /// Program name (file name only).
        tool: String,
    },
    /// ffprobe ran but its output could not be understood.
    #[error("could not interpret ffprobe output: {reason}")]
    ProbeFailed {
        /// What was wrong, for logs.
        reason: String,
    },
    /// Filesystem or process-spawn failure.
    #[error("{context}: {source}")]
    Io {
        /// What was being done; may hold a path, so it is for logs only.
        context: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl MediaError {
    /// Stable kebab-case identifier, safe to store, match on and expose.
    pub fn code(&self) -> &'static str {
        match self {
            MediaError::NotAVideo { .. } => "not-a-video",
            MediaError::NoVideoStream => "no-video-stream",
            MediaError::StillImage { .. } => "still-image",
            MediaError::TooLong { .. } => "too-long",
            MediaError::TooLargeFrame { .. } => "too-large-frame",
            MediaError::Unsupported { .. } => "unsupported",
            MediaError::LimitExceeded { limit, .. } => match limit {
                Limit::Pixels => "too-many-pixels",
                Limit::FrameRate => "frame-rate-too-high",
                Limit::Streams => "too-many-streams",
            },
            MediaError::DiskFull { .. } => "disk-full",
            MediaError::ToolFailed { .. } => "ffmpeg-failed",
            MediaError::Timeout { .. } => "ffmpeg-timeout",
            MediaError::Cancelled { .. } => "cancelled",
            MediaError::ProbeFailed { .. } => "probe-failed",
            MediaError::Io { .. } => "io",
        }
    }

    /// Permanent for what is wrong with the input itself; transient for
    /// what went wrong around it (tools crashing or timing out, the disk).
    pub fn kind(&self) -> FailureKind {
        match self {
            MediaError::NotAVideo { .. }
            | MediaError::NoVideoStream
            | MediaError::StillImage { .. }
            | MediaError::TooLong { .. }
            | MediaError::TooLargeFrame { .. }
            | MediaError::Unsupported { .. }
            | MediaError::LimitExceeded { .. } => FailureKind::Permanent,
            // A failed ffmpeg run is usually a damaged file, but it may as
            // well be a killed process or a bad moment on the node; the
            // attempt limit bounds what retrying a damaged file costs.
            MediaError::ToolFailed { .. }
            | MediaError::Timeout { .. }
            | MediaError::Cancelled { .. }
            | MediaError::ProbeFailed { .. }
            | MediaError::DiskFull { .. }
            | MediaError::Io { .. } => FailureKind::Transient,
        }
    }

    /// A reason suitable for showing to the uploader: no paths, no tool output.
    pub fn user_message(&self) -> String {
        match self {
            MediaError::NotAVideo { .. } => "The file is not a video ffmpeg can read.".into(),
            MediaError::NoVideoStream => "The file contains no video track.".into(),
            MediaError::StillImage { .. } => "The file is a still image, not a video.".into(),
            MediaError::TooLong { duration_s, max_s } => format!(
                "The video is {} long; the maximum is {} (setting media.max_duration_s).",
                human_duration(*duration_s),
                human_duration(*max_s)
            ),
            MediaError::LimitExceeded { limit, value, max } => {
                let key = limit.key();
                match limit {
                    Limit::Pixels => format!(
                        "The video frame has {value} pixels; the limit is {max} (setting {key})."
                    ),
                    Limit::FrameRate => format!(
                        "The video has {value:.2} frames per second; the limit is {max} \
                         (setting {key})."
                    ),
                    Limit::Streams => {
                        format!("The file has {value} streams; the limit is {max} (setting {key}).")
                    }
                }
            }
            MediaError::DiskFull { .. } => OUT_OF_SPACE_MESSAGE.into(),
            MediaError::TooLargeFrame { width, height, max } => format!(
                "The video frame is {width}x{height}; at most {max} pixels per side are supported."
            ),
            MediaError::Unsupported { what } => format!("This video is not supported: {what}."),
            MediaError::ToolFailed { .. } => {
                "The video could not be converted; it may be damaged or use an unusual format."
                    .into()
            }
            MediaError::Timeout { .. } => "Converting the video took too long.".into(),
            MediaError::Cancelled { .. } => "Processing was interrupted before it finished.".into(),
            MediaError::ProbeFailed { .. } => "The video could not be analysed.".into(),
            MediaError::Io { .. } => "A storage error occurred while processing the video.".into(),
        }
    }

    /// Wraps an I/O error with a log-only context; running out of space
    /// becomes [`MediaError::DiskFull`], told by the error's kind.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        if is_out_of_space(&source) {
            return MediaError::DiskFull {
                context: format!("{}: {source}", context.into()),
            };
        }
        MediaError::Io {
            context: context.into(),
            source,
        }
    }
}

/// `h:mm:ss` or `m:ss`, because raw seconds read badly for multi-hour limits.
fn human_duration(seconds: f64) -> String {
    let total = seconds.max(0.0).round() as u64;
    let (h, m, s) = (total / 3600, (total / 60) % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        assert_eq!(
            MediaError::NotAVideo { detail: "x".into() }.code(),
            "not-a-video"
        );
        assert_eq!(MediaError::NoVideoStream.code(), "no-video-stream");
        assert_eq!(
            MediaError::TooLong {
                duration_s: 1.0,
                max_s: 0.5
            }
            .code(),
            "too-long"
        );
    }

    #[test]
    fn user_message_hides_stderr_and_paths() {
        let err = MediaError::ToolFailed {
            tool: "ffmpeg".into(),
            status: "exit status: 1".into(),
            stderr_tail: "/srv/reel/uploads/secret.mp4: Invalid data".into(),
        };
        assert!(!err.user_message().contains("/srv"));
        assert!(err.to_string().contains("Invalid data"));
        let io = MediaError::io("writing /srv/x", std::io::Error::other("disk full"));
        assert!(!io.user_message().contains("/srv"));
    }

    #[test]
    fn input_problems_are_permanent_and_node_problems_transient() {
        let permanent = [
            MediaError::NotAVideo { detail: "x".into() },
            MediaError::NoVideoStream,
            MediaError::StillImage {
                codec: "png".into(),
            },
            MediaError::TooLong {
                duration_s: 2.0,
                max_s: 1.0,
            },
            MediaError::Unsupported { what: "x".into() },
            MediaError::LimitExceeded {
                limit: Limit::Streams,
                value: 40.0,
                max: 32.0,
            },
        ];
        for e in &permanent {
            assert_eq!(e.kind(), FailureKind::Permanent, "{e}");
        }
        let transient = [
            MediaError::Timeout {
                tool: "ffmpeg".into(),
                after: Duration::from_secs(1),
                stderr_tail: String::new(),
            },
            MediaError::io("writing", std::io::Error::from_raw_os_error(libc::ENOSPC)),
            MediaError::io("writing", std::io::Error::from_raw_os_error(libc::EIO)),
        ];
        for e in &transient {
            assert_eq!(e.kind(), FailureKind::Transient, "{e}");
        }
        assert_eq!(transient[1].code(), "disk-full");
        assert_eq!(
            transient[1].user_message(),
            "The node ran out of disk space."
        );
    }

    #[test]
    fn limit_messages_name_the_limit_and_its_key() {
        let e = MediaError::LimitExceeded {
            limit: Limit::Pixels,
            value: 9000.0 * 5000.0,
            max: 35389440.0,
        };
        assert_eq!(e.code(), "too-many-pixels");
        assert_eq!(
            e.user_message(),
            "The video frame has 45000000 pixels; the limit is 35389440 (setting media.max_pixels)."
        );
    }

    #[test]
    fn too_long_message_is_readable() {
        let err = MediaError::TooLong {
            duration_s: 4.0 * 3600.0 + 61.0,
            max_s: 4.0 * 3600.0,
        };
        assert_eq!(
            err.user_message(),
            "The video is 4:01:01 long; the maximum is 4:00:00 (setting media.max_duration_s)."
        );
    }
}

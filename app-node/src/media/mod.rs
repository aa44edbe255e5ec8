//! Media work: probe, ladder plan, transcode to HLS, poster, subtitles.
//!
//! Every external tool call goes through [`process`], so timeouts, process
//! groups and stderr handling are uniform. Typical use:
//! [`probe::probe`] → [`ladder::plan_ladder`] → [`transcode::transcode`] and
//! [`poster::poster`].

// Public API of the media layer is consumed by the worker and HTTP code;
// keep every item documented.
#![warn(missing_docs)]

use std::path::PathBuf;
use std::time::Duration;

pub mod args;
pub mod error;
pub mod h264;
pub mod hls;
pub mod ladder;
pub mod master;
pub mod poster;
pub mod probe;
pub mod process;
mod progress;
pub mod rendition;
pub mod source;
pub mod storyboard;
pub mod subtitles;
pub mod transcode;
pub mod webvtt;

pub use error::MediaError;
pub use ladder::{plan_ladder, AudioPlan, LadderOptions, LadderPlan, Rung, RungSpec};
pub use master::{replace_subtitles, MasterPlaylist, SubtitleRendition};
pub use poster::poster;
pub use probe::{probe, ProbeInfo, SubtitleStream};
pub use rendition::Rendition;
pub use storyboard::{plan_storyboard, storyboard, StoryboardPlan};
pub use subtitles::extract_subtitle;
pub use transcode::{transcode, transcode_with_cancel, TranscodeOutput};

/// Where the tools are and how long they may run.
#[derive(Debug, Clone)]
pub struct MediaTools {
    /// ffmpeg binary (bare name → looked up in `PATH`).
    pub ffmpeg: PathBuf,
    /// ffprobe binary (bare name → looked up in `PATH`).
    pub ffprobe: PathBuf,
    /// Wall-clock limit for one transcode.
    pub timeout: Duration,
    /// Wall-clock limit for one probe, poster or subtitle extraction.
    pub probe_timeout: Duration,
    /// libx264 preset; slower presets trade CPU time for smaller files.
    pub preset: String,
    /// Longest accepted source, in seconds.
    pub max_duration_s: f64,
}

impl Default for MediaTools {
    fn default() -> Self {
        MediaTools {
            ffmpeg: PathBuf::from("ffmpeg"),
            ffprobe: PathBuf::from("ffprobe"),
            timeout: Duration::from_secs(2 * 3600),
            probe_timeout: Duration::from_secs(30),
            preset: "veryfast".into(),
            max_duration_s: 4.0 * 3600.0,
        }
    }
}

//! Media work: probe, ladder plan, transcode to HLS, poster, subtitles.
//!
//! Every external tool call goes through [`process`], so timeouts, process
//! groups and stderr handling are uniform. Typical use:
//! [`probe::probe`] → [`ladder::plan_ladder`] → [`transcode::transcode`],
//! which also writes the poster and the storyboard from its one decode of
//! the source.

// Public API of the media layer is consumed by the worker and HTTP code;
// keep every item documented.
#![warn(missing_docs)]

use std::path::PathBuf;
use std::time::Duration;

pub mod args;
mod argv;
pub mod color;
pub mod error;
pub mod h264;
pub mod hls;
pub mod ladder;
pub mod master;
pub mod picture_args;
pub mod pictures;
pub mod poster;
pub mod probe;
pub mod process;
mod progress;
pub mod rendition;
pub mod source;
pub mod storyboard;
pub mod subtitles;
mod tool_env;
pub mod transcode;
pub mod webvtt;

pub use color::VideoColor;
pub use error::MediaError;
pub use ladder::{plan_ladder, AudioPlan, LadderOptions, LadderPlan, Rung, RungSpec};
pub use master::{replace_subtitles, MasterPlaylist, SubtitleRendition};
pub use pictures::{plan_pictures, PicturePlan, PosterShot};
pub use poster::poster;
pub use probe::{probe, ProbeInfo, ProbeLimits, SubtitleStream};
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
    /// Wall-clock limit of a transcode per second of source (see
    /// [`MediaTools::transcode_timeout`]).
    pub timeout_factor: f64,
    /// Added to the scaled limit: start-up, and room for short sources.
    pub timeout_margin: Duration,
    /// Wall-clock limit for one probe, poster or subtitle extraction.
    pub probe_timeout: Duration,
    /// libx264 preset; slower presets trade CPU time for smaller files.
    pub preset: String,
    /// Limits a source is checked against when probed.
    pub limits: ProbeLimits,
}

impl MediaTools {
    /// Wall-clock limit of a run that decodes the whole source (the ladder,
    /// the storyboard): `timeout_factor` × its duration + `timeout_margin`.
    /// Scaling with the duration lets a long legal video finish, while a
    /// hung ffmpeg is still killed, at most a few times the video's length
    /// after it started.
    pub fn transcode_timeout(&self, duration_s: f64) -> Duration {
        let d = if duration_s.is_finite() {
            duration_s.max(0.0)
        } else {
            0.0
        };
        let scaled =
            Duration::try_from_secs_f64(d * self.timeout_factor.max(0.0)).unwrap_or(Duration::MAX);
        scaled.saturating_add(self.timeout_margin)
    }
}

impl Default for MediaTools {
    fn default() -> Self {
        MediaTools {
            ffmpeg: PathBuf::from("ffmpeg"),
            ffprobe: PathBuf::from("ffprobe"),
            timeout_factor: 3.0,
            timeout_margin: Duration::from_secs(300),
            probe_timeout: Duration::from_secs(30),
            preset: "veryfast".into(),
            limits: ProbeLimits::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcode_time_scales_with_the_source() {
        let tools = MediaTools::default();
        assert_eq!(tools.transcode_timeout(0.0), Duration::from_secs(300));
        assert_eq!(tools.transcode_timeout(60.0), Duration::from_secs(480));
        // The longest legal source gets 3 × 4 h + 5 min, far above the
        // 2 h a fixed limit used to allow.
        let longest = tools.transcode_timeout(tools.limits.max_duration_s);
        assert_eq!(longest, Duration::from_secs(3 * 14400 + 300));
        assert_eq!(tools.transcode_timeout(f64::NAN), Duration::from_secs(300));
    }
}

//! Source → HLS ladder in one ffmpeg run, then Reel's own master playlist.
//! The same run writes the poster and the storyboard, so the source is
//! read and decoded once.

use std::path::Path;

use tokio_util::sync::CancellationToken;

use super::args::{transcode_args, AUDIO_NAME};
use super::error::MediaError;
use super::h264::AAC_LC_CODECS;
use super::hls::{self, Bitrates};
use super::ladder::LadderPlan;
use super::master::MasterPlaylist;
use super::pictures::{StoryboardPlan, POSTER_NAME};
use super::poster;
use super::process::{self, StdoutMode, ToolCommand};
use super::rendition::Rendition;
use super::storyboard;
use super::MediaTools;

/// File name of the multivariant playlist inside the output directory.
pub const MASTER_NAME: &str = "master.m3u8";

/// What [`transcode`] produced in the output directory.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscodeOutput {
    /// Video renditions, highest first.
    pub renditions: Vec<Rendition>,
    /// Whether an `audio/` rendition was written.
    pub has_audio: bool,
    /// Whether `poster.jpg` was written.
    pub poster: bool,
    /// The layout of `storyboard.jpg`, when it and `storyboard.vtt` were
    /// written.
    pub storyboard: Option<StoryboardPlan>,
    /// Why a planned picture is missing. Pictures are worth having but not
    /// worth failing a video over, so these are for the log only.
    pub picture_problems: Vec<String>,
}

/// The renditions `plan` will write, with the bandwidths it aims at
/// (VBV peak and target average, plus audio); [`transcode`] replaces them
/// with measured ones.
pub fn planned_renditions(plan: &LadderPlan) -> Vec<Rendition> {
    let audio_bps = plan.audio.map_or(0, |a| u64::from(a.kbps) * 1000);
    plan.rungs
        .iter()
        .map(|rung| Rendition {
            name: rung.name.clone(),
            width: rung.width,
            height: rung.height,
            bandwidth: u64::from(rung.maxrate_kbps) * 1000 + audio_bps,
            average_bandwidth: u64::from(rung.video_kbps) * 1000 + audio_bps,
            codecs: match plan.audio {
                Some(_) => format!("{},{AAC_LC_CODECS}", rung.codecs()),
                None => rung.codecs(),
            },
            frame_rate: plan.fps,
            playlist: format!("{}/index.m3u8", rung.name),
        })
        .collect()
}

/// The master playlist of `plan` over `variants`.
pub fn master_playlist(plan: &LadderPlan, variants: Vec<Rendition>) -> MasterPlaylist {
    MasterPlaylist {
        variants,
        audio_uri: plan.audio.map(|_| format!("{AUDIO_NAME}/index.m3u8")),
        audio_channels: plan.audio.map(|a| a.channels).unwrap_or(0),
        subtitles: Vec::new(),
    }
}

/// The folders `plan` writes a media playlist into: each rung's, then the
/// audio one.
pub fn rendition_dirs(plan: &LadderPlan) -> Vec<String> {
    let mut dirs: Vec<String> = plan.rungs.iter().map(|r| r.name.clone()).collect();
    if plan.audio.is_some() {
        dirs.push(AUDIO_NAME.to_string());
    }
    dirs
}

/// Transcodes `input` into `out_dir` following `plan`.
///
/// `out_dir` ends up holding `master.m3u8`, `<rung>/index.m3u8`,
/// `<rung>/init.mp4`, `<rung>/seg_NNNNN.m4s`, `audio/…` when there is
/// audio, and the planned pictures (`poster.jpg`, `storyboard.jpg` and
/// `storyboard.vtt`). On error it may hold partial output; the caller owns cleanup
/// (typically a staging directory that is removed).
pub async fn transcode(
    tools: &MediaTools,
    input: &Path,
    plan: &LadderPlan,
    duration_s: f64,
    out_dir: &Path,
    progress: &(dyn Fn(f64) + Send + Sync),
) -> Result<TranscodeOutput, MediaError> {
    transcode_with_cancel(tools, input, plan, duration_s, out_dir, progress, None).await
}

/// [`transcode`] that also stops (killing ffmpeg) when `cancel` fires.
pub async fn transcode_with_cancel(
    tools: &MediaTools,
    input: &Path,
    plan: &LadderPlan,
    duration_s: f64,
    out_dir: &Path,
    progress: &(dyn Fn(f64) + Send + Sync),
    cancel: Option<CancellationToken>,
) -> Result<TranscodeOutput, MediaError> {
    if plan.rungs.is_empty() {
        return Err(MediaError::Unsupported {
            what: "no renditions could be planned".into(),
        });
    }
    let dirs = rendition_dirs(plan);
    for name in &dirs {
        let dir = out_dir.join(name);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| MediaError::io(format!("creating {}", dir.display()), e))?;
    }

    let args = transcode_args(input, plan, &tools.preset, out_dir);
    // Tone-mapping (float zscale, not threaded in ffmpeg 5.1) made a 1080p
    // HDR ladder take 1.7x as long as the same 10-bit source without it:
    // an HDR source gets twice the budget so a legal one can finish.
    let mut limit = tools.transcode_timeout(duration_s);
    if plan.color.is_hdr() {
        limit = limit.saturating_mul(2);
    }
    let mut cmd = ToolCommand::new(&tools.ffmpeg, args, limit);
    cmd.cancel = cancel;
    // A failure while the output's disk is (nearly) full is reported as
    // such: ffmpeg's exit status alone cannot say it.
    cmd.writes_to = Some(out_dir.to_path_buf());
    process::run(
        &cmd,
        StdoutMode::Progress {
            duration_s,
            on_progress: progress,
        },
    )
    .await?;

    for name in &dirs {
        hls::normalize_init(&out_dir.join(name)).await?;
    }
    let audio = match plan.audio {
        Some(_) => hls::measure_rendition(&out_dir.join(AUDIO_NAME)).await?,
        None => Bitrates::default(),
    };

    let mut renditions = planned_renditions(plan);
    for r in &mut renditions {
        let video = hls::measure_rendition(&out_dir.join(&r.name)).await?;
        // Peaks of audio and video rarely coincide, but a player must be
        // able to fetch both at once, so the sum is the honest bound.
        r.bandwidth = video.peak_bps + audio.peak_bps;
        r.average_bandwidth = video.average_bps + audio.average_bps;
    }

    let master = master_playlist(plan, renditions.clone());
    hls::write_atomic(&out_dir.join(MASTER_NAME), master.render().as_bytes()).await?;

    let mut picture_problems = Vec::new();
    let mut note = |what: &str, r: Result<(), MediaError>| match r {
        Ok(()) => true,
        Err(e) => {
            picture_problems.push(format!("{what}: {e}"));
            false
        }
    };
    let made_poster = match plan.pictures.poster {
        Some(_) => note("poster", poster::finish(&out_dir.join(POSTER_NAME)).await),
        None => false,
    };
    let made_storyboard = match plan.pictures.storyboard {
        Some(layout) => {
            let r = storyboard::assemble(tools, out_dir, &layout, duration_s).await;
            note("storyboard", r).then_some(layout)
        }
        None => None,
    };

    Ok(TranscodeOutput {
        renditions,
        has_audio: plan.audio.is_some(),
        poster: made_poster,
        storyboard: made_storyboard,
        picture_problems,
    })
}

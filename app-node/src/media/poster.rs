//! A still frame to show before playback starts.
//!
//! An import takes it from the ladder's own decode (see
//! [`super::picture_args`]); [`poster`] grabs it in a short run of its own
//! (a seek, then a few frames decoded).

use std::path::{Path, PathBuf};

use super::args::{poster_args, PictureSource};
use super::error::MediaError;
use super::pictures::{part_name, poster_time};
pub use super::pictures::{poster_size, MAX_POSTER_WIDTH};
use super::probe::ProbeInfo;
use super::process::{self, StdoutMode, ToolCommand};
use super::MediaTools;

/// Writes a JPEG of the frame at ~10% of the source to `out`.
///
/// The frame comes from the probed video stream (the one the ladder is
/// made from, never cover art), in 8-bit SDR; the poster keeps the display
/// aspect ratio, at most [`MAX_POSTER_WIDTH`] wide. The file appears
/// atomically: it is written to a sibling and renamed.
pub async fn poster(
    tools: &MediaTools,
    input: &Path,
    info: &ProbeInfo,
    out: &Path,
) -> Result<(), MediaError> {
    let src = PictureSource {
        stream: info.video_index,
        color: &info.color,
    };
    let size = poster_size((info.width, info.height));
    let tmp = part_path(out);
    let at_s = poster_time(info.duration_s);
    grab(tools, input, src, at_s, size, &tmp).await?;
    if at_s > 0.0 && is_empty(&tmp).await {
        // A seek past the last decodable frame yields no frame; retry at 0.
        grab(tools, input, src, 0.0, size, &tmp).await?;
    }
    finish(out).await
}

/// Publishes the poster ffmpeg wrote to `<out>.part`; an empty or missing
/// one is an error, and the partial file never stays behind.
pub async fn finish(out: &Path) -> Result<(), MediaError> {
    let tmp = part_path(out);
    let result = if is_empty(&tmp).await {
        Err(MediaError::Unsupported {
            what: "no frame for the poster".into(),
        })
    } else {
        tokio::fs::rename(&tmp, out)
            .await
            .map_err(|e| MediaError::io(format!("renaming poster to {}", out.display()), e))
    };
    if result.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    result
}

/// `<out>.part`, where ffmpeg writes the poster before it is published.
pub fn part_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(part_name(&name))
}

async fn is_empty(path: &Path) -> bool {
    tokio::fs::metadata(path)
        .await
        .map(|m| m.len() == 0)
        .unwrap_or(true)
}

async fn grab(
    tools: &MediaTools,
    input: &Path,
    src: PictureSource<'_>,
    at_s: f64,
    size: (u32, u32),
    out: &Path,
) -> Result<(), MediaError> {
    let args = poster_args(input, src, at_s, size, out);
    let cmd = ToolCommand::new(&tools.ffmpeg, args, tools.probe_timeout);
    process::run(&cmd, StdoutMode::Capture).await.map(|_| ())
}

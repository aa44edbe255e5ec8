//! A still frame to show before playback starts.

use std::path::Path;

use super::args::{poster_args, PictureSource};
use super::error::MediaError;
use super::probe::ProbeInfo;
use super::process::{self, StdoutMode, ToolCommand};
use super::MediaTools;

/// Widest poster written; larger adds bytes without visible benefit in a card.
pub const MAX_POSTER_WIDTH: u32 = 640;

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
    let duration_s = info.duration_s;
    let src = PictureSource {
        stream: info.video_index,
        color: &info.color,
    };
    let size = poster_size((info.width, info.height));
    let mut tmp = out.as_os_str().to_owned();
    tmp.push(".part");
    let tmp = std::path::PathBuf::from(tmp);

    // 10% in skips black intro frames; very short clips use the first frame.
    let at_s = if duration_s >= 1.0 {
        duration_s * 0.1
    } else {
        0.0
    };
    grab(tools, input, src, at_s, size, &tmp).await?;
    let empty = tokio::fs::metadata(&tmp)
        .await
        .map(|m| m.len() == 0)
        .unwrap_or(true);
    if empty && at_s > 0.0 {
        // A seek past the last decodable frame yields no frame; retry at 0.
        grab(tools, input, src, 0.0, size, &tmp).await?;
    }
    tokio::fs::rename(&tmp, out)
        .await
        .map_err(|e| MediaError::io(format!("renaming poster to {}", out.display()), e))
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

/// Poster dimensions: source aspect, width capped, both even.
pub fn poster_size((w, h): (u32, u32)) -> (u32, u32) {
    let (w, h) = (w.max(2), h.max(2));
    // Width rounds down so the poster never exceeds the source.
    let width = (w.min(MAX_POSTER_WIDTH) & !1).max(2);
    let height = f64::from(h) * f64::from(width) / f64::from(w);
    (width, (((height / 2.0).round() as u32) * 2).max(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(poster_size((1920, 1080)), (640, 360));
        assert_eq!(poster_size((720, 1280)), (640, 1138));
        assert_eq!(poster_size((320, 240)), (320, 240));
        assert_eq!(poster_size((161, 121)), (160, 120));
    }
}

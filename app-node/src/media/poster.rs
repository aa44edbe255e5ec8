//! A still frame to show before playback starts.

use std::path::Path;

use super::args::poster_args;
use super::error::MediaError;
use super::process::{self, StdoutMode, ToolCommand};
use super::MediaTools;

/// Widest poster written; larger adds bytes without visible benefit in a card.
pub const MAX_POSTER_WIDTH: u32 = 640;

/// Writes a JPEG of the frame at ~10% of `duration_s` to `out`.
///
/// `display` is the source's display size (after rotation, as in
/// [`super::ProbeInfo`]); the poster keeps its aspect ratio, at most
/// [`MAX_POSTER_WIDTH`] wide. The file appears atomically: it is written to a
/// sibling and renamed.
pub async fn poster(
    tools: &MediaTools,
    input: &Path,
    display: (u32, u32),
    duration_s: f64,
    out: &Path,
) -> Result<(), MediaError> {
    let (width, height) = poster_size(display);
    let mut tmp = out.as_os_str().to_owned();
    tmp.push(".part");
    let tmp = std::path::PathBuf::from(tmp);

    // 10% in skips black intro frames; very short clips use the first frame.
    let at_s = if duration_s >= 1.0 {
        duration_s * 0.1
    } else {
        0.0
    };
    grab(tools, input, at_s, width, height, &tmp).await?;
    let empty = tokio::fs::metadata(&tmp)
        .await
        .map(|m| m.len() == 0)
        .unwrap_or(true);
    if empty && at_s > 0.0 {
        // A seek past the last decodable frame yields no frame; retry at 0.
        grab(tools, input, 0.0, width, height, &tmp).await?;
    }
    tokio::fs::rename(&tmp, out)
        .await
        .map_err(|e| MediaError::io(format!("renaming poster to {}", out.display()), e))
}

async fn grab(
    tools: &MediaTools,
    input: &Path,
    at_s: f64,
    width: u32,
    height: u32,
    out: &Path,
) -> Result<(), MediaError> {
    let args = poster_args(input, at_s, width, height, out);
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

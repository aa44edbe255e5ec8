//! Seek-bar previews: one sprite JPEG of evenly spaced frames plus a WebVTT
//! track whose cues point at tiles with `#xywh=`.

use std::path::Path;

use super::webvtt::vtt_time;

use super::args::{storyboard_args, PictureSource};
use super::error::MediaError;
use super::probe::ProbeInfo;
use super::process::{self, StdoutMode, ToolCommand};
use super::MediaTools;

/// Upper bound on tiles, so the sprite stays small whatever the duration.
pub const MAX_TILES: u32 = 100;
/// Tile width; previews are small, and narrower sources keep their width.
pub const TILE_WIDTH: u32 = 160;
/// Tiles per sprite row.
pub const COLUMNS: u32 = 10;
/// Sprite file name under the video prefix.
pub const SPRITE_NAME: &str = "storyboard.jpg";
/// Thumbnails track file name under the video prefix.
pub const VTT_NAME: &str = "storyboard.vtt";

/// Layout of a storyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoryboardPlan {
    /// Whole seconds between tiles (at least 1).
    pub interval_s: u32,
    /// Number of tiles, at most [`MAX_TILES`].
    pub tiles: u32,
    /// Tiles per row.
    pub columns: u32,
    /// Rows of tiles.
    pub rows: u32,
    /// Tile width in pixels.
    pub tile_w: u32,
    /// Tile height in pixels.
    pub tile_h: u32,
}

/// Plans tiles for a video of `duration_s` with display size `(w, h)`.
pub fn plan_storyboard(duration_s: f64, (w, h): (u32, u32)) -> StoryboardPlan {
    let d = if duration_s.is_finite() {
        duration_s.max(1.0)
    } else {
        1.0
    };
    // Whole-second spacing keeps tile times exact in the VTT.
    let interval_s = ((d / f64::from(MAX_TILES)).ceil() as u32).max(1);
    let tiles = ((d / f64::from(interval_s)).ceil() as u32).clamp(1, MAX_TILES);
    let columns = tiles.min(COLUMNS);
    let rows = tiles.div_ceil(columns);
    let tile_w = (w.clamp(2, TILE_WIDTH)) & !1;
    let tile_h =
        ((f64::from(h.max(2)) * f64::from(tile_w) / f64::from(w.max(2)) / 2.0).round() as u32 * 2)
            .max(2);
    StoryboardPlan {
        interval_s,
        tiles,
        columns,
        rows,
        tile_w,
        tile_h,
    }
}

/// The thumbnails track: one cue per tile, the last one ending at the end.
pub fn storyboard_vtt(plan: &StoryboardPlan, duration_s: f64, sprite: &str) -> String {
    let mut out = String::from("WEBVTT\n");
    let end_ms = (duration_s.max(0.0) * 1000.0).round() as u64;
    for i in 0..plan.tiles {
        let start = u64::from(i * plan.interval_s) * 1000;
        let end = if i + 1 == plan.tiles {
            end_ms.max(start + 1)
        } else {
            u64::from((i + 1) * plan.interval_s) * 1000
        };
        let (x, y) = (
            (i % plan.columns) * plan.tile_w,
            (i / plan.columns) * plan.tile_h,
        );
        out.push_str(&format!(
            "\n{} --> {}\n{sprite}#xywh={x},{y},{},{}\n",
            vtt_time(start),
            vtt_time(end),
            plan.tile_w,
            plan.tile_h
        ));
    }
    out
}

/// Writes [`SPRITE_NAME`] and [`VTT_NAME`] into `out_dir`, each atomically,
/// from the probed video stream (the ladder's, never cover art).
pub async fn storyboard(
    tools: &MediaTools,
    input: &Path,
    info: &ProbeInfo,
    out_dir: &Path,
) -> Result<StoryboardPlan, MediaError> {
    let duration_s = info.duration_s;
    let plan = plan_storyboard(duration_s, (info.width, info.height));
    let tmp = out_dir.join(format!("{SPRITE_NAME}.part"));
    let src = PictureSource {
        stream: info.video_index,
        color: &info.color,
    };
    let args = storyboard_args(
        input,
        src,
        plan.interval_s,
        (plan.tile_w, plan.tile_h),
        (plan.columns, plan.rows),
        &tmp,
    );
    // Decodes the whole source, so it gets the transcode's time budget.
    let cmd = ToolCommand::new(&tools.ffmpeg, args, tools.transcode_timeout(duration_s));
    process::run(&cmd, StdoutMode::Capture).await?;
    let empty = tokio::fs::metadata(&tmp)
        .await
        .map(|m| m.len() == 0)
        .unwrap_or(true);
    if empty {
        return Err(MediaError::Unsupported {
            what: "no frames for the storyboard".into(),
        });
    }
    tokio::fs::rename(&tmp, out_dir.join(SPRITE_NAME))
        .await
        .map_err(|e| MediaError::io("renaming storyboard sprite", e))?;
    let vtt = storyboard_vtt(&plan, duration_s, SPRITE_NAME);
    super::hls::write_atomic(&out_dir.join(VTT_NAME), vtt.as_bytes()).await?;
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_stay_under_the_tile_cap() {
        let p = plan_storyboard(16.2, (854, 480));
        assert_eq!((p.interval_s, p.tiles, p.columns, p.rows), (1, 17, 10, 2));
        assert_eq!((p.tile_w, p.tile_h), (160, 90));
        for d in [0.4, 99.0, 100.0, 101.0, 3600.0, 4.0 * 3600.0 + 7.0] {
            let p = plan_storyboard(d, (1920, 1080));
            assert!(p.tiles <= MAX_TILES && p.tiles >= 1, "{d}: {p:?}");
            assert!(f64::from(p.tiles * p.interval_s) >= d, "{d}: {p:?}");
            assert!(p.columns * p.rows >= p.tiles);
        }
        assert_eq!(plan_storyboard(10.0, (100, 300)).tile_w, 100);
    }

    #[test]
    fn vtt_tiles_cover_the_duration() {
        let p = plan_storyboard(12.5, (640, 360));
        let vtt = storyboard_vtt(&p, 12.5, "storyboard.jpg");
        assert!(vtt.starts_with(
            "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nstoryboard.jpg#xywh=0,0,160,90\n"
        ));
        assert!(vtt.contains("00:00:10.000 --> 00:00:11.000\nstoryboard.jpg#xywh=0,90,160,90\n"));
        assert!(vtt.ends_with("00:00:12.000 --> 00:00:12.500\nstoryboard.jpg#xywh=320,90,160,90\n"));
    }
}

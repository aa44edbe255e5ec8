//! Seek-bar previews: one sprite JPEG of evenly spaced frames plus a WebVTT
//! track whose cues point at tiles with `#xywh=`.
//!
//! An import gets the tiles from the ladder's own decode and [`assemble`]s
//! them; [`storyboard`] makes everything in a run of its own (which decodes
//! the whole source again).

use std::path::Path;

use super::error::MediaError;
use super::picture_args::{sprite_args, storyboard_args, PictureSource};
use super::pictures::{part_name, TILES_NAME};
pub use super::pictures::{
    plan_storyboard, storyboard_vtt, StoryboardPlan, COLUMNS, MAX_TILES, SPRITE_NAME, TILE_WIDTH,
    VTT_NAME,
};
use super::probe::ProbeInfo;
use super::process::{self, StdoutMode, ToolCommand};
use super::MediaTools;

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
    let tmp = out_dir.join(part_name(SPRITE_NAME));
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
    finish(out_dir, &plan, duration_s).await?;
    Ok(plan)
}

/// Tiles the frames the ladder's run wrote to `<out_dir>/storyboard.tiles.mkv`
/// into the sprite, then publishes it with its track. The tiles file is
/// removed whatever happens: it is scratch, not something to publish.
pub async fn assemble(
    tools: &MediaTools,
    out_dir: &Path,
    plan: &StoryboardPlan,
    duration_s: f64,
) -> Result<(), MediaError> {
    let tiles = out_dir.join(TILES_NAME);
    let tmp = out_dir.join(part_name(SPRITE_NAME));
    let args = sprite_args(&tiles, plan, &tmp);
    // At most a few hundred small frames: the probe's budget is plenty.
    let cmd = ToolCommand::new(&tools.ffmpeg, args, tools.probe_timeout);
    let made = process::run(&cmd, StdoutMode::Capture).await;
    let _ = tokio::fs::remove_file(&tiles).await;
    if let Err(e) = made {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e);
    }
    finish(out_dir, plan, duration_s).await
}

/// Publishes the sprite ffmpeg wrote to `<out_dir>/storyboard.jpg.part`
/// and writes its track; an empty or missing sprite (no frames) is an
/// error, and the partial file never stays behind.
pub async fn finish(
    out_dir: &Path,
    plan: &StoryboardPlan,
    duration_s: f64,
) -> Result<(), MediaError> {
    let tmp = out_dir.join(part_name(SPRITE_NAME));
    let empty = tokio::fs::metadata(&tmp)
        .await
        .map(|m| m.len() == 0)
        .unwrap_or(true);
    if empty {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(MediaError::Unsupported {
            what: "no frames for the storyboard".into(),
        });
    }
    tokio::fs::rename(&tmp, out_dir.join(SPRITE_NAME))
        .await
        .map_err(|e| MediaError::io("renaming storyboard sprite", e))?;
    let vtt = storyboard_vtt(plan, duration_s, SPRITE_NAME);
    super::hls::write_atomic(&out_dir.join(VTT_NAME), vtt.as_bytes()).await
}

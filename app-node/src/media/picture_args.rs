//! ffmpeg arguments for still pictures: the poster and storyboard branches
//! of the ladder's run, the sprite assembled from the storyboard's tiles,
//! and the standalone poster and storyboard runs.
//!
//! In the ladder's run every output must get its first frame early: ffmpeg
//! 5.1 prints no `-progress` until each output file has started, and Reel
//! reads that progress both for the progress bar and to notice a deleted
//! video. So the poster output starts with the first frame (then
//! overwritten by the chosen one) and the storyboard's tiles go out one by
//! one as they are picked, to be tiled into the sprite afterwards; a `tile`
//! filter in the graph would hold back its output until the very end.

use std::ffi::OsString;
use std::path::Path;

use super::argv::{preamble, Argv};
use super::color::VideoColor;
use super::ladder::LadderPlan;
use super::pictures::{part_name, StoryboardPlan, POSTER_NAME, TILES_NAME};
use super::source::{file_url, SOURCE_DEMUXERS};

/// Label of the poster branch in the ladder's graph.
const POSTER_LABEL: &str = "poster";
/// Label of the storyboard branch in the ladder's graph.
const STORYBOARD_LABEL: &str = "storyboard";

/// The picture branches of the ladder's graph, each ending in its label;
/// they take frames already in 8-bit SDR and cost little: they drop all
/// but a few frames before scaling.
pub(super) fn ladder_branches(plan: &LadderPlan) -> Vec<String> {
    let mut branches = Vec::new();
    if let Some(p) = plan.pictures.poster {
        // The first frame, then the first at or after `at_s` (what an
        // accurate seek to it gives); the output keeps the last one, so a
        // source that ends before `at_s` still gets its first frame.
        let pick = if p.at_s > 0.0 {
            format!("select='eq(n\\,0)+gte(t\\,{:.3})',trim=end_frame=2", p.at_s)
        } else {
            "trim=end_frame=1".to_string()
        };
        branches.push(format!(
            "{pick},scale={}:{}[{POSTER_LABEL}]",
            p.width, p.height
        ));
    }
    if let Some(s) = plan.pictures.storyboard {
        branches.push(format!(
            "fps=1/{},scale={}:{}[{STORYBOARD_LABEL}]",
            s.interval_s, s.tile_w, s.tile_h
        ));
    }
    branches
}

/// The ladder run's picture outputs, after its HLS output: the poster as
/// `<out_dir>/poster.jpg.part` (rewritten with each frame, so the last
/// one stays) and the storyboard's tiles, uncompressed, as
/// `<out_dir>/storyboard.tiles.mkv`.
pub(super) fn ladder_outputs(a: &mut Argv, plan: &LadderPlan, out_dir: &Path) {
    if plan.pictures.poster.is_some() {
        a.opt("-map", format!("[{POSTER_LABEL}]"))
            // Frames keep their own times: no copies to fill the gap.
            .opt("-fps_mode", "passthrough")
            .opt("-frames:v", "2")
            .opt("-q:v", "3")
            .opt("-map_metadata", "-1")
            .opt("-update", "1")
            .opt("-f", "image2")
            .arg(out_dir.join(part_name(POSTER_NAME)).as_os_str());
    }
    if let Some(s) = plan.pictures.storyboard {
        a.opt("-map", format!("[{STORYBOARD_LABEL}]"))
            .opt("-fps_mode", "passthrough")
            // A sprite holds one grid; later frames would not be shown.
            .opt("-frames:v", (s.columns * s.rows).to_string())
            .opt("-c:v", "rawvideo")
            .opt("-map_metadata", "-1")
            .opt("-f", "matroska")
            .arg(out_dir.join(TILES_NAME).as_os_str());
    }
}

/// Tiles the storyboard frames in `tiles` (written by the ladder's run)
/// into one JPEG sprite at `out`. Reads only that small file.
pub fn sprite_args(tiles: &Path, plan: &StoryboardPlan, out: &Path) -> Vec<OsString> {
    let mut a = Argv::default();
    a.flag("-nostdin")
        .flag("-hide_banner")
        .flag("-y")
        .opt("-loglevel", "error")
        .opt("-protocol_whitelist", "file")
        .opt("-format_whitelist", "matroska")
        .opt("-i", file_url(tiles))
        .opt("-vf", format!("tile={}x{}", plan.columns, plan.rows))
        .opt("-frames:v", "1")
        .opt("-q:v", "5")
        .opt("-map_metadata", "-1")
        .opt("-f", "mjpeg")
        .arg(out.as_os_str());
    a.0
}

/// The frames a standalone poster or storyboard is made from: `pick`
/// (which frames), then 8-bit SDR like the ladder, then `rest`. Picking
/// first means only the kept frames pay for a tone-map.
fn picture_filters(pick: Option<&str>, color: &VideoColor, rest: &str) -> String {
    match pick {
        Some(p) => format!("{p},{},{rest}", color.to_sdr_filters()),
        None => format!("{},{rest}", color.to_sdr_filters()),
    }
}

/// Which stream pictures are taken from, and how its colours read.
#[derive(Debug, Clone, Copy)]
pub struct PictureSource<'a> {
    /// Absolute index of the video stream.
    pub stream: u32,
    /// Its colour facts.
    pub color: &'a VideoColor,
}

/// One JPEG frame at `at_s` of `src`, scaled to `width`×`height`.
pub fn poster_args(
    input: &Path,
    src: PictureSource<'_>,
    at_s: f64,
    (width, height): (u32, u32),
    out: &Path,
) -> Vec<OsString> {
    let mut a = Argv::default();
    // Seeking before -i is fast (keyframe seek, then decode up to the time).
    a.flag("-nostdin")
        .flag("-hide_banner")
        .flag("-y")
        .opt("-loglevel", "error")
        .opt("-protocol_whitelist", "file")
        .opt("-format_whitelist", SOURCE_DEMUXERS)
        .opt("-ss", format!("{at_s:.3}"))
        .opt("-i", file_url(input))
        .opt("-map", format!("0:{}", src.stream))
        .opt(
            "-vf",
            picture_filters(None, src.color, &format!("scale={width}:{height}")),
        )
        .opt("-frames:v", "1")
        .opt("-q:v", "3")
        .opt("-map_metadata", "-1")
        .flag("-an")
        .opt("-f", "mjpeg")
        .arg(out.as_os_str());
    a.0
}

/// One sprite image of `columns`×`rows` tiles, a frame of `src` every
/// `interval_s` seconds, each scaled to `tile_w`×`tile_h`, in a run of its
/// own that decodes the whole source.
pub fn storyboard_args(
    input: &Path,
    src: PictureSource<'_>,
    interval_s: u32,
    (tile_w, tile_h): (u32, u32),
    (columns, rows): (u32, u32),
    out: &Path,
) -> Vec<OsString> {
    let mut a = Argv::default();
    preamble(&mut a, input);
    a.opt("-map", format!("0:{}", src.stream)).opt(
        "-vf",
        picture_filters(
            Some(&format!("fps=1/{interval_s}")),
            src.color,
            &format!("scale={tile_w}:{tile_h},tile={columns}x{rows}"),
        ),
    );
    a.opt("-frames:v", "1")
        .opt("-q:v", "5")
        .opt("-map_metadata", "-1")
        .flag("-an")
        .flag("-sn")
        .opt("-f", "mjpeg")
        .arg(out.as_os_str());
    a.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::argv::read_back::{text, value_of};
    use crate::media::pictures::plan_storyboard;

    #[test]
    fn standalone_poster_and_storyboard_commands() {
        let color = VideoColor::default();
        let src = PictureSource {
            stream: 2,
            color: &color,
        };
        let p = text(&poster_args(
            Path::new("/in/a.mp4"),
            src,
            2.0,
            (640, 360),
            Path::new("/out/p.jpg"),
        ));
        assert_eq!(value_of(&p, "-ss"), "2.000");
        assert_eq!(value_of(&p, "-map"), "0:2", "the probed stream, not 0:v:0");
        assert_eq!(value_of(&p, "-vf"), "format=yuv420p,scale=640:360");
        let sb = text(&storyboard_args(
            Path::new("/in/a.mp4"),
            src,
            1,
            (160, 90),
            (10, 2),
            Path::new("/out/s.jpg"),
        ));
        assert_eq!(value_of(&sb, "-map"), "0:2");
        assert_eq!(
            value_of(&sb, "-vf"),
            "fps=1/1,format=yuv420p,scale=160:90,tile=10x2"
        );
        assert_eq!(value_of(&p, "-frames:v"), "1");
        assert!(p.contains(&"-an".to_string()));
        assert_eq!(p.last().unwrap(), "/out/p.jpg");
    }

    #[test]
    fn sprite_reads_only_the_tiles_file() {
        let plan = plan_storyboard(16.0, (640, 360));
        let a = text(&sprite_args(
            Path::new("/out/storyboard.tiles.mkv"),
            &plan,
            Path::new("/out/storyboard.jpg.part"),
        ));
        assert_eq!(value_of(&a, "-format_whitelist"), "matroska");
        assert_eq!(value_of(&a, "-i"), "file:/out/storyboard.tiles.mkv");
        assert_eq!(value_of(&a, "-vf"), "tile=10x2");
        assert_eq!(value_of(&a, "-q:v"), "5");
        assert_eq!(a.last().unwrap(), "/out/storyboard.jpg.part");
    }
}

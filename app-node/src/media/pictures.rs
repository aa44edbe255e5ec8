//! What still pictures a video gets and how they are laid out: the poster
//! (one frame shown before playback) and the seek-bar storyboard (a sprite
//! of evenly spaced frames plus a WebVTT track pointing at its tiles).
//!
//! Pure: no I/O. The ladder makes both from its own decode (see
//! [`super::args::transcode_args`]), so an import reads and decodes the
//! source once; [`super::poster`] and [`super::storyboard`] can still make
//! them on their own.

use super::probe::ProbeInfo;
use super::webvtt::vtt_time;

/// Poster file name under the video prefix.
pub const POSTER_NAME: &str = "poster.jpg";
/// Widest poster written; larger adds bytes without visible benefit in a card.
pub const MAX_POSTER_WIDTH: u32 = 640;
/// Upper bound on tiles, so the sprite stays small whatever the duration.
pub const MAX_TILES: u32 = 100;
/// Tile width; previews are small, and narrower sources keep their width.
pub const TILE_WIDTH: u32 = 160;
/// Tiles per sprite row.
pub const COLUMNS: u32 = 10;
/// Sprite file name under the video prefix.
pub const SPRITE_NAME: &str = "storyboard.jpg";
/// The storyboard's tiles, uncompressed, as the ladder's run writes them
/// (scratch only: tiled into the sprite, then removed).
pub const TILES_NAME: &str = "storyboard.tiles.mkv";
/// Thumbnails track file name under the video prefix.
pub const VTT_NAME: &str = "storyboard.vtt";
/// Largest side a JPEG can have; a sprite above it could not be encoded.
pub const MAX_JPEG_SIDE: u32 = 65_535;

/// Name ffmpeg writes a picture under before it is checked and renamed
/// into place, so a reader never sees half a file.
pub fn part_name(name: &str) -> String {
    format!("{name}.part")
}

/// Which frame becomes the poster, and its size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PosterShot {
    /// Time of the frame, seconds from the start.
    pub at_s: f64,
    /// Poster width (even).
    pub width: u32,
    /// Poster height (even).
    pub height: u32,
}

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

impl StoryboardPlan {
    /// Sprite size: every row and column of tiles.
    pub fn sprite_size(&self) -> (u32, u32) {
        (self.columns * self.tile_w, self.rows * self.tile_h)
    }
}

/// The pictures to make alongside the ladder; `None` leaves one out.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PicturePlan {
    /// The poster frame.
    pub poster: Option<PosterShot>,
    /// The storyboard layout.
    pub storyboard: Option<StoryboardPlan>,
}

impl PicturePlan {
    /// Whether any picture is planned.
    pub fn is_empty(&self) -> bool {
        self.poster.is_none() && self.storyboard.is_none()
    }
}

/// Plans the poster and the storyboard of a probed source.
///
/// A storyboard whose sprite could not be a JPEG (an extremely tall
/// source) is left out up front: made in the ladder's run, it would fail
/// the whole video rather than only itself.
pub fn plan_pictures(info: &ProbeInfo) -> PicturePlan {
    let size = (info.width, info.height);
    let (width, height) = poster_size(size);
    let storyboard = plan_storyboard(info.duration_s, size);
    let (sw, sh) = storyboard.sprite_size();
    PicturePlan {
        poster: Some(PosterShot {
            at_s: poster_time(info.duration_s),
            width,
            height,
        }),
        storyboard: (sw <= MAX_JPEG_SIDE && sh <= MAX_JPEG_SIDE).then_some(storyboard),
    }
}

/// When the poster frame is taken: 10% in skips black intro frames; very
/// short clips use the first frame.
pub fn poster_time(duration_s: f64) -> f64 {
    if duration_s.is_finite() && duration_s >= 1.0 {
        duration_s * 0.1
    } else {
        0.0
    }
}

/// Poster dimensions: source aspect, width capped, both even.
pub fn poster_size((w, h): (u32, u32)) -> (u32, u32) {
    let (w, h) = (w.max(2), h.max(2));
    // Width rounds down so the poster never exceeds the source.
    let width = (w.min(MAX_POSTER_WIDTH) & !1).max(2);
    let height = f64::from(h) * f64::from(width) / f64::from(w);
    (width, (((height / 2.0).round() as u32) * 2).max(2))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::color::VideoColor;

    fn info(width: u32, height: u32, duration_s: f64) -> ProbeInfo {
        ProbeInfo {
            video_index: 0,
            color: VideoColor::default(),
            duration_s,
            width,
            height,
            rotation: 0,
            fps: 30.0,
            has_audio: true,
            video_codec: "h264".into(),
            subtitle_streams: vec![],
        }
    }

    #[test]
    fn poster_sizes() {
        assert_eq!(poster_size((1920, 1080)), (640, 360));
        assert_eq!(poster_size((720, 1280)), (640, 1138));
        assert_eq!(poster_size((320, 240)), (320, 240));
        assert_eq!(poster_size((161, 121)), (160, 120));
    }

    #[test]
    fn poster_is_taken_a_tenth_in() {
        assert_eq!(poster_time(20.0), 2.0);
        assert_eq!(poster_time(0.6), 0.0);
        assert_eq!(poster_time(f64::NAN), 0.0);
        let p = plan_pictures(&info(1280, 720, 20.0));
        assert_eq!(
            p.poster,
            Some(PosterShot {
                at_s: 2.0,
                width: 640,
                height: 360
            })
        );
        assert_eq!(p.storyboard, Some(plan_storyboard(20.0, (1280, 720))));
        assert!(!p.is_empty() && PicturePlan::default().is_empty());
    }

    #[test]
    fn a_sprite_too_tall_for_a_jpeg_is_left_out() {
        // 2 px wide and 20,000 tall: tiles of 2×20000, 10 rows of them.
        let p = plan_pictures(&info(2, 20_000, 100.0));
        assert_eq!(p.storyboard, None);
        assert!(p.poster.is_some());
    }

    #[test]
    fn plans_stay_under_the_tile_cap() {
        let p = plan_storyboard(16.2, (854, 480));
        assert_eq!((p.interval_s, p.tiles, p.columns, p.rows), (1, 17, 10, 2));
        assert_eq!((p.tile_w, p.tile_h), (160, 90));
        assert_eq!(p.sprite_size(), (1600, 180));
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

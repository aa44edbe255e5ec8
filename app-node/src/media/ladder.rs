//! Choosing the renditions (the "ladder") for a probed source. Pure: no I/O.

use super::color::VideoColor;
use super::h264;
use super::pictures::{plan_pictures, PicturePlan};
use super::probe::ProbeInfo;

/// A candidate rung: target short side and its video bitrate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RungSpec {
    /// Short side in pixels; using the short side makes portrait work unchanged.
    pub short_side: u32,
    /// Target average video bitrate.
    pub video_kbps: u32,
}

/// Knobs for [`plan_ladder`].
#[derive(Debug, Clone)]
pub struct LadderOptions {
    /// Candidate rungs, any order.
    pub rungs: Vec<RungSpec>,
    /// Output frame-rate ceiling.
    pub max_fps: f64,
    /// Frame rate assumed when the source does not say.
    pub fallback_fps: f64,
    /// HLS segment target duration.
    pub segment_s: u32,
    /// Keyframe interval; divides `segment_s` so segments cut on keyframes.
    pub gop_s: u32,
    /// AAC bitrate when the source has audio.
    pub audio_kbps: u32,
}

impl Default for LadderOptions {
    fn default() -> Self {
        let rung = |short_side, video_kbps| RungSpec {
            short_side,
            video_kbps,
        };
        LadderOptions {
            rungs: vec![
                rung(1080, 5000),
                rung(720, 2800),
                rung(480, 1400),
                rung(360, 800),
                rung(240, 400),
            ],
            max_fps: 60.0,
            fallback_fps: 30.0,
            segment_s: 4,
            gop_s: 2,
            audio_kbps: 128,
        }
    }
}

/// One video rendition to encode.
#[derive(Debug, Clone, PartialEq)]
pub struct Rung {
    /// Directory and variant name, e.g. `720p`.
    pub name: String,
    /// Output width (even).
    pub width: u32,
    /// Output height (even).
    pub height: u32,
    /// Target average bitrate.
    pub video_kbps: u32,
    /// VBV peak rate.
    pub maxrate_kbps: u32,
    /// VBV buffer size.
    pub bufsize_kbps: u32,
    /// H.264 `level_idc` forced on the encoder (e.g. 31 for 3.1).
    pub level_idc: u8,
}

impl Rung {
    /// RFC 6381 codec string of this rung's video.
    pub fn codecs(&self) -> String {
        h264::codecs_high(self.level_idc)
    }
}

/// The audio rendition, encoded once and shared by every video rung.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AudioPlan {
    /// AAC-LC bitrate.
    pub kbps: u32,
    /// Output channels.
    pub channels: u32,
    /// Output sample rate.
    pub sample_rate: u32,
}

/// Everything the transcoder needs to know, decided up front.
#[derive(Debug, Clone, PartialEq)]
pub struct LadderPlan {
    /// Absolute index of the source's video stream (never cover art).
    pub source_stream: u32,
    /// The source's colours, which decide the conversion to 8-bit SDR.
    pub color: VideoColor,
    /// Video rungs, highest first.
    pub rungs: Vec<Rung>,
    /// Present when the source has audio.
    pub audio: Option<AudioPlan>,
    /// Output frame rate shared by all rungs.
    pub fps: f64,
    /// HLS segment target duration.
    pub segment_s: u32,
    /// Keyframe interval.
    pub gop_s: u32,
    /// The poster and storyboard made from the same decode as the rungs.
    pub pictures: PicturePlan,
}

/// Plans the renditions for `info` without ever upscaling, and the
/// pictures made from the same decode.
pub fn plan_ladder(info: &ProbeInfo, opts: &LadderOptions) -> LadderPlan {
    let fps = if info.fps.is_finite() && info.fps > 0.0 {
        info.fps.min(opts.max_fps)
    } else {
        opts.fallback_fps
    };
    let (w, h) = (info.width.max(2), info.height.max(2));
    let short = w.min(h);

    let mut specs: Vec<RungSpec> = opts
        .rungs
        .iter()
        .copied()
        .filter(|r| r.short_side <= short)
        .collect();
    specs.sort_by_key(|r| std::cmp::Reverse(r.short_side));
    specs.dedup_by_key(|r| r.short_side);

    let mut rungs: Vec<Rung> = specs
        .iter()
        .map(|spec| {
            let scale = f64::from(spec.short_side) / f64::from(short);
            // Rounding to even must not round an odd source side up: the
            // native-size rung of a 1279x720 source is 1278x720, not 1280.
            let (rw, rh) = (
                round_even(f64::from(w) * scale).min(floor_even(w)),
                round_even(f64::from(h) * scale).min(floor_even(h)),
            );
            make_rung(spec.short_side, rw, rh, spec.video_kbps, fps)
        })
        .collect();

    if rungs.is_empty() {
        // Tinier than every rung: keep the source size (even, never larger)
        // with a bitrate scaled from the smallest rung by pixel count.
        let (rw, rh) = (floor_even(w), floor_even(h));
        let smallest = opts
            .rungs
            .iter()
            .min_by_key(|r| r.short_side)
            .copied()
            .unwrap_or(RungSpec {
                short_side: 240,
                video_kbps: 400,
            });
        let ref_pixels = f64::from(smallest.short_side).powi(2) * 16.0 / 9.0;
        let share = (f64::from(rw) * f64::from(rh) / ref_pixels).min(1.0);
        let kbps = ((f64::from(smallest.video_kbps) * share).round() as u32).max(100);
        rungs.push(make_rung(rw.min(rh), rw, rh, kbps, fps));
    }

    LadderPlan {
        source_stream: info.video_index,
        color: info.color.clone(),
        rungs,
        audio: info.has_audio.then_some(AudioPlan {
            kbps: opts.audio_kbps,
            channels: 2,
            sample_rate: 48_000,
        }),
        fps,
        segment_s: opts.segment_s,
        gop_s: opts.gop_s,
        pictures: plan_pictures(info),
    }
}

fn make_rung(short_side: u32, width: u32, height: u32, video_kbps: u32, fps: f64) -> Rung {
    // A little headroom over the average keeps quality steady on hard
    // scenes while bounding the peak a player must budget for.
    let maxrate_kbps = (f64::from(video_kbps) * 1.07).round() as u32;
    let bufsize_kbps = (f64::from(video_kbps) * 1.5).round() as u32;
    Rung {
        name: format!("{short_side}p"),
        width,
        height,
        video_kbps,
        maxrate_kbps,
        bufsize_kbps,
        level_idc: h264::level_for(width, height, fps, maxrate_kbps),
    }
}

/// Nearest even integer, at least 2 (yuv420p needs even dimensions).
fn round_even(x: f64) -> u32 {
    (((x / 2.0).round() as u32) * 2).max(2)
}

/// Even integer not above `x`, at least 2.
fn floor_even(x: u32) -> u32 {
    (x & !1).max(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(width: u32, height: u32) -> ProbeInfo {
        ProbeInfo {
            video_index: 0,
            color: VideoColor::default(),
            duration_s: 10.0,
            width,
            height,
            rotation: 0,
            fps: 30.0,
            has_audio: true,
            video_codec: "h264".into(),
            subtitle_streams: vec![],
        }
    }

    fn sizes(plan: &LadderPlan) -> Vec<(String, u32, u32)> {
        plan.rungs
            .iter()
            .map(|r| (r.name.clone(), r.width, r.height))
            .collect()
    }

    fn s(name: &str, w: u32, h: u32) -> (String, u32, u32) {
        (name.to_string(), w, h)
    }

    #[test]
    fn hd_720_source() {
        let plan = plan_ladder(&info(1280, 720), &LadderOptions::default());
        assert_eq!(
            sizes(&plan),
            vec![
                s("720p", 1280, 720),
                s("480p", 854, 480),
                s("360p", 640, 360),
                s("240p", 426, 240)
            ]
        );
        assert_eq!(plan.rungs[0].video_kbps, 2800);
        assert_eq!(plan.rungs[0].maxrate_kbps, 2996);
        assert_eq!(plan.rungs[0].bufsize_kbps, 4200);
        assert_eq!(plan.rungs[0].codecs(), "avc1.64001f");
        assert_eq!(plan.segment_s, 4);
        assert_eq!(plan.gop_s, 2);
        assert_eq!(
            plan.audio,
            Some(AudioPlan {
                kbps: 128,
                channels: 2,
                sample_rate: 48_000
            })
        );
    }

    #[test]
    fn full_hd_has_five_rungs() {
        let plan = plan_ladder(&info(1920, 1080), &LadderOptions::default());
        assert_eq!(plan.rungs.len(), 5);
        assert_eq!(sizes(&plan)[0], s("1080p", 1920, 1080));
        assert_eq!(plan.rungs[0].codecs(), "avc1.640028");
    }

    #[test]
    fn exactly_240_gives_one_rung() {
        let plan = plan_ladder(&info(426, 240), &LadderOptions::default());
        assert_eq!(sizes(&plan), vec![s("240p", 426, 240)]);
    }

    #[test]
    fn portrait_uses_the_short_side() {
        let plan = plan_ladder(&info(720, 1280), &LadderOptions::default());
        assert_eq!(sizes(&plan)[0], s("720p", 720, 1280));
        assert_eq!(sizes(&plan)[1], s("480p", 480, 854));
        assert_eq!(plan.rungs.len(), 4);
    }

    #[test]
    fn tiny_source_keeps_its_size() {
        let plan = plan_ladder(&info(160, 120), &LadderOptions::default());
        assert_eq!(sizes(&plan), vec![s("120p", 160, 120)]);
        assert!(plan.rungs[0].video_kbps <= 400);
        let odd = plan_ladder(&info(161, 121), &LadderOptions::default());
        assert_eq!(sizes(&odd), vec![s("120p", 160, 120)]);
    }

    #[test]
    fn odd_sizes_become_even_and_never_upscale() {
        let plan = plan_ladder(&info(1281, 721), &LadderOptions::default());
        for r in &plan.rungs {
            assert_eq!(r.width % 2, 0, "{r:?}");
            assert_eq!(r.height % 2, 0, "{r:?}");
            assert!(r.width <= 1281 && r.height <= 721, "{r:?}");
        }
        assert_eq!(sizes(&plan)[0], s("720p", 1280, 720));
        // Just under 720: the top rung is 480p, not an upscaled 720p.
        let plan = plan_ladder(&info(1278, 718), &LadderOptions::default());
        assert_eq!(plan.rungs[0].name, "480p");
    }

    /// Found by the `probe` fuzz target: an odd side at the native rung
    /// was rounded up to the next even number, one pixel past the source.
    #[test]
    fn fuzz_odd_side_at_the_native_rung_is_not_rounded_up() {
        let plan = plan_ladder(&info(1279, 720), &LadderOptions::default());
        assert_eq!(sizes(&plan)[0], s("720p", 1278, 720));
        let plan = plan_ladder(&info(853, 480), &LadderOptions::default());
        assert_eq!(sizes(&plan)[0], s("480p", 852, 480));
        let plan = plan_ladder(&info(480, 853), &LadderOptions::default());
        assert_eq!(sizes(&plan)[0], s("480p", 480, 852));
    }

    #[test]
    fn fps_is_capped_and_defaulted() {
        let mut i = info(1280, 720);
        i.fps = 120.0;
        assert_eq!(plan_ladder(&i, &LadderOptions::default()).fps, 60.0);
        i.fps = 0.0;
        assert_eq!(plan_ladder(&i, &LadderOptions::default()).fps, 30.0);
        i.fps = 24.0;
        assert_eq!(plan_ladder(&i, &LadderOptions::default()).fps, 24.0);
    }

    #[test]
    fn no_audio_means_no_audio_plan() {
        let mut i = info(1280, 720);
        i.has_audio = false;
        assert_eq!(plan_ladder(&i, &LadderOptions::default()).audio, None);
    }
}

//! ffmpeg argument lists built from typed values.
//!
//! Kept apart from process handling so the exact command line can be unit
//! tested without running ffmpeg.

use std::ffi::OsString;
use std::path::Path;

use super::color::VideoColor;
use super::h264;
use super::ladder::LadderPlan;
use super::source::{file_url, SOURCE_DEMUXERS};

/// Name of the audio rendition's directory and variant.
pub const AUDIO_NAME: &str = "audio";
/// HLS `GROUP-ID` of the audio rendition.
pub const AUDIO_GROUP: &str = "aud";

/// Small builder so call sites read like the command line they produce.
#[derive(Default)]
struct Argv(Vec<OsString>);

impl Argv {
    fn flag(&mut self, a: &str) -> &mut Self {
        self.0.push(a.into());
        self
    }
    fn arg(&mut self, a: &std::ffi::OsStr) -> &mut Self {
        self.0.push(a.to_owned());
        self
    }
    fn opt(&mut self, key: &str, value: impl Into<OsString>) -> &mut Self {
        self.0.push(key.into());
        self.0.push(value.into());
        self
    }
}

/// Options every ffmpeg run starts with: quiet, non-interactive, local files only.
fn preamble(a: &mut Argv, input: &Path) {
    a.flag("-nostdin")
        .flag("-hide_banner")
        .flag("-y")
        .opt("-loglevel", "error")
        .opt("-protocol_whitelist", "file")
        .opt("-format_whitelist", SOURCE_DEMUXERS)
        .opt("-i", file_url(input));
}

/// Frame rate as ffmpeg text; NTSC rates stay exact rationals so timestamps
/// do not drift over long videos.
pub fn fps_arg(fps: f64) -> String {
    for base in [24u32, 30, 48, 60] {
        let ntsc = f64::from(base) * 1000.0 / 1001.0;
        if (fps - ntsc).abs() < 0.005 {
            return format!("{}/1001", base * 1000);
        }
    }
    let rounded = (fps * 1000.0).round() / 1000.0;
    if rounded.fract() == 0.0 {
        format!("{}", rounded as u64)
    } else {
        format!("{rounded}")
    }
}

/// The single-process HLS ladder command writing `<out_dir>/<name>/index.m3u8`.
pub fn transcode_args(
    input: &Path,
    plan: &LadderPlan,
    preset: &str,
    out_dir: &Path,
) -> Vec<OsString> {
    let mut a = Argv::default();
    preamble(&mut a, input);

    // Decode once, bring to 8-bit SDR once, split, scale each branch.
    // ffmpeg autorotates while decoding, so the plan's display sizes are
    // the right targets. The source stream is named by its absolute index:
    // `0:v:0` would be cover art when that comes first.
    let n = plan.rungs.len();
    let fps = fps_arg(plan.fps);
    let mut graph = format!(
        "[0:{}]{},split={n}",
        plan.source_stream,
        plan.color.to_sdr_filters()
    );
    for i in 0..n {
        graph.push_str(&format!("[s{i}]"));
    }
    for (i, r) in plan.rungs.iter().enumerate() {
        graph.push_str(&format!(
            ";[s{i}]fps={fps},scale={}:{}[v{i}]",
            r.width, r.height
        ));
    }
    a.opt("-filter_complex", graph);
    for i in 0..n {
        a.opt("-map", format!("[v{i}]"));
    }
    if plan.audio.is_some() {
        a.opt("-map", "0:a:0");
    }

    let gop = ((f64::from(plan.gop_s) * plan.fps).round() as u32).max(1);
    a.opt("-c:v", "libx264")
        .opt("-preset", preset)
        .opt("-profile:v", "high")
        .opt("-pix_fmt", "yuv420p")
        .opt("-g", gop.to_string())
        .opt("-keyint_min", gop.to_string())
        .opt("-sc_threshold", "0")
        // Keyframes at exact multiples of the GOP in every rung, so segment
        // boundaries line up and players can switch rungs cleanly.
        .opt(
            "-force_key_frames",
            format!("expr:gte(t,n_forced*{})", plan.gop_s),
        )
        .opt("-flags:v", "+cgop");
    bt709_tags(&mut a, &plan.color);
    for (i, r) in plan.rungs.iter().enumerate() {
        a.opt(&format!("-b:v:{i}"), format!("{}k", r.video_kbps))
            .opt(&format!("-maxrate:v:{i}"), format!("{}k", r.maxrate_kbps))
            .opt(&format!("-bufsize:v:{i}"), format!("{}k", r.bufsize_kbps))
            .opt(&format!("-level:v:{i}"), h264::level_arg(r.level_idc));
    }
    if let Some(audio) = plan.audio {
        a.opt("-c:a", "aac")
            .opt("-b:a", format!("{}k", audio.kbps))
            .opt("-ac", audio.channels.to_string())
            .opt("-ar", audio.sample_rate.to_string());
    }

    // Source tags (titles, GPS, rotation) must not leak into the output; the
    // pixels are already upright.
    a.opt("-map_metadata", "-1")
        .opt("-metadata:s:v", "rotate=0");

    let mut stream_map: Vec<String> = plan
        .rungs
        .iter()
        .enumerate()
        .map(|(i, r)| match plan.audio {
            Some(_) => format!("v:{i},agroup:{AUDIO_GROUP},name:{}", r.name),
            None => format!("v:{i},name:{}", r.name),
        })
        .collect();
    if plan.audio.is_some() {
        stream_map.push(format!("a:0,agroup:{AUDIO_GROUP},name:{AUDIO_NAME}"));
    }

    let mut segments = out_dir.as_os_str().to_owned();
    segments.push("/%v/seg_%05d.m4s");
    let mut playlist = out_dir.as_os_str().to_owned();
    playlist.push("/%v/index.m3u8");
    a.opt("-f", "hls")
        .opt("-hls_time", plan.segment_s.to_string())
        .opt("-hls_playlist_type", "vod")
        .opt("-hls_segment_type", "fmp4")
        .opt("-hls_flags", "independent_segments")
        .opt("-hls_fmp4_init_filename", "init.mp4")
        .opt("-hls_segment_filename", segments)
        .opt("-var_stream_map", stream_map.join(" "))
        .opt("-progress", "pipe:1")
        .flag("-nostats")
        .arg(&playlist);
    a.0
}

/// Tags the output BT.709 when the filters converted it; other sources
/// keep the tags ffmpeg carries over from them.
fn bt709_tags(a: &mut Argv, color: &VideoColor) {
    if color.converts_to_bt709() {
        a.opt("-color_primaries", "bt709")
            .opt("-color_trc", "bt709")
            .opt("-colorspace", "bt709")
            .opt("-color_range", "tv");
    }
}

/// The frames a poster or storyboard is made from: `pick` (which frames),
/// then 8-bit SDR like the ladder, then `rest`. Picking first means only
/// the kept frames pay for a tone-map.
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

/// Extracts stream `index` as WebVTT into `out`.
pub fn subtitle_args(input: &Path, index: u32, out: &Path) -> Vec<OsString> {
    let mut a = Argv::default();
    preamble(&mut a, input);
    a.opt("-map", format!("0:{index}"))
        .opt("-c:s", "webvtt")
        .opt("-map_metadata", "-1")
        .opt("-f", "webvtt")
        .arg(out.as_os_str());
    a.0
}

/// One sprite image of `columns`×`rows` tiles, a frame of `src` every
/// `interval_s` seconds, each scaled to `tile_w`×`tile_h`.
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
    use crate::media::ladder::{plan_ladder, LadderOptions};
    use crate::media::probe::ProbeInfo;

    fn plan(has_audio: bool) -> LadderPlan {
        plan_ladder(
            &ProbeInfo {
                video_index: 0,
                color: VideoColor::default(),
                duration_s: 20.0,
                width: 1280,
                height: 720,
                rotation: 0,
                fps: 30.0,
                has_audio,
                video_codec: "h264".into(),
                subtitle_streams: vec![],
            },
            &LadderOptions::default(),
        )
    }

    fn text(args: &[OsString]) -> Vec<String> {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn value_of(args: &[String], key: &str) -> String {
        let i = args
            .iter()
            .position(|a| a == key)
            .unwrap_or_else(|| panic!("{key} missing"));
        args[i + 1].clone()
    }

    #[test]
    fn ladder_command_with_audio() {
        let args = text(&transcode_args(
            Path::new("/in/src.mp4"),
            &plan(true),
            "veryfast",
            Path::new("/out"),
        ));
        let wl = args
            .iter()
            .position(|a| a == "-protocol_whitelist")
            .unwrap();
        let input = args.iter().position(|a| a == "-i").unwrap();
        assert!(wl < input, "whitelist must precede the input");
        assert_eq!(args[input + 1], "file:/in/src.mp4");
        assert_eq!(
            value_of(&args, "-filter_complex"),
            "[0:0]format=yuv420p,split=4[s0][s1][s2][s3];[s0]fps=30,scale=1280:720[v0];\
             [s1]fps=30,scale=854:480[v1];[s2]fps=30,scale=640:360[v2];\
             [s3]fps=30,scale=426:240[v3]"
        );
        assert_eq!(value_of(&args, "-g"), "60");
        assert_eq!(value_of(&args, "-b:v:0"), "2800k");
        assert_eq!(value_of(&args, "-level:v:0"), "3.1");
        assert_eq!(value_of(&args, "-level:v:1"), "3.1");
        assert_eq!(value_of(&args, "-level:v:3"), "3.0");
        assert_eq!(value_of(&args, "-b:a"), "128k");
        assert_eq!(
            value_of(&args, "-var_stream_map"),
            "v:0,agroup:aud,name:720p v:1,agroup:aud,name:480p v:2,agroup:aud,name:360p \
             v:3,agroup:aud,name:240p a:0,agroup:aud,name:audio"
        );
        assert_eq!(
            value_of(&args, "-hls_segment_filename"),
            "/out/%v/seg_%05d.m4s"
        );
        assert_eq!(args.last().unwrap(), "/out/%v/index.m3u8");
        assert!(!args.iter().any(|a| a == "-master_pl_name"));
    }

    #[test]
    fn hdr_source_is_tone_mapped_once_and_tagged_bt709() {
        let mut p = plan(true);
        p.source_stream = 1;
        p.color = VideoColor {
            pix_fmt: "yuv420p10le".into(),
            transfer: Some("smpte2084".into()),
            primaries: Some("bt2020".into()),
            matrix: Some("bt2020nc".into()),
            range: Some("tv".into()),
        };
        let args = text(&transcode_args(
            Path::new("/in/src.mp4"),
            &p,
            "veryfast",
            Path::new("/out"),
        ));
        let graph = value_of(&args, "-filter_complex");
        assert!(graph.starts_with("[0:1]zscale=tin=smpte2084"), "{graph}");
        assert_eq!(graph.matches("tonemap=hable").count(), 1, "{graph}");
        assert_eq!(value_of(&args, "-color_primaries"), "bt709");
        assert_eq!(value_of(&args, "-color_trc"), "bt709");
        assert_eq!(value_of(&args, "-colorspace"), "bt709");
        assert_eq!(value_of(&args, "-pix_fmt"), "yuv420p");
        // An SDR source keeps its own tags.
        let sdr = text(&transcode_args(
            Path::new("/in/src.mp4"),
            &plan(true),
            "veryfast",
            Path::new("/out"),
        ));
        assert!(!sdr.iter().any(|a| a == "-color_trc"));
    }

    #[test]
    fn ladder_command_without_audio() {
        let args = text(&transcode_args(
            Path::new("/in/src.mp4"),
            &plan(false),
            "veryfast",
            Path::new("/out"),
        ));
        assert!(!args.iter().any(|a| a == "0:a:0" || a == "-c:a"));
        assert_eq!(
            value_of(&args, "-var_stream_map"),
            "v:0,name:720p v:1,name:480p v:2,name:360p v:3,name:240p"
        );
    }

    #[test]
    fn fps_text() {
        assert_eq!(fps_arg(30.0), "30");
        assert_eq!(fps_arg(30000.0 / 1001.0), "30000/1001");
        assert_eq!(fps_arg(24000.0 / 1001.0), "24000/1001");
        assert_eq!(fps_arg(12.5), "12.5");
    }

    #[test]
    fn poster_and_subtitle_commands() {
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
        let s = text(&subtitle_args(
            Path::new("/in/a.mp4"),
            2,
            Path::new("/o/en.vtt"),
        ));
        assert_eq!(value_of(&s, "-map"), "0:2");
        assert_eq!(value_of(&s, "-c:s"), "webvtt");
    }
}

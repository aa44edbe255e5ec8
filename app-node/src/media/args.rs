//! ffmpeg argument lists built from typed values.
//!
//! Kept apart from process handling so the exact command line can be unit
//! tested without running ffmpeg.

use std::ffi::OsString;
use std::path::Path;

use super::argv::{preamble, Argv};
use super::color::VideoColor;
use super::h264;
use super::ladder::LadderPlan;
use super::picture_args;
pub use super::picture_args::{poster_args, storyboard_args, PictureSource};

/// Name of the audio rendition's directory and variant.
pub const AUDIO_NAME: &str = "audio";
/// HLS `GROUP-ID` of the audio rendition.
pub const AUDIO_GROUP: &str = "aud";

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

/// The single-process HLS ladder command writing `<out_dir>/<name>/index.m3u8`,
/// and the planned pictures' raw material: `<out_dir>/poster.jpg.part` and
/// `<out_dir>/storyboard.tiles.mkv` (see [`picture_args`]).
pub fn transcode_args(
    input: &Path,
    plan: &LadderPlan,
    preset: &str,
    out_dir: &Path,
) -> Vec<OsString> {
    let mut a = Argv::default();
    preamble(&mut a, input);

    a.opt("-filter_complex", ladder_graph(plan));
    for i in 0..plan.rungs.len() {
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
        // EVENT playlists are rewritten (whole, by rename: `temp_file`)
        // after every segment, so the video can be watched while encoded.
        .opt("-hls_playlist_type", "event")
        .opt("-hls_segment_type", "fmp4")
        .opt("-hls_flags", "independent_segments+temp_file")
        .opt("-hls_fmp4_init_filename", "init.mp4")
        .opt("-hls_segment_filename", segments)
        .opt("-var_stream_map", stream_map.join(" "))
        .opt("-progress", "pipe:1")
        .flag("-nostats")
        .arg(&playlist);
    picture_args::ladder_outputs(&mut a, plan, out_dir);
    a.0
}

/// The ladder's filter graph: decode once, bring to 8-bit SDR once, split,
/// then one branch per rung (`[v0]`, `[v1]`, …) and one per planned
/// picture (`[poster]`, `[storyboard]`).
///
/// ffmpeg autorotates while decoding, so the plan's display sizes are the
/// right targets. The source stream is named by its absolute index:
/// `0:v:0` would be cover art when that comes first.
pub fn ladder_graph(plan: &LadderPlan) -> String {
    let fps = fps_arg(plan.fps);
    let mut branches: Vec<String> = plan
        .rungs
        .iter()
        .enumerate()
        .map(|(i, r)| format!("fps={fps},scale={}:{}[v{i}]", r.width, r.height))
        .collect();
    branches.extend(picture_args::ladder_branches(plan));
    let mut graph = format!(
        "[0:{}]{},split={}",
        plan.source_stream,
        plan.color.to_sdr_filters(),
        branches.len()
    );
    for i in 0..branches.len() {
        graph.push_str(&format!("[s{i}]"));
    }
    for (i, branch) in branches.iter().enumerate() {
        graph.push_str(&format!(";[s{i}]{branch}"));
    }
    graph
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::argv::read_back::{text, value_of};
    use crate::media::ladder::{plan_ladder, LadderOptions};
    use crate::media::pictures::PicturePlan;
    use crate::media::probe::ProbeInfo;

    /// The 720p ladder alone, no pictures.
    fn plan(has_audio: bool) -> LadderPlan {
        LadderPlan {
            pictures: PicturePlan::default(),
            ..with_pictures(has_audio)
        }
    }

    fn with_pictures(has_audio: bool) -> LadderPlan {
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
    fn poster_and_storyboard_are_branches_of_the_same_decode() {
        let args = text(&transcode_args(
            Path::new("/in/src.mp4"),
            &with_pictures(true),
            "veryfast",
            Path::new("/out"),
        ));
        assert_eq!(
            args.iter().filter(|a| *a == "-i").count(),
            1,
            "one input, read once"
        );
        assert_eq!(
            value_of(&args, "-filter_complex"),
            "[0:0]format=yuv420p,split=6[s0][s1][s2][s3][s4][s5];[s0]fps=30,scale=1280:720[v0];\
             [s1]fps=30,scale=854:480[v1];[s2]fps=30,scale=640:360[v2];\
             [s3]fps=30,scale=426:240[v3];\
             [s4]select='eq(n\\,0)+gte(t\\,2.000)',trim=end_frame=2,scale=640:360[poster];\
             [s5]fps=1/1,scale=160:90[storyboard]"
        );
        // The HLS output ends at its playlist; each picture follows as an
        // output of its own, written beside the rungs.
        let playlist = args.iter().position(|a| a == "/out/%v/index.m3u8").unwrap();
        assert_eq!(
            args[playlist + 1..].join(" "),
            "-map [poster] -fps_mode passthrough -frames:v 2 -q:v 3 -map_metadata -1 \
             -update 1 -f image2 /out/poster.jpg.part \
             -map [storyboard] -fps_mode passthrough -frames:v 20 -c:v rawvideo \
             -map_metadata -1 -f matroska /out/storyboard.tiles.mkv"
        );
        // The HLS output maps only the rungs and the audio.
        let maps: Vec<&String> = args[..playlist]
            .iter()
            .zip(&args[1..=playlist])
            .filter(|(k, _)| *k == "-map")
            .map(|(_, v)| v)
            .collect();
        assert_eq!(maps, ["[v0]", "[v1]", "[v2]", "[v3]", "0:a:0"]);
    }

    #[test]
    fn a_picture_left_out_of_the_plan_has_no_branch() {
        let mut p = with_pictures(false);
        p.pictures.storyboard = None;
        let args = text(&transcode_args(
            Path::new("/in/src.mp4"),
            &p,
            "veryfast",
            Path::new("/out"),
        ));
        let graph = value_of(&args, "-filter_complex");
        assert!(graph.contains("split=5[s0][s1][s2][s3][s4];"), "{graph}");
        assert!(
            graph.ends_with("[poster]") && !graph.contains("1/1"),
            "{graph}"
        );
        assert!(args.last().unwrap().ends_with("poster.jpg.part"));
    }

    #[test]
    fn hdr_source_is_tone_mapped_once_and_tagged_bt709() {
        let mut p = with_pictures(true);
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
    fn subtitle_command() {
        let s = text(&subtitle_args(
            Path::new("/in/a.mp4"),
            2,
            Path::new("/o/en.vtt"),
        ));
        assert_eq!(value_of(&s, "-map"), "0:2");
        assert_eq!(value_of(&s, "-c:s"), "webvtt");
    }
}

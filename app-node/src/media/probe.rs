//! Probing a source with ffprobe and deciding whether Reel accepts it.
//!
//! ffprobe's JSON is parsed into loose serde structs (every field optional,
//! numbers often arrive as strings) and then condensed into [`ProbeInfo`],
//! rejecting anything the pipeline cannot turn into a ladder.

use std::ffi::OsString;
use std::path::Path;

use serde::Deserialize;

use super::color::VideoColor;
use super::error::{Limit, MediaError};
use super::process::{self, StdoutMode, ToolCommand};
use super::source::{file_url, SOURCE_DEMUXERS};
use super::MediaTools;

/// Largest accepted frame dimension, before or after rotation.
pub const MAX_FRAME_SIDE: u32 = 8192;

/// Lowest frame rate taken from the probe. A few frames over a long
/// stream (a cover picture shown for an hour) report rates like 1/3600,
/// which would reach ffmpeg as `fps=0`; such sources count as "rate
/// unknown" and are encoded at the ladder's fallback rate.
pub const MIN_FPS: f64 = 1.0;

/// Codecs that hold single pictures; without a duration they mean "image".
const STILL_CODECS: &[&str] = &[
    "png", "mjpeg", "jpeg2000", "bmp", "webp", "tiff", "gif", "pam", "ppm", "pgm", "qoi", "jpegxl",
];

/// Configurable limits a source is checked against before any transcoding.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeLimits {
    /// Longest accepted source, seconds (`media.max_duration_s`).
    pub max_duration_s: f64,
    /// Largest frame, width × height (`media.max_pixels`).
    pub max_pixels: u64,
    /// Highest frame rate (`media.max_fps`).
    pub max_fps: f64,
    /// Most streams in the container (`media.max_streams`).
    pub max_streams: u32,
}

impl Default for ProbeLimits {
    /// The same values as the configuration's defaults.
    fn default() -> Self {
        ProbeLimits {
            max_duration_s: 4.0 * 3600.0,
            max_pixels: 8192 * 4320,
            max_fps: 240.0,
            max_streams: 32,
        }
    }
}

/// What the rest of the pipeline needs to know about a source.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeInfo {
    /// Absolute index of the video stream every output is made from: the
    /// first real video stream, never cover art (`attached_pic`).
    pub video_index: u32,
    /// Pixel format and colour tags of that stream.
    pub color: VideoColor,
    /// Duration in seconds (> 0).
    pub duration_s: f64,
    /// Display width: coded width, swapped with height when rotated ±90°.
    pub width: u32,
    /// Display height.
    pub height: u32,
    /// Clockwise-agnostic rotation normalised to 0, 90, 180 or 270.
    pub rotation: i32,
    /// Frame rate, 0 when unknown (or below [`MIN_FPS`]).
    pub fps: f64,
    /// Whether any audio stream exists.
    pub has_audio: bool,
    /// ffprobe codec name of the chosen video stream.
    pub video_codec: String,
    /// Embedded subtitle streams.
    pub subtitle_streams: Vec<SubtitleStream>,
}

/// An embedded subtitle stream.
#[derive(Debug, Clone, PartialEq)]
pub struct SubtitleStream {
    /// Absolute stream index in the container (for `-map 0:<index>`).
    pub index: u32,
    /// ffprobe codec name, e.g. `mov_text`.
    pub codec: String,
    /// ISO 639 language tag when set and not `und`.
    pub language: Option<String>,
}

/// Raw ffprobe `-show_format -show_streams` output.
#[derive(Debug, Deserialize, Default)]
pub struct FfprobeOutput {
    /// All streams.
    #[serde(default)]
    pub streams: Vec<FfprobeStream>,
    /// Container information.
    pub format: Option<FfprobeFormat>,
}

/// One stream as ffprobe reports it.
#[derive(Debug, Deserialize, Default)]
pub struct FfprobeStream {
    /// Absolute index.
    pub index: u32,
    /// `video`, `audio`, `subtitle`, `data`, ...
    pub codec_type: Option<String>,
    /// Codec short name.
    pub codec_name: Option<String>,
    /// Coded width.
    pub width: Option<u32>,
    /// Coded height.
    pub height: Option<u32>,
    /// Base frame rate as `num/den`.
    pub r_frame_rate: Option<String>,
    /// Average frame rate as `num/den`.
    pub avg_frame_rate: Option<String>,
    /// Stream duration in seconds, as text.
    pub duration: Option<String>,
    /// Frame count, as text (not always present).
    pub nb_frames: Option<String>,
    /// Pixel format, e.g. `yuv420p10le`.
    pub pix_fmt: Option<String>,
    /// `tv` or `pc`.
    pub color_range: Option<String>,
    /// Matrix coefficients, e.g. `bt2020nc`.
    pub color_space: Option<String>,
    /// Transfer characteristic, e.g. `smpte2084` (PQ), `arib-std-b67` (HLG).
    pub color_transfer: Option<String>,
    /// Colour primaries, e.g. `bt2020`.
    pub color_primaries: Option<String>,
    /// Tags such as `language` and the legacy `rotate`.
    #[serde(default)]
    pub tags: std::collections::HashMap<String, String>,
    /// Side data; the display matrix carries the rotation.
    #[serde(default)]
    pub side_data_list: Vec<FfprobeSideData>,
    /// Disposition flags (0/1).
    #[serde(default)]
    pub disposition: std::collections::HashMap<String, i64>,
}

/// One side-data entry.
#[derive(Debug, Deserialize, Default)]
pub struct FfprobeSideData {
    /// e.g. `Display Matrix`.
    pub side_data_type: Option<String>,
    /// Degrees, present on display matrices.
    pub rotation: Option<f64>,
}

/// Container-level fields.
#[derive(Debug, Deserialize, Default)]
pub struct FfprobeFormat {
    /// Duration in seconds, as text.
    pub duration: Option<String>,
    /// Demuxer names, comma separated.
    pub format_name: Option<String>,
    /// File size in bytes, as text.
    pub size: Option<String>,
    /// Overall bitrate, as text.
    pub bit_rate: Option<String>,
}

/// Probes `input` and validates it against `tools.limits`.
pub async fn probe(tools: &MediaTools, input: &Path) -> Result<ProbeInfo, MediaError> {
    let args: Vec<OsString> = vec![
        "-v".into(),
        "error".into(),
        // Only local files: a crafted playlist must not make us fetch URLs.
        "-protocol_whitelist".into(),
        "file".into(),
        "-format_whitelist".into(),
        SOURCE_DEMUXERS.into(),
        "-print_format".into(),
        "json".into(),
        "-show_format".into(),
        "-show_streams".into(),
        file_url(input),
    ];
    let cmd = ToolCommand::new(&tools.ffprobe, args, tools.probe_timeout);
    let out = match process::run(&cmd, StdoutMode::Capture).await {
        Ok(out) => out,
        // ffprobe exits non-zero only when it cannot open/demux the file.
        Err(MediaError::ToolFailed { stderr_tail, .. }) => {
            return Err(MediaError::NotAVideo {
                detail: stderr_tail,
            })
        }
        Err(e) => return Err(e),
    };
    parse_probe_json_with(&out.stdout, &tools.limits)
}

/// Parses ffprobe JSON and applies Reel's acceptance rules, with the
/// default limits except for the longest duration.
pub fn parse_probe_json(json: &[u8], max_duration_s: f64) -> Result<ProbeInfo, MediaError> {
    let limits = ProbeLimits {
        max_duration_s,
        ..ProbeLimits::default()
    };
    parse_probe_json_with(json, &limits)
}

/// Parses ffprobe JSON and applies Reel's acceptance rules and `limits`.
pub fn parse_probe_json_with(json: &[u8], limits: &ProbeLimits) -> Result<ProbeInfo, MediaError> {
    let raw: FfprobeOutput = serde_json::from_slice(json).map_err(|e| MediaError::ProbeFailed {
        reason: e.to_string(),
    })?;
    summarize(&raw, limits)
}

/// Condenses raw ffprobe output into [`ProbeInfo`] or a rejection.
pub fn summarize(raw: &FfprobeOutput, limits: &ProbeLimits) -> Result<ProbeInfo, MediaError> {
    let max_duration_s = limits.max_duration_s;
    let format = raw.format.as_ref();
    let format_name = format.and_then(|f| f.format_name.as_deref()).unwrap_or("");
    if raw.streams.is_empty() || format.is_none() {
        return Err(MediaError::NotAVideo {
            detail: "ffprobe found no streams".into(),
        });
    }
    // The tty demuxer will "decode" any text file as ANSI art.
    if format_name == "tty" {
        return Err(MediaError::NotAVideo {
            detail: "text file".into(),
        });
    }

    if raw.streams.len() as u64 > u64::from(limits.max_streams) {
        return Err(MediaError::LimitExceeded {
            limit: Limit::Streams,
            value: raw.streams.len() as f64,
            max: f64::from(limits.max_streams),
        });
    }

    // Cover art is a video stream too (often the first one); outputs are
    // made from the first stream that is real video.
    let video = raw
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("video") && flag(s, "attached_pic") == 0)
        .ok_or(MediaError::NoVideoStream)?;
    let codec = video.codec_name.clone().unwrap_or_default();
    if codec == "ansi" {
        return Err(MediaError::NotAVideo {
            detail: "text file".into(),
        });
    }

    let duration_s = [
        format.and_then(|f| f.duration.as_deref()),
        video.duration.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter_map(|d| d.parse::<f64>().ok())
    .find(|d| d.is_finite() && *d > 0.0);

    let image_demuxer = format_name.ends_with("_pipe") || format_name.starts_with("image2");
    let single_frame = video.nb_frames.as_deref() == Some("1");
    let still_codec = STILL_CODECS.contains(&codec.as_str());
    if image_demuxer
        || single_frame
        || flag(video, "still_image") == 1
        || (still_codec && duration_s.is_none())
    {
        return Err(MediaError::StillImage { codec });
    }
    let duration_s = duration_s.ok_or_else(|| MediaError::Unsupported {
        what: "the video has no known duration".into(),
    })?;
    if duration_s > max_duration_s {
        return Err(MediaError::TooLong {
            duration_s,
            max_s: max_duration_s,
        });
    }

    let (cw, ch) = match (video.width, video.height) {
        (Some(w), Some(h)) if w > 0 && h > 0 => (w, h),
        _ => {
            return Err(MediaError::Unsupported {
                what: "the video frame size is unknown".into(),
            })
        }
    };
    if cw > MAX_FRAME_SIDE || ch > MAX_FRAME_SIDE {
        return Err(MediaError::TooLargeFrame {
            width: cw,
            height: ch,
            max: MAX_FRAME_SIDE,
        });
    }

    let pixels = u64::from(cw) * u64::from(ch);
    if pixels > limits.max_pixels {
        return Err(MediaError::LimitExceeded {
            limit: Limit::Pixels,
            value: pixels as f64,
            max: limits.max_pixels as f64,
        });
    }

    let rotation = rotation_of(video);
    let (width, height) = if rotation % 180 == 90 {
        (ch, cw)
    } else {
        (cw, ch)
    };

    let fps = [
        video.avg_frame_rate.as_deref(),
        video.r_frame_rate.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter_map(parse_rate)
    .find(|r| *r >= MIN_FPS)
    .unwrap_or(0.0);
    if fps > limits.max_fps {
        return Err(MediaError::LimitExceeded {
            limit: Limit::FrameRate,
            value: fps,
            max: limits.max_fps,
        });
    }

    let has_audio = raw
        .streams
        .iter()
        .any(|s| s.codec_type.as_deref() == Some("audio"));
    let subtitle_streams = raw
        .streams
        .iter()
        .filter(|s| s.codec_type.as_deref() == Some("subtitle"))
        .map(|s| SubtitleStream {
            index: s.index,
            codec: s.codec_name.clone().unwrap_or_default(),
            language: s
                .tags
                .get("language")
                .filter(|l| !l.is_empty() && l.as_str() != "und")
                .cloned(),
        })
        .collect();

    Ok(ProbeInfo {
        video_index: video.index,
        color: VideoColor::of(video),
        duration_s,
        width,
        height,
        rotation,
        fps,
        has_audio,
        video_codec: codec,
        subtitle_streams,
    })
}

fn flag(stream: &FfprobeStream, name: &str) -> i64 {
    stream.disposition.get(name).copied().unwrap_or(0)
}

/// Rotation from the display matrix, falling back to the legacy `rotate`
/// tag older muxers wrote; normalised to 0/90/180/270.
fn rotation_of(stream: &FfprobeStream) -> i32 {
    let from_matrix = stream
        .side_data_list
        .iter()
        .filter(|sd| sd.side_data_type.as_deref() == Some("Display Matrix"))
        .find_map(|sd| sd.rotation);
    let from_tag = || {
        stream
            .tags
            .get("rotate")
            .and_then(|r| r.parse::<f64>().ok())
    };
    let degrees = from_matrix.or_else(from_tag).unwrap_or(0.0);
    // Snap to quarter turns: arbitrary angles are not something we render.
    let quarter = (degrees / 90.0).round() as i64;
    (quarter.rem_euclid(4) * 90) as i32
}

/// Parses `num/den` (or a plain number); `0/0` and garbage give `None`.
fn parse_rate(text: &str) -> Option<f64> {
    let value = match text.split_once('/') {
        Some((n, d)) => {
            let (n, d) = (n.trim().parse::<f64>().ok()?, d.trim().parse::<f64>().ok()?);
            if d == 0.0 {
                return None;
            }
            n / d
        }
        None => text.trim().parse().ok()?,
    };
    value.is_finite().then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: f64 = 4.0 * 3600.0;

    fn fixture(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/media/fixtures")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn h264_with_audio() {
        let info = parse_probe_json(&fixture("h264_aac_1280x720.json"), MAX).unwrap();
        assert_eq!((info.width, info.height), (1280, 720));
        assert_eq!(info.rotation, 0);
        assert_eq!(info.fps, 30.0);
        assert!(info.has_audio);
        assert_eq!(info.video_codec, "h264");
        assert!((info.duration_s - 2.0).abs() < 0.1, "{}", info.duration_s);
        assert!(info.subtitle_streams.is_empty());
    }

    #[test]
    fn rotated_source_reports_display_size() {
        let info = parse_probe_json(&fixture("rotated_90.json"), MAX).unwrap();
        assert_eq!(info.rotation % 180, 90);
        assert_eq!((info.width, info.height), (720, 1280));
    }

    #[test]
    fn still_image_is_rejected() {
        let err = parse_probe_json(&fixture("still_png.json"), MAX).unwrap_err();
        assert_eq!(err.code(), "still-image");
    }

    #[test]
    fn audio_only_has_no_video() {
        let err = parse_probe_json(&fixture("audio_only.json"), MAX).unwrap_err();
        assert_eq!(err.code(), "no-video-stream");
    }

    #[test]
    fn subtitles_are_listed_with_language() {
        let info = parse_probe_json(&fixture("mov_text_subtitles.json"), MAX).unwrap();
        assert_eq!(
            info.subtitle_streams,
            vec![SubtitleStream {
                index: 2,
                codec: "mov_text".into(),
                language: Some("eng".into()),
            }]
        );
    }

    #[test]
    fn too_long_is_rejected() {
        let err = parse_probe_json(&fixture("h264_aac_1280x720.json"), 1.0).unwrap_err();
        assert_eq!(err.code(), "too-long");
    }

    #[test]
    fn huge_frame_is_rejected() {
        let mut raw: serde_json::Value =
            serde_json::from_slice(&fixture("h264_aac_1280x720.json")).unwrap();
        raw["streams"][0]["width"] = 9000.into();
        let err = parse_probe_json(raw.to_string().as_bytes(), MAX).unwrap_err();
        assert_eq!(err.code(), "too-large-frame");
    }

    #[test]
    fn empty_or_garbage_output() {
        assert_eq!(
            parse_probe_json(b"{}", MAX).unwrap_err().code(),
            "not-a-video"
        );
        assert_eq!(
            parse_probe_json(b"nope", MAX).unwrap_err().code(),
            "probe-failed"
        );
    }

    #[test]
    fn cover_art_is_not_video() {
        let json = r#"{"streams":[
            {"index":0,"codec_type":"audio","codec_name":"mp3"},
            {"index":1,"codec_type":"video","codec_name":"mjpeg","width":500,"height":500,
             "disposition":{"attached_pic":1}}],
            "format":{"format_name":"mp3","duration":"180.0"}}"#;
        let err = parse_probe_json(json.as_bytes(), MAX).unwrap_err();
        assert_eq!(err.code(), "no-video-stream");
    }

    /// Seen while writing the `probe` fuzz target's check that a plan's
    /// frame rate reaches ffmpeg as a usable `fps=` value.
    #[test]
    fn rates_below_one_frame_per_second_count_as_unknown() {
        let mut raw: serde_json::Value =
            serde_json::from_slice(&fixture("h264_aac_1280x720.json")).unwrap();
        raw["streams"][0]["avg_frame_rate"] = "2/14400".into();
        raw["streams"][0]["r_frame_rate"] = "1/3600".into();
        let info = parse_probe_json(raw.to_string().as_bytes(), MAX).unwrap();
        assert_eq!(info.fps, 0.0);
        let plan = crate::media::plan_ladder(&info, &Default::default());
        assert_eq!(crate::media::args::fps_arg(plan.fps), "30");
        raw["streams"][0]["avg_frame_rate"] = "1/1".into();
        let info = parse_probe_json(raw.to_string().as_bytes(), MAX).unwrap();
        assert_eq!(info.fps, 1.0);
    }

    #[test]
    fn limits_are_checked_and_named_with_their_keys() {
        let json = fixture("h264_aac_1280x720.json");
        let base = ProbeLimits::default();
        assert!(parse_probe_json_with(&json, &base).is_ok());
        let cases = [
            (
                ProbeLimits {
                    max_pixels: 1280 * 720 - 1,
                    ..base.clone()
                },
                "too-many-pixels",
                "media.max_pixels",
            ),
            (
                ProbeLimits {
                    max_fps: 25.0,
                    ..base.clone()
                },
                "frame-rate-too-high",
                "media.max_fps",
            ),
            (
                ProbeLimits {
                    max_streams: 1,
                    ..base.clone()
                },
                "too-many-streams",
                "media.max_streams",
            ),
            (
                ProbeLimits {
                    max_duration_s: 1.0,
                    ..base.clone()
                },
                "too-long",
                "media.max_duration_s",
            ),
        ];
        for (limits, code, key) in cases {
            let err = parse_probe_json_with(&json, &limits).unwrap_err();
            assert_eq!(err.code(), code);
            assert!(err.user_message().contains(key), "{}", err.user_message());
            assert!(err.kind().is_permanent(), "{code}");
        }
    }

    #[test]
    fn cover_art_before_the_video_is_skipped() {
        let json = r#"{"streams":[
            {"index":0,"codec_type":"video","codec_name":"mjpeg","width":600,"height":600,
             "disposition":{"attached_pic":1}},
            {"index":1,"codec_type":"video","codec_name":"h264","width":1280,"height":720,
             "avg_frame_rate":"25/1","pix_fmt":"yuv420p10le","color_transfer":"smpte2084",
             "color_primaries":"bt2020","color_space":"bt2020nc","disposition":{"attached_pic":0}},
            {"index":2,"codec_type":"audio","codec_name":"aac"}],
            "format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"10.0"}}"#;
        let info = parse_probe_json(json.as_bytes(), MAX).unwrap();
        assert_eq!(info.video_index, 1);
        assert_eq!((info.width, info.height, info.fps), (1280, 720, 25.0));
        assert_eq!(info.video_codec, "h264");
        assert!(info.color.is_hdr());
        assert_eq!(info.color.pix_fmt, "yuv420p10le");
    }

    #[test]
    fn rotation_and_rates() {
        let mut s = FfprobeStream::default();
        s.tags.insert("rotate".into(), "270".into());
        assert_eq!(rotation_of(&s), 270);
        s.side_data_list.push(FfprobeSideData {
            side_data_type: Some("Display Matrix".into()),
            rotation: Some(-90.0),
        });
        assert_eq!(rotation_of(&s), 270);
        assert_eq!(
            parse_rate("30000/1001").map(|r| (r * 1000.0).round()),
            Some(29970.0)
        );
        assert_eq!(parse_rate("0/0"), None);
        assert_eq!(parse_rate("25"), Some(25.0));
    }
}

//! End-to-end media pipeline tests against the real ffmpeg/ffprobe.
//!
//! Sources are generated with lavfi into a temporary directory, kept short
//! and small so the suite stays quick on a couple of cores.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use reel_node::media::{
    plan_ladder, poster, probe, transcode, LadderOptions, MediaTools, ProbeInfo, TranscodeOutput,
};

/// Encodes a lavfi test source: `size` video for `seconds`, optional sine audio,
/// then optionally tags the video with a rotation (stream copy, which is how
/// ffmpeg 5.1 writes a display matrix).
fn make_source(
    dir: &Path,
    name: &str,
    size: &str,
    seconds: u32,
    audio: bool,
    rotate: Option<i32>,
) -> PathBuf {
    let plain = dir.join(format!("{name}.plain.mp4"));
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={size}:rate=30"),
        ]);
    if audio {
        cmd.args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]);
    }
    cmd.args(["-t", &seconds.to_string()]).args([
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
    ]);
    if audio {
        cmd.args(["-c:a", "aac"]);
    }
    cmd.arg(&plain);
    assert!(
        cmd.status().expect("ffmpeg runs").success(),
        "making {name}"
    );
    let Some(rot) = rotate else {
        return plain;
    };
    let rotated = dir.join(format!("{name}.mp4"));
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(&plain)
        .args(["-c", "copy", "-metadata:s:v:0", &format!("rotate={rot}")])
        .arg(&rotated)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "tagging rotation on {name}");
    rotated
}

/// `width`, `height` and display-matrix rotation of the first video stream.
fn ffprobe_video(path: &Path) -> (u32, u32, Option<i64>) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_streams",
            "-select_streams",
            "v:0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(out.status.success(), "ffprobe {}", path.display());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &json["streams"][0];
    let rotation = s["side_data_list"]
        .as_array()
        .and_then(|l| l.iter().find_map(|sd| sd["rotation"].as_i64()));
    (
        s["width"].as_u64().unwrap() as u32,
        s["height"].as_u64().unwrap() as u32,
        rotation,
    )
}

/// Probes, plans and transcodes `src` into `<dir>/out`, recording progress.
async fn publish(src: &Path, dir: &Path) -> (ProbeInfo, TranscodeOutput, PathBuf, Vec<f64>) {
    let tools = MediaTools::default();
    let info = probe(&tools, src).await.expect("probe");
    let plan = plan_ladder(&info, &LadderOptions::default());
    let out = dir.join("out");
    let seen = Mutex::new(Vec::new());
    let on_progress = |f: f64| seen.lock().unwrap().push(f);
    let started = std::time::Instant::now();
    let output = transcode(&tools, src, &plan, info.duration_s, &out, &on_progress)
        .await
        .expect("transcode");
    // Informational only: shows encode speed in `--nocapture` runs.
    eprintln!(
        "transcoded {:.1} s of {}x{} into {} rungs in {:.1} s",
        info.duration_s,
        info.width,
        info.height,
        output.renditions.len(),
        started.elapsed().as_secs_f64()
    );
    (info, output, out, seen.into_inner().unwrap())
}

/// `#EXT-X-STREAM-INF` lines paired with their URI line.
fn stream_infs(master: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = master.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0].starts_with("#EXT-X-STREAM-INF:"))
        .map(|w| (w[0].to_string(), w[1].to_string()))
        .collect()
}

fn assert_segments_short(playlist: &Path) {
    let text = std::fs::read_to_string(playlist).unwrap();
    let mut count = 0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            let d: f64 = rest.trim_end_matches(',').parse().unwrap();
            assert!(d <= 4.5, "{}: segment of {d} s", playlist.display());
            count += 1;
        }
    }
    assert!(count > 0, "{} has no segments", playlist.display());
    assert!(text.contains("#EXT-X-MAP:URI=\"init.mp4\""), "{text}");
    assert!(text.contains("#EXT-X-ENDLIST"));
}

#[tokio::test]
async fn hd_source_with_audio_gets_four_rungs() {
    let tmp = tempfile::tempdir().unwrap();
    let src = make_source(tmp.path(), "hd", "1280x720", 20, true, None);
    let (info, output, out, progress) = publish(&src, tmp.path()).await;
    assert!(info.has_audio);
    assert!(output.has_audio);

    let names: Vec<&str> = output.renditions.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["720p", "480p", "360p", "240p"]);

    let master = std::fs::read_to_string(out.join("master.m3u8")).unwrap();
    assert!(master.starts_with("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n"));
    assert!(master.contains(
        "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"audio\",DEFAULT=YES,AUTOSELECT=YES,\
         CHANNELS=\"2\",URI=\"audio/index.m3u8\""
    ));
    let infs = stream_infs(&master);
    let uris: Vec<&str> = infs.iter().map(|(_, u)| u.as_str()).collect();
    assert_eq!(
        uris,
        [
            "720p/index.m3u8",
            "480p/index.m3u8",
            "360p/index.m3u8",
            "240p/index.m3u8"
        ]
    );
    let expected_sizes = [(1280, 720), (854, 480), (640, 360), (426, 240)];
    for ((inf, uri), (w, h)) in infs.iter().zip(expected_sizes) {
        for attr in [
            "BANDWIDTH=",
            "AVERAGE-BANDWIDTH=",
            "CODECS=\"avc1.64",
            "FRAME-RATE=30.000",
        ] {
            assert!(inf.contains(attr), "{attr} missing in {inf}");
        }
        assert!(inf.contains(&format!("RESOLUTION={w}x{h}")), "{inf}");
        assert!(inf.contains(",mp4a.40.2\""), "{inf}");
        assert!(inf.contains("AUDIO=\"aud\""), "{inf}");

        let dir = out.join(uri.trim_end_matches("/index.m3u8"));
        assert_segments_short(&out.join(uri));
        let (pw, ph, rot) = ffprobe_video(&dir.join("init.mp4"));
        assert_eq!((pw, ph), (w, h), "{uri}");
        assert!(rot.unwrap_or(0) == 0, "{uri} carries rotation {rot:?}");
    }
    for r in &output.renditions {
        assert!(
            r.bandwidth >= r.average_bandwidth && r.average_bandwidth > 0,
            "{r:?}"
        );
    }
    assert_segments_short(&out.join("audio/index.m3u8"));

    // Progress is monotonic, comes while ffmpeg works (not only when it is
    // done), and gets (near) the end.
    assert!(
        progress.iter().any(|f| *f > 0.0 && *f < 0.8),
        "no progress while encoding: {progress:?}"
    );
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert!(*progress.last().unwrap() >= 0.9, "{progress:?}");

    // The poster and the storyboard came out of the same run.
    assert!(output.poster, "{output:?}");
    assert_eq!(ffprobe_video(&out.join("poster.jpg")).0, 640);
    assert_eq!(ffprobe_video(&out.join("poster.jpg")).1, 360);
    let board = output.storyboard.expect("storyboard");
    assert_eq!(board.tiles, 20);
    assert_eq!(ffprobe_video(&out.join("storyboard.jpg")).0, 1600);
    assert!(std::fs::read_to_string(out.join("storyboard.vtt"))
        .unwrap()
        .contains("--> 00:00:20.000\nstoryboard.jpg#xywh=1440,90,160,90\n"));
    assert!(output.picture_problems.is_empty(), "{output:?}");
    // Nothing half-written stays in the output.
    for e in std::fs::read_dir(&out).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".part"), "{name} left behind");
    }

    // A poster made on its own from the same source shows the same frame.
    let jpg = tmp.path().join("poster.jpg");
    poster(&MediaTools::default(), &src, &info, &jpg)
        .await
        .expect("poster");
    let (pw, ph, _) = ffprobe_video(&jpg);
    assert_eq!((pw, ph), (640, 360));
}

#[tokio::test]
async fn small_source_gets_a_single_rung() {
    let tmp = tempfile::tempdir().unwrap();
    let src = make_source(tmp.path(), "small", "426x240", 6, true, None);
    let (_, output, out, _) = publish(&src, tmp.path()).await;
    assert_eq!(output.renditions.len(), 1);
    let r = &output.renditions[0];
    assert_eq!((r.name.as_str(), r.width, r.height), ("240p", 426, 240));
    let master = std::fs::read_to_string(out.join("master.m3u8")).unwrap();
    let infs = stream_infs(&master);
    assert_eq!(infs.len(), 1);
    assert!(infs[0].0.contains("RESOLUTION=426x240"));
    assert_eq!(ffprobe_video(&out.join("240p/init.mp4")).0, 426);
}

#[tokio::test]
async fn source_without_audio_publishes_video_only() {
    let tmp = tempfile::tempdir().unwrap();
    let src = make_source(tmp.path(), "silent", "640x360", 6, false, None);
    let (info, output, out, progress) = publish(&src, tmp.path()).await;
    assert!(!info.has_audio);
    assert!(!output.has_audio);
    let names: Vec<&str> = output.renditions.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["360p", "240p"]);
    let master = std::fs::read_to_string(out.join("master.m3u8")).unwrap();
    assert!(!master.contains("TYPE=AUDIO"), "{master}");
    assert!(!master.contains("AUDIO="), "{master}");
    assert!(!master.contains("mp4a"), "{master}");
    assert!(!out.join("audio").exists());
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert!(*progress.last().unwrap() >= 0.9, "{progress:?}");
}

#[tokio::test]
async fn rotated_phone_video_comes_out_portrait() {
    let tmp = tempfile::tempdir().unwrap();
    let src = make_source(tmp.path(), "phone", "1280x720", 4, true, Some(90));
    let (w, h, rot) = ffprobe_video(&src);
    assert_eq!((w, h), (1280, 720));
    assert_eq!(
        rot.map(|r| r.rem_euclid(180)),
        Some(90),
        "source must be rotated"
    );

    let (info, output, out, _) = publish(&src, tmp.path()).await;
    assert_eq!((info.width, info.height), (720, 1280));
    let top = &output.renditions[0];
    assert_eq!(
        (top.name.as_str(), top.width, top.height),
        ("720p", 720, 1280)
    );
    for r in &output.renditions {
        let (pw, ph, prot) = ffprobe_video(&out.join(&r.name).join("init.mp4"));
        assert_eq!((pw, ph), (r.width, r.height), "{}", r.name);
        assert!(ph > pw, "{} is not portrait", r.name);
        assert!(prot.unwrap_or(0) == 0, "{} keeps rotation {prot:?}", r.name);
    }
}

#[tokio::test]
async fn text_file_is_not_a_video() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = tmp.path().join("holiday.mp4");
    std::fs::write(&fake, "this is just some text, not a movie\n").unwrap();
    let err = probe(&MediaTools::default(), &fake).await.unwrap_err();
    assert_eq!(err.code(), "not-a-video");
    assert_eq!(
        err.user_message(),
        "The file is not a video ffmpeg can read."
    );
    assert!(!err.user_message().contains(tmp.path().to_str().unwrap()));
}

#[tokio::test]
async fn still_image_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let png = tmp.path().join("picture.png");
    let status = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240",
        ])
        .args(["-frames:v", "1"])
        .arg(&png)
        .status()
        .unwrap();
    assert!(status.success());
    let err = probe(&MediaTools::default(), &png).await.unwrap_err();
    assert_eq!(err.code(), "still-image");
}

#[tokio::test]
async fn a_playlist_posing_as_a_video_cannot_pull_in_local_files() {
    let tmp = tempfile::tempdir().unwrap();
    // A real video on disk that the "upload" tries to smuggle out via HLS.
    let secret = make_source(tmp.path(), "secret", "160x120", 2, false, None);
    let evil = tmp.path().join("evil.mp4");
    std::fs::write(
        &evil,
        format!(
            "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{}\n#EXT-X-ENDLIST\n",
            secret.display()
        ),
    )
    .unwrap();
    let err = probe(&MediaTools::default(), &evil).await.unwrap_err();
    assert_eq!(err.code(), "not-a-video", "{err}");
    let concat = tmp.path().join("list.mp4");
    std::fs::write(
        &concat,
        format!("ffconcat version 1.0\nfile '{}'\n", secret.display()),
    )
    .unwrap();
    let err = probe(&MediaTools::default(), &concat).await.unwrap_err();
    assert_eq!(err.code(), "not-a-video", "{err}");
}

//! Embedded text subtitles are found by probe and extracted as WebVTT.

use std::process::Command;

use reel_node::media::{extract_subtitle, probe, MediaTools};

#[tokio::test]
async fn mov_text_track_becomes_webvtt() {
    let tmp = tempfile::tempdir().unwrap();
    let srt = tmp.path().join("captions.srt");
    std::fs::write(
        &srt,
        "1\n00:00:00,500 --> 00:00:01,500\nHello there\n\n2\n00:00:02,000 --> 00:00:03,000\nSecond line\n",
    )
    .unwrap();
    let src = tmp.path().join("with_subs.mp4");
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
        .arg("-i")
        .arg(&srt)
        .args(["-t", "4", "-map", "0:v", "-map", "1:s"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-c:s", "mov_text", "-metadata:s:s:0", "language=eng"])
        .arg(&src)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());

    let tools = MediaTools::default();
    let info = probe(&tools, &src).await.expect("probe");
    assert_eq!(info.subtitle_streams.len(), 1);
    let stream = &info.subtitle_streams[0];
    assert_eq!(stream.codec, "mov_text");
    assert_eq!(stream.language.as_deref(), Some("eng"));

    let vtt = tmp.path().join("eng.vtt");
    extract_subtitle(&tools, &src, stream, &vtt)
        .await
        .expect("extract");
    let text = std::fs::read_to_string(&vtt).unwrap();
    assert!(text.starts_with("WEBVTT"), "{text}");
    assert!(text.contains("Hello there"), "{text}");
    assert!(text.contains("00:00.500 --> 00:01.500"), "{text}");
    assert!(text.contains("Second line"), "{text}");
}

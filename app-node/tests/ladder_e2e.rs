//! A 720p source imported by URL through the API comes out as the planned
//! HLS ladder: real ffmpeg, real SQLite, real HTTP on loopback.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::StatusCode;
use common::{make_clip, probe_size, source_server, TestNode};

/// An ffmpeg that notes each run's arguments in `log`, one line a run.
fn logging_ffmpeg(dir: &Path, log: &Path) -> PathBuf {
    let wrapper = dir.join("ffmpeg-logged");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec ffmpeg \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    wrapper
}

#[tokio::test]
async fn url_import_of_720p_source_publishes_the_planned_ladder() {
    let bin = tempfile::tempdir().unwrap();
    let runs = bin.path().join("ffmpeg-runs.log");
    let ffmpeg = logging_ffmpeg(bin.path(), &runs);
    let node = TestNode::new(&[("media.ffmpeg", ffmpeg.to_str().unwrap())]).await;
    let src = tempfile::tempdir().unwrap();
    make_clip(&src.path().join("hd.mp4"), 1280, 720, 20, true, &[]);
    let addr = source_server(src.path().to_path_buf()).await;
    let body =
        serde_json::json!({"title": "HD clip", "source_url": format!("http://{addr}/hd.mp4")});
    let (s, v) = node.post_json("/api/videos", &body.to_string()).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let id = v["id"].as_str().unwrap().to_string();
    let v = node
        .process_until_settled(&id, Duration::from_secs(600))
        .await;
    assert_eq!(v["status"], "ready", "{v}");
    assert!((v["duration_s"].as_f64().unwrap() - 20.0).abs() < 0.5);
    // One ffmpeg run read and decoded the source for the whole ladder, the
    // poster and the storyboard (the clip has no subtitles to extract); the
    // only other run tiles the storyboard's small frames into its sprite.
    let log = std::fs::read_to_string(&runs).unwrap();
    let inputs: Vec<&str> = log
        .lines()
        .map(|l| {
            let mut words = l.split(' ');
            words.find(|w| *w == "-i");
            words.next().unwrap_or("")
        })
        .collect();
    let of_source = inputs.iter().filter(|i| i.ends_with("/source")).count();
    assert_eq!(of_source, 1, "ffmpeg runs:\n{log}");
    assert!(
        inputs
            .iter()
            .all(|i| i.ends_with("/source") || i.ends_with("/storyboard.tiles.mkv")),
        "ffmpeg runs:\n{log}"
    );
    assert!(v["poster_url"].is_string(), "{v}");
    let storyboard = v["storyboard_url"].as_str().expect("a storyboard");
    let (s, vtt) = node.get(storyboard).await;
    assert_eq!(s, StatusCode::OK);
    assert!(vtt.starts_with("WEBVTT\n") && vtt.contains("storyboard.jpg#xywh="));

    // Media lives under the published version: /media/{id}/{version}/….
    let base = v["hls_url"]
        .as_str()
        .unwrap()
        .trim_end_matches("master.m3u8")
        .to_string();
    let ver = base
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    // The unversioned address of the master playlist still works (redirect).
    let (s, master) = node.get(&format!("/media/{id}/master.m3u8")).await;
    assert_eq!(s, StatusCode::OK);
    let variants: Vec<&str> = master
        .lines()
        .filter(|l| l.starts_with("#EXT-X-STREAM-INF"))
        .collect();
    let res: Vec<String> = variants
        .iter()
        .map(|l| {
            l.split("RESOLUTION=")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        res,
        ["1280x720", "854x480", "640x360", "426x240"],
        "{master}"
    );
    for attr in [
        "BANDWIDTH=",
        "AVERAGE-BANDWIDTH=",
        "CODECS=\"avc1.",
        "mp4a.40.2",
        "FRAME-RATE=",
        "AUDIO=\"aud\"",
    ] {
        assert!(
            variants.iter().all(|l| l.contains(attr)),
            "{attr} missing: {master}"
        );
    }
    assert!(master.contains("#EXT-X-MEDIA:TYPE=AUDIO"));

    let media_dir = node.dir.path().join("media").join(&id).join(&ver);
    let expected = [
        ("720p", (1280, 720)),
        ("480p", (854, 480)),
        ("360p", (640, 360)),
        ("240p", (426, 240)),
    ];
    for (name, size) in expected {
        let (s, pl) = node.get(&format!("{base}{name}/index.m3u8")).await;
        assert_eq!(s, StatusCode::OK);
        // Published as it was encoded: an EVENT playlist, ended.
        assert!(pl.contains("#EXT-X-PLAYLIST-TYPE:EVENT") && pl.contains("#EXT-X-ENDLIST"));
        assert!(pl.contains("#EXT-X-START:TIME-OFFSET=0"));
        assert!(pl.contains("#EXT-X-MAP:URI=\"init.mp4\""));
        let durations: Vec<f64> = pl
            .lines()
            .filter_map(|l| l.strip_prefix("#EXTINF:"))
            .map(|d| d.trim_end_matches(',').parse().unwrap())
            .collect();
        assert!(durations.len() >= 5, "{name}: {pl}");
        assert!(
            durations.iter().all(|d| *d <= 4.5),
            "{name} has a long segment: {durations:?}"
        );
        // ffprobe reads the rung through its media playlist.
        assert_eq!(
            probe_size(&media_dir.join(name).join("index.m3u8")),
            size,
            "{name}"
        );
    }

    // Segments are served as immutable video/mp4 with Range support.
    let (s, h, b) = node
        .call(
            axum::http::Request::get(format!("{base}240p/init.mp4"))
                .header("range", "bytes=0-7")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::PARTIAL_CONTENT);
    assert_eq!(b.len(), 8);
    assert_eq!(h["content-type"], "video/mp4");
    assert!(h["cache-control"].to_str().unwrap().contains("immutable"));
    assert!(h["content-range"]
        .to_str()
        .unwrap()
        .starts_with("bytes 0-7/"));
    let (s, h, _) = node
        .call(
            axum::http::Request::get(format!("{base}master.m3u8"))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["content-type"], "application/vnd.apple.mpegurl");
    let (s, h, _) = node
        .call(
            axum::http::Request::get(format!("{base}poster.jpg"))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        (s, h["content-type"].to_str().unwrap()),
        (StatusCode::OK, "image/jpeg")
    );
    // Nothing outside the video's own prefix is reachable.
    for bad in [
        "../reel.db",
        "..%2F..%2Freel.db",
        ".staging/x.m3u8",
        "720p/../../reel.db",
    ] {
        assert_eq!(
            node.get(&format!("{base}{bad}")).await.0,
            StatusCode::NOT_FOUND,
            "{bad}"
        );
    }
    assert!(common::files_under(&node.dir.path().join("tmp")).is_empty());
}

//! Awkward sources through the real ffmpeg: cover art ahead of the video,
//! 10-bit and HDR pictures.

use std::path::{Path, PathBuf};
use std::process::Command;

use reel_node::media::{
    plan_ladder, poster, probe, storyboard, transcode, LadderOptions, MediaTools,
};

fn ffmpeg(args: &[&str]) {
    let st = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg runs");
    assert!(st.success(), "ffmpeg {args:?}");
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// ffprobe's JSON for every stream of `file`.
fn streams(file: &Path) -> Vec<serde_json::Value> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_streams"])
        .arg(file)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["streams"].as_array().cloned().unwrap_or_default()
}

/// Average colour of the first picture of `file`'s first video stream.
fn mean_rgb(file: &Path) -> [u8; 3] {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args(["-map", "0:v:0", "-frames:v", "1", "-vf", "scale=1:1"])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert_eq!(
        out.stdout.len(),
        3,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    [out.stdout[0], out.stdout[1], out.stdout[2]]
}

fn assert_blue(what: &str, rgb: [u8; 3]) {
    assert!(
        rgb[2] > 150 && rgb[0] < 100,
        "{what} shows {rgb:?}: the red cover art, not the blue video"
    );
}

/// Moves `moov/udta` (where MP4 keeps cover art) ahead of the tracks, so
/// ffmpeg lists the cover as the file's first video stream, as some taggers
/// write it. Box sizes do not change, so sample offsets stay valid.
fn cover_first(src: &Path, dest: &Path) {
    let d = std::fs::read(src).unwrap();
    let boxes = |from: usize, to: usize| {
        let mut out = Vec::new();
        let mut at = from;
        while at + 8 <= to {
            let size = u32::from_be_bytes(d[at..at + 4].try_into().unwrap()) as usize;
            out.push((at, size, d[at + 4..at + 8].to_vec()));
            at += size;
        }
        out
    };
    let (moov, moov_size, _) = boxes(0, d.len())
        .into_iter()
        .find(|b| b.2 == b"moov")
        .expect("moov");
    let kids = boxes(moov + 8, moov + moov_size);
    let rank = |t: &[u8]| match t {
        b"mvhd" => 0,
        b"udta" => 1,
        _ => 2,
    };
    let mut order = kids.clone();
    order.sort_by_key(|k| rank(&k.2));
    let mut out = d[..moov + 8].to_vec();
    for (at, size, _) in order {
        out.extend_from_slice(&d[at..at + size]);
    }
    out.extend_from_slice(&d[moov + moov_size..]);
    assert_eq!(out.len(), d.len());
    std::fs::write(dest, out).unwrap();
}

#[tokio::test]
async fn cover_art_ahead_of_the_video_is_skipped_by_ladder_poster_and_storyboard() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (cover, clip, tagged, src) = (
        dir.join("cover.jpg"),
        dir.join("clip.mp4"),
        dir.join("tagged.mp4"),
        dir.join("src.mp4"),
    );
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red:size=600x600",
        "-frames:v",
        "1",
        s(&cover),
    ]);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=0x2040ff:size=640x360:rate=30:duration=3",
        "-f",
        "lavfi",
        "-i",
        "sine=duration=3",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        s(&clip),
    ]);
    ffmpeg(&[
        "-i",
        s(&cover),
        "-i",
        s(&clip),
        "-map",
        "0:v",
        "-map",
        "1:v",
        "-map",
        "1:a",
        "-c:v:0",
        "mjpeg",
        "-disposition:v:0",
        "attached_pic",
        "-c:v:1",
        "copy",
        "-c:a",
        "copy",
        s(&tagged),
    ]);
    cover_first(&tagged, &src);
    let raw = streams(&src);
    assert_eq!(raw[0]["disposition"]["attached_pic"], 1, "{raw:?}");
    assert_eq!(raw[0]["width"], 600);

    let tools = MediaTools::default();
    let info = probe(&tools, &src).await.unwrap();
    assert_eq!(info.video_index, 1);
    assert_eq!((info.width, info.height), (640, 360));
    let plan = plan_ladder(&info, &LadderOptions::default());
    let out = dir.join("out");
    let made = transcode(&tools, &src, &plan, info.duration_s, &out, &|_| {})
        .await
        .unwrap();
    for r in &made.renditions {
        assert_blue(&r.name, mean_rgb(&out.join(&r.playlist)));
    }
    // The pictures the ladder's run made from its own decode…
    assert!(made.poster && made.storyboard.is_some(), "{made:?}");
    assert_blue("ladder's poster", mean_rgb(&out.join("poster.jpg")));
    assert_blue("ladder's storyboard", mean_rgb(&out.join("storyboard.jpg")));
    // …and the ones made on their own.
    let alone = dir.join("alone");
    std::fs::create_dir(&alone).unwrap();
    let jpg = alone.join("poster.jpg");
    poster(&tools, &src, &info, &jpg).await.unwrap();
    assert_blue("poster", mean_rgb(&jpg));
    storyboard(&tools, &src, &info, &alone).await.unwrap();
    assert_blue("storyboard", mean_rgb(&alone.join("storyboard.jpg")));
}

/// A 10-bit source with the given colour tags.
fn ten_bit(dir: &Path, name: &str, trc: &str, primaries: &str, matrix: &str) -> PathBuf {
    let path = dir.join(format!("{name}.mp4"));
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=30:duration=2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p10le",
        "-color_primaries",
        primaries,
        "-color_trc",
        trc,
        "-colorspace",
        matrix,
        s(&path),
    ]);
    let v = &streams(&path)[0];
    assert_eq!(v["pix_fmt"], "yuv420p10le", "the fixture must be 10-bit");
    assert_eq!(v["color_transfer"], trc);
    path
}

#[tokio::test]
async fn ten_bit_and_hdr_sources_come_out_as_8_bit_sdr_bt709() {
    let tmp = tempfile::tempdir().unwrap();
    let tools = MediaTools::default();
    for (name, trc, primaries, matrix, hdr) in [
        ("pq", "smpte2084", "bt2020", "bt2020nc", true),
        ("hlg", "arib-std-b67", "bt2020", "bt2020nc", true),
        ("sdr10", "bt709", "bt709", "bt709", false),
    ] {
        let src = ten_bit(tmp.path(), name, trc, primaries, matrix);
        let info = probe(&tools, &src).await.unwrap();
        assert_eq!(info.color.is_hdr(), hdr, "{name}");
        let plan = plan_ladder(&info, &LadderOptions::default());
        let out = tmp.path().join(format!("out-{name}"));
        let made = transcode(&tools, &src, &plan, info.duration_s, &out, &|_| {})
            .await
            .unwrap();
        for r in &made.renditions {
            let v = &streams(&out.join(&r.playlist))[0];
            assert_eq!(v["pix_fmt"], "yuv420p", "{name} {}", r.name);
            assert_eq!(v["profile"], "High", "{name} {}", r.name);
            for key in ["color_primaries", "color_transfer", "color_space"] {
                assert_eq!(v[key], "bt709", "{name} {} {key}: {v}", r.name);
            }
        }
        // The ladder's poster and storyboard went through the same
        // conversion as the rungs: they look like the poster made alone.
        assert!(made.poster && made.storyboard.is_some(), "{name}: {made:?}");
        let jpg = tmp.path().join(format!("{name}.jpg"));
        poster(&tools, &src, &info, &jpg).await.unwrap();
        let (alone, folded) = (mean_rgb(&jpg), mean_rgb(&out.join("poster.jpg")));
        for c in 0..3 {
            assert!(
                alone[c].abs_diff(folded[c]) <= 3,
                "{name}: poster made alone {alone:?}, by the ladder {folded:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_hung_ffmpeg_is_killed_after_the_duration_scaled_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let src = ten_bit(tmp.path(), "src", "bt709", "bt709", "bt709");
    let hung = tmp.path().join("ffmpeg-hung");
    std::fs::write(&hung, "#!/bin/sh\nexec sleep 60\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hung, std::fs::Permissions::from_mode(0o755)).unwrap();
    let real = MediaTools::default();
    let info = probe(&real, &src).await.unwrap();
    let tools = MediaTools {
        ffmpeg: hung,
        timeout_factor: 0.5,
        timeout_margin: std::time::Duration::from_secs(1),
        ..real
    };
    // 0.5 × 2 s + 1 s.
    let limit = tools.transcode_timeout(info.duration_s);
    assert!((limit.as_secs_f64() - 2.0).abs() < 0.1, "{limit:?}");
    let plan = plan_ladder(&info, &LadderOptions::default());
    let started = std::time::Instant::now();
    let err = transcode(
        &tools,
        &src,
        &plan,
        info.duration_s,
        &tmp.path().join("out"),
        &|_| {},
    )
    .await
    .unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.code(), "ffmpeg-timeout", "{err}");
    assert!(
        took >= limit && took < limit + std::time::Duration::from_secs(3),
        "{took:?}"
    );
    assert!(err.kind() == reel_node::failure::FailureKind::Transient);
}

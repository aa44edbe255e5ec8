//! Storyboard sprites from real ffmpeg: tile layout and the thumbnails track.

mod common;

use common::{make_clip, probe_size};
use reel_node::media::{
    plan_ladder, poster, probe, storyboard, transcode, LadderOptions, MediaTools,
};

#[tokio::test]
async fn sprite_and_track_cover_the_clip() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("c.mp4");
    make_clip(&clip, 640, 360, 12, false, &[]);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let tools = MediaTools::default();
    let info = probe(&tools, &clip).await.unwrap();
    let plan = storyboard(&tools, &clip, &info, &out).await.unwrap();
    assert!(plan.tiles <= 100 && plan.tiles >= 12, "{plan:?}");
    assert_eq!((plan.tile_w, plan.tile_h), (160, 90));
    let sprite = out.join("storyboard.jpg");
    assert_eq!(
        probe_size(&sprite),
        (plan.columns * plan.tile_w, plan.rows * plan.tile_h)
    );
    let vtt = std::fs::read_to_string(out.join("storyboard.vtt")).unwrap();
    let cues: Vec<&str> = vtt.lines().filter(|l| l.contains("-->")).collect();
    assert_eq!(cues.len() as u32, plan.tiles);
    assert!(cues[0].starts_with("00:00:00.000 -->"));
    assert!(cues.last().unwrap().ends_with("--> 00:00:12.000"), "{vtt}");
    // Every tile region lies inside the sprite.
    for line in vtt.lines().filter(|l| l.contains("#xywh=")) {
        let xywh: Vec<u32> = line
            .split("#xywh=")
            .nth(1)
            .unwrap()
            .split(',')
            .map(|n| n.parse().unwrap())
            .collect();
        assert!(xywh[0] + xywh[2] <= plan.columns * plan.tile_w);
        assert!(xywh[1] + xywh[3] <= plan.rows * plan.tile_h);
    }
    assert!(!out.join("storyboard.jpg.part").exists());
}

/// PSNR (dB) of picture `b` against picture `a`, as ffmpeg measures it.
fn psnr(a: &std::path::Path, b: &std::path::Path) -> f64 {
    let out = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-i"])
        .arg(a)
        .arg("-i")
        .arg(b)
        .args(["-lavfi", "[1:v][0:v]psnr", "-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    let err = String::from_utf8_lossy(&out.stderr);
    let avg = err
        .split("average:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no PSNR in {err}"));
    if avg == "inf" {
        f64::INFINITY
    } else {
        avg.parse().unwrap()
    }
}

#[tokio::test]
async fn the_ladder_makes_the_same_storyboard_and_poster_from_its_own_decode() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("c.mp4");
    make_clip(&clip, 640, 360, 12, true, &[]);
    let tools = MediaTools::default();
    let info = probe(&tools, &clip).await.unwrap();

    let alone = dir.path().join("alone");
    std::fs::create_dir(&alone).unwrap();
    let plan = storyboard(&tools, &clip, &info, &alone).await.unwrap();
    poster(&tools, &clip, &info, &alone.join("poster.jpg"))
        .await
        .unwrap();

    let ladder = plan_ladder(&info, &LadderOptions::default());
    assert_eq!(ladder.pictures.storyboard, Some(plan));
    let out = dir.path().join("out");
    let made = transcode(&tools, &clip, &ladder, info.duration_s, &out, &|_| {})
        .await
        .unwrap();
    assert_eq!(made.storyboard, Some(plan));
    assert!(made.poster, "{made:?}");

    // Same layout, same track, same pictures (up to JPEG noise).
    for name in ["storyboard.jpg", "poster.jpg"] {
        let (a, b) = (alone.join(name), out.join(name));
        assert_eq!(probe_size(&a), probe_size(&b), "{name}");
        let db = psnr(&a, &b);
        assert!(db > 40.0, "{name}: {db} dB apart");
    }
    assert_eq!(
        std::fs::read_to_string(alone.join("storyboard.vtt")).unwrap(),
        std::fs::read_to_string(out.join("storyboard.vtt")).unwrap()
    );
}

//! Storyboard sprites from real ffmpeg: tile layout and the thumbnails track.

mod common;

use common::{make_clip, probe_size};
use reel_node::media::{probe, storyboard, MediaTools};

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

//! ffprobe JSON → `ProbeInfo` (acceptance rules) → ladder plan. Whatever
//! the probe accepts must give a plan ffmpeg can encode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reel_node::media::args::fps_arg;
use reel_node::media::probe::{parse_probe_json, MAX_FRAME_SIDE};
use reel_node::media::{plan_ladder, LadderOptions};

const MAX_DURATION_S: f64 = 4.0 * 3600.0;

fuzz_target!(|data: &[u8]| {
    let Ok(info) = parse_probe_json(data, MAX_DURATION_S) else {
        return;
    };
    assert!(info.duration_s.is_finite() && info.duration_s > 0.0);
    assert!(info.duration_s <= MAX_DURATION_S);
    assert!(info.width > 0 && info.height > 0);
    assert!(info.width <= MAX_FRAME_SIDE && info.height <= MAX_FRAME_SIDE);
    assert!(matches!(info.rotation, 0 | 90 | 180 | 270));
    assert!(info.fps.is_finite() && info.fps >= 0.0, "fps {}", info.fps);
    let opts = LadderOptions::default();
    let plan = plan_ladder(&info, &opts);
    assert!(!plan.rungs.is_empty());
    assert!(plan.fps.is_finite() && plan.fps > 0.0 && plan.fps <= opts.max_fps);
    // ffmpeg's fps filter and the keyframe interval are built from it.
    let fps = fps_arg(plan.fps);
    assert!(
        fps != "0" && !fps.starts_with('-'),
        "fps {} → {fps}",
        plan.fps
    );
    for r in &plan.rungs {
        assert!(r.width >= 2 && r.height >= 2, "{r:?}");
        assert!(r.width % 2 == 0 && r.height % 2 == 0, "{r:?}");
        assert!(
            r.width <= info.width.max(2) && r.height <= info.height.max(2),
            "{r:?}"
        );
        assert!(r.video_kbps > 0 && r.maxrate_kbps >= r.video_kbps, "{r:?}");
        let _ = r.codecs();
    }
});

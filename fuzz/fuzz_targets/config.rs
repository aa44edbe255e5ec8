//! Config file text → validated `Config`. Whatever validation accepts must
//! be usable: the accessors work and the durations the node turns into
//! deadlines (or SQL lease arithmetic) cannot overflow.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use reel_node::config::parse_config_str;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cfg) = parse_config_str(text) else {
        return;
    };
    let _ = (cfg.catalog_url(), cfg.storage_path(), cfg.tmp_dir());
    let _ = (cfg.web_dir_override(), cfg.storage.s3.path_style());
    let now = Instant::now();
    let secs = [
        cfg.catalog.acquire_timeout_s,
        cfg.storage.redirect_expiry_s,
        cfg.ingest.connect_timeout_s,
        cfg.ingest.read_timeout_s,
        cfg.ingest.total_timeout_s,
        cfg.worker.lease_s,
        cfg.media.transcode_timeout_s,
    ];
    for s in secs {
        // The readiness limit adds 2 s to the pool's wait; leases are
        // stored as milliseconds past now in an i64 column.
        let d = Duration::from_secs(s) + Duration::from_secs(2);
        assert!(now.checked_add(d).is_some(), "{s} s overflows a deadline");
        assert!(
            d.as_millis() < (i64::MAX / 2) as u128,
            "{s} s overflows SQL"
        );
    }
    assert!(now
        .checked_add(Duration::from_millis(cfg.worker.poll_ms))
        .is_some());
    let max = cfg.media.max_duration_s;
    assert!(max.is_finite() && max > 0.0, "max_duration_s = {max}");
});

//! WebVTT input → clean WebVTT. The signature is always there, so every run
//! exercises the WebVTT branch (header, NOTE/STYLE/REGION, cue settings).
#![no_main]

use libfuzzer_sys::fuzz_target;

mod roundtrip;

fuzz_target!(|data: &[u8]| {
    let mut file = b"WEBVTT\n".to_vec();
    file.extend_from_slice(data);
    roundtrip::check(&file);
});

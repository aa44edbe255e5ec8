//! Uploaded subtitle bytes (SRT, or anything else) → clean WebVTT.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod roundtrip;

fuzz_target!(|data: &[u8]| roundtrip::check(data));

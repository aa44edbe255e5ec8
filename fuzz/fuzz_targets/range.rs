//! `Range` header → at most one byte range. Input: 8 bytes of file length
//! (little endian), then the raw header value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reel_node::http::range::{parse_range, RangeError, RangeReq, MAX_HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (len, header) = data.split_at(8);
    // Small lengths reach the interesting edges (0, 1, suffixes longer
    // than the file) far more often than uniform u64s would.
    let raw = u64::from_le_bytes(len.try_into().expect("8 bytes"));
    let total = if raw & 1 == 0 {
        raw >> 1
    } else {
        (raw >> 1) % 64
    };
    match parse_range(Some(header), total) {
        Ok(RangeReq::Part { start, end }) => {
            assert!(start <= end && end < total, "{start}-{end}/{total}");
            assert!(RangeReq::Part { start, end }.len(total) <= total);
        }
        Ok(RangeReq::Full) => {}
        Err(RangeError::TooLong) => assert!(header.len() > MAX_HEADER_LEN),
        Err(_) => assert!(header.len() <= MAX_HEADER_LEN && total > 0),
    }
});

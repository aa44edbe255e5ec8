//! `Range: bytes=…` request headers (RFC 9110 §14), reduced to at most one
//! byte range so every answer is a plain 200, a single-part 206 or a 416.
//!
//! Semantics, and why:
//!
//! - **No header, another unit** (`items=0-1`), or a value that is not
//!   visible ASCII: the header is ignored and the whole file is sent (200).
//!   RFC 9110 §14.2 lets a server ignore `Range`; the unit is compared
//!   case-insensitively (§14.1), so `Bytes=0-1` is honoured.
//! - **One range**: a single-part 206, the end clamped to the last byte; a
//!   suffix longer than the file means the whole file (§14.1.1).
//! - **Several ranges**: answered with the **first satisfiable range** in
//!   the order given, as a single-part 206 whose `Content-Range` says which
//!   bytes these are. Never more bytes than the client named in one
//!   range-spec, never a multipart body, and overlapping or repeated ranges
//!   cannot make the node send the same bytes twice (the overlapping-range
//!   amplification of CVE-2011-3192). Players only ever ask for one range.
//! - **Bounded work**: a header longer than [`MAX_HEADER_LEN`] bytes or with
//!   more than [`MAX_PARTS`] list elements is refused (416) before any
//!   number is read, so a 100 KB `0-0,0-0,…` costs a length check. RFC 9110
//!   §14.1.1 allows refusing "many small ranges".
//! - **Malformed** (`5-2`, `x-`, `-`, junk), anywhere in the list: 416, as
//!   §14.1.1 allows a server to reject an invalid ranges-specifier.
//! - **Numbers too big for u64** read as u64::MAX, which is what their value
//!   means against any real file: a first position beyond the end is
//!   unsatisfiable (416 unless another range is satisfiable), a last
//!   position is clamped to the last byte, and a suffix covers the file.
//! - **Empty file**: nothing to slice; the header is ignored (200, no body).
//!
//! Every 416 carries `Content-Range: bytes */<length>` (§15.5.17).

/// Longest `Range` value read, in bytes; real players send about 30.
pub const MAX_HEADER_LEN: usize = 1024;

/// Most comma-separated elements read from one `Range` value.
pub const MAX_PARTS: usize = 16;

/// What to send for a request, given its `Range` header and the file length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeReq {
    /// No usable range: send everything with 200.
    Full,
    /// Send the inclusive byte range `start..=end` with 206.
    Part {
        /// First byte, always below the file length.
        start: u64,
        /// Last byte, `start <= end < length`.
        end: u64,
    },
}

impl RangeReq {
    /// Bytes in the body for a file of `total` bytes.
    pub fn len(&self, total: u64) -> u64 {
        match *self {
            RangeReq::Full => total,
            RangeReq::Part { start, end } => end - start + 1,
        }
    }
}

/// Why a range request gets 416 Range Not Satisfiable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// The header is longer than [`MAX_HEADER_LEN`].
    #[error("range header longer than {MAX_HEADER_LEN} bytes")]
    TooLong,
    /// The header lists more than [`MAX_PARTS`] elements.
    #[error("range header with more than {MAX_PARTS} ranges")]
    TooManyParts,
    /// A range-spec does not follow the grammar or runs backwards.
    #[error("malformed byte range")]
    Malformed,
    /// Every range starts at or past the end of the file.
    #[error("no requested range overlaps the file")]
    Unsatisfiable,
}

impl RangeError {
    /// Stable kebab-case code (logs and tests).
    pub fn code(&self) -> &'static str {
        match self {
            RangeError::TooLong => "range-too-long",
            RangeError::TooManyParts => "range-too-many-parts",
            RangeError::Malformed => "range-malformed",
            RangeError::Unsatisfiable => "range-unsatisfiable",
        }
    }
}

/// Reads a raw `Range` header value against a file of `total` bytes.
///
/// `Ok(Full)` means answer 200 with the whole file, `Ok(Part)` a
/// single-part 206, `Err` a 416. Work is bounded by [`MAX_HEADER_LEN`].
pub fn parse_range(header: Option<&[u8]>, total: u64) -> Result<RangeReq, RangeError> {
    let Some(raw) = header else {
        return Ok(RangeReq::Full);
    };
    // Checked before anything else is read, so a huge header costs O(1).
    if raw.len() > MAX_HEADER_LEN {
        return Err(RangeError::TooLong);
    }
    // Not visible ASCII: not a header we could have meant to honour.
    let Ok(value) = std::str::from_utf8(raw) else {
        return Ok(RangeReq::Full);
    };
    let Some((unit, set)) = value.trim_matches([' ', '\t']).split_once('=') else {
        return Ok(RangeReq::Full);
    };
    if !unit.eq_ignore_ascii_case("bytes") {
        return Ok(RangeReq::Full);
    }
    if total == 0 {
        return Ok(RangeReq::Full);
    }
    let mut chosen = None;
    let mut seen_spec = false;
    for (i, element) in set.split(',').enumerate() {
        if i >= MAX_PARTS {
            return Err(RangeError::TooManyParts);
        }
        // RFC 9110 §5.6.1.2: list elements may carry optional white space,
        // and empty elements are ignored.
        let element = element.trim_matches([' ', '\t']);
        if element.is_empty() {
            continue;
        }
        seen_spec = true;
        // Every element is checked even after a satisfiable one, so a
        // malformed header is refused whatever its order.
        let part = spec(element, total)?;
        if chosen.is_none() {
            chosen = part;
        }
    }
    match chosen {
        Some((start, end)) => Ok(RangeReq::Part { start, end }),
        None if seen_spec => Err(RangeError::Unsatisfiable),
        // `bytes=` or `bytes=,,`: a range-set needs at least one spec.
        None => Err(RangeError::Malformed),
    }
}

/// One range-spec against a non-empty file: `Some((start, end))` when
/// satisfiable, `None` when well-formed but past the end.
fn spec(element: &str, total: u64) -> Result<Option<(u64, u64)>, RangeError> {
    let (first, last) = element.split_once('-').ok_or(RangeError::Malformed)?;
    let last_byte = total - 1;
    if first.is_empty() {
        // Suffix range: the final `n` bytes.
        let n = number(last)?;
        if n == 0 {
            return Ok(None);
        }
        return Ok(Some((total.saturating_sub(n), last_byte)));
    }
    let start = number(first)?;
    let end = if last.is_empty() {
        u64::MAX
    } else {
        number(last)?
    };
    if end < start {
        return Err(RangeError::Malformed);
    }
    if start >= total {
        return Ok(None);
    }
    Ok(Some((start, end.min(last_byte))))
}

/// `1*DIGIT`, saturating at u64::MAX: a number that large lies past the end
/// of any file, which is all its exact value could tell us.
fn number(digits: &str) -> Result<u64, RangeError> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RangeError::Malformed);
    }
    Ok(digits.bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(h: &str, total: u64) -> Result<RangeReq, RangeError> {
        parse_range(Some(h.as_bytes()), total)
    }

    fn part(start: u64, end: u64) -> Result<RangeReq, RangeError> {
        Ok(RangeReq::Part { start, end })
    }

    #[test]
    fn absent_or_foreign_headers_mean_the_whole_file() {
        assert_eq!(parse_range(None, 10), Ok(RangeReq::Full));
        assert_eq!(p("items=0-1", 10), Ok(RangeReq::Full));
        assert_eq!(p("bytes", 10), Ok(RangeReq::Full));
        assert_eq!(parse_range(Some(b"bytes=0-1\xff"), 10), Ok(RangeReq::Full));
        assert_eq!(p("bytes=0-1", 0), Ok(RangeReq::Full));
    }

    #[test]
    fn single_ranges() {
        assert_eq!(p("bytes=0-3", 10), part(0, 3));
        assert_eq!(p("Bytes=0-3", 10), part(0, 3));
        assert_eq!(p(" bytes= 0-3 ", 10), part(0, 3));
        assert_eq!(p("bytes=5-", 10), part(5, 9));
        assert_eq!(p("bytes=-4", 10), part(6, 9));
        assert_eq!(p("bytes=-40", 10), part(0, 9));
        assert_eq!(p("bytes=8-100", 10), part(8, 9));
        assert_eq!(p("bytes=9-9", 10), part(9, 9));
        assert_eq!(RangeReq::Part { start: 2, end: 5 }.len(10), 4);
        assert_eq!(RangeReq::Full.len(10), 10);
    }

    #[test]
    fn unsatisfiable_ranges() {
        assert_eq!(p("bytes=10-", 10), Err(RangeError::Unsatisfiable));
        assert_eq!(p("bytes=10-20", 10), Err(RangeError::Unsatisfiable));
        assert_eq!(p("bytes=-0", 10), Err(RangeError::Unsatisfiable));
        assert_eq!(p("bytes=10-11,-0", 10), Err(RangeError::Unsatisfiable));
    }

    #[test]
    fn malformed_ranges() {
        for h in [
            "bytes=5-2",
            "bytes=x-",
            "bytes=-",
            "bytes=1",
            "bytes=",
            "bytes=,,",
            "bytes=+1-2",
            "bytes=1 -2",
            "bytes=0-1,5-2",
            "bytes=5-2,0-1",
            "bytes=0x10-",
        ] {
            assert_eq!(p(h, 10), Err(RangeError::Malformed), "{h}");
        }
    }

    #[test]
    fn several_ranges_give_the_first_satisfiable_one() {
        assert_eq!(p("bytes=0-1,4-5", 10), part(0, 1));
        assert_eq!(p("bytes=50-60, 4-5", 10), part(4, 5));
        assert_eq!(p("bytes=0-9,0-9,0-9", 10), part(0, 9));
        assert_eq!(p("bytes=3-8,0-5", 10), part(3, 8));
        assert_eq!(p("bytes=-2,0-0", 10), part(8, 9));
        assert_eq!(p("bytes=, 2-3 ,", 10), part(2, 3));
    }

    #[test]
    fn numbers_past_u64_saturate() {
        let huge = "99999999999999999999999999";
        assert_eq!(
            p(&format!("bytes={huge}-"), 10),
            Err(RangeError::Unsatisfiable)
        );
        assert_eq!(p(&format!("bytes=2-{huge}"), 10), part(2, 9));
        assert_eq!(p(&format!("bytes=-{huge}"), 10), part(0, 9));
        assert_eq!(
            p(&format!("bytes={huge}-1"), 10),
            Err(RangeError::Malformed)
        );
        assert_eq!(p(&format!("bytes={huge}-,1-2"), 10), part(1, 2));
        let max = u64::MAX;
        assert_eq!(p(&format!("bytes=0-{}", max), max), part(0, max - 1));
        assert_eq!(p("bytes=-1", max), part(max - 1, max - 1));
    }

    #[test]
    fn long_or_many_part_headers_are_refused_cheaply() {
        let many = format!("bytes={}", vec!["0-0"; MAX_PARTS + 1].join(","));
        assert_eq!(p(&many, 10), Err(RangeError::TooManyParts));
        let at_cap = format!("bytes={}", vec!["0-0"; MAX_PARTS].join(","));
        assert_eq!(p(&at_cap, 10), part(0, 0));
        let empties = format!("bytes=0-0{}", ",".repeat(MAX_PARTS));
        assert_eq!(p(&empties, 10), Err(RangeError::TooManyParts));
        // 100 KB of ranges: refused on its length alone.
        let huge = format!("bytes={}", vec!["0-0"; 25_000].join(","));
        assert_eq!(p(&huge, 10), Err(RangeError::TooLong));
        let at_len = format!("bytes=0-0{}", " ".repeat(MAX_HEADER_LEN - 9));
        assert_eq!(p(&at_len, 10), part(0, 0));
        assert_eq!(RangeError::TooLong.code(), "range-too-long");
    }
}

//! Parsing ffmpeg's `-progress pipe:1` output into a fraction done.
//!
//! ffmpeg prints blocks of `key=value` lines; only the output timestamp and
//! the final `progress=end` matter for a progress bar.

/// One meaningful line of ffmpeg's `-progress` output.
#[derive(Debug, PartialEq)]
pub(crate) enum ProgressLine {
    /// Output timestamp reached, in microseconds.
    OutTimeUs(i64),
    /// `progress=end`: ffmpeg finished writing.
    End,
}

/// Parses one `key=value` line; everything irrelevant is `None`.
pub(crate) fn parse_progress_line(line: &str) -> Option<ProgressLine> {
    let (key, value) = line.trim().split_once('=')?;
    match key {
        // Despite the name, ffmpeg prints microseconds for out_time_ms too.
        "out_time_us" | "out_time_ms" => value.parse().ok().map(ProgressLine::OutTimeUs),
        "progress" if value == "end" => Some(ProgressLine::End),
        _ => None,
    }
}

/// Turns progress lines into a non-decreasing fraction, reporting only changes.
pub(crate) struct ProgressTracker {
    duration_s: f64,
    last: f64,
}

impl ProgressTracker {
    pub(crate) fn new(duration_s: f64) -> Self {
        ProgressTracker {
            duration_s,
            last: -1.0,
        }
    }

    /// Returns a new fraction to report, if this line advanced it.
    pub(crate) fn feed(&mut self, line: &str) -> Option<f64> {
        let fraction = match parse_progress_line(line)? {
            ProgressLine::End => 1.0,
            ProgressLine::OutTimeUs(us) if self.duration_s > 0.0 => {
                (us as f64 / 1e6 / self.duration_s).clamp(0.0, 1.0)
            }
            ProgressLine::OutTimeUs(_) => return None,
        };
        // ffmpeg may print an earlier time after a later one (the two keys,
        // or N/A at start); callers want a bar that never goes backwards.
        if fraction > self.last {
            self.last = fraction;
            Some(fraction)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_progress_lines() {
        assert_eq!(
            parse_progress_line("out_time_us=2500000"),
            Some(ProgressLine::OutTimeUs(2_500_000))
        );
        assert_eq!(
            parse_progress_line("out_time_ms=100"),
            Some(ProgressLine::OutTimeUs(100))
        );
        assert_eq!(parse_progress_line("out_time_us=N/A"), None);
        assert_eq!(parse_progress_line("progress=continue"), None);
        assert_eq!(parse_progress_line("progress=end"), Some(ProgressLine::End));
        assert_eq!(parse_progress_line("frame=12"), None);
        assert_eq!(parse_progress_line("garbage"), None);
    }

    #[test]
    fn tracker_is_monotonic_and_clamped() {
        let mut t = ProgressTracker::new(10.0);
        assert_eq!(t.feed("out_time_us=-23000"), Some(0.0));
        assert_eq!(t.feed("out_time_us=5000000"), Some(0.5));
        assert_eq!(t.feed("out_time_ms=5000000"), None);
        assert_eq!(t.feed("out_time_us=4000000"), None);
        assert_eq!(t.feed("out_time_us=50000000"), Some(1.0));
        assert_eq!(t.feed("progress=end"), None);
        let mut unknown = ProgressTracker::new(0.0);
        assert_eq!(unknown.feed("out_time_us=5"), None);
        assert_eq!(unknown.feed("progress=end"), Some(1.0));
    }
}

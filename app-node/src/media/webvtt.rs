//! WebVTT text shared by subtitles and storyboard thumbnails.

/// A WebVTT timestamp, `HH:MM:SS.mmm`.
pub fn vtt_time(ms: u64) -> String {
    let s = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ms % 1000
    )
}

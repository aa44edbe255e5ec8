//! Where a video's subtitle files live under its prefix, and how they are
//! announced in the master playlist; shared by ingest and uploads.

use crate::catalog::Subtitle;
use crate::media::SubtitleRendition;

/// Path (under the video prefix) of a track's WebVTT file.
pub fn vtt_path(lang: &str) -> String {
    format!("subs/{lang}.vtt")
}

/// Path (under the video prefix) of a track's HLS playlist.
pub fn playlist_path(lang: &str) -> String {
    format!("subs/{lang}.m3u8")
}

/// The master's subtitle group for `subs`; none is on by default, the
/// viewer's remembered choice decides.
pub fn renditions(subs: &[Subtitle]) -> Vec<SubtitleRendition> {
    subs.iter()
        .map(|s| SubtitleRendition {
            language: s.lang.clone(),
            name: s.label.clone(),
            uri: playlist_path(&s.lang),
            default: false,
        })
        .collect()
}

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

/// Paths of an uploaded track's WebVTT file and playlist, named after their
/// content: a replaced track gets new names, so the catalog row always
/// points at a matching pair however uploads interleave, and caches never
/// serve the old text under the new row.
pub fn uploaded_paths(lang: &str, tag: &str) -> (String, String) {
    (
        format!("subs/{lang}-{tag}.vtt"),
        format!("subs/{lang}-{tag}.m3u8"),
    )
}

/// The playlist that goes with a stored WebVTT path.
pub fn playlist_of(vtt: &str) -> String {
    match vtt.strip_suffix(".vtt") {
        Some(stem) => format!("{stem}.m3u8"),
        None => format!("{vtt}.m3u8"),
    }
}

/// The master's subtitle group for `subs`; none is on by default, the
/// viewer's remembered choice decides.
pub fn renditions(subs: &[Subtitle]) -> Vec<SubtitleRendition> {
    subs.iter()
        .map(|s| SubtitleRendition {
            language: s.lang.clone(),
            name: s.label.clone(),
            uri: playlist_of(&s.path),
            default: false,
        })
        .collect()
}

//! Reading back what ffmpeg's HLS muxer wrote: media playlists, segment
//! sizes, measured bitrates, and normalising init segment names.

use std::path::Path;

use super::error::MediaError;

/// One `#EXTINF` entry of a media playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Duration from `#EXTINF`, seconds.
    pub duration_s: f64,
    /// URI relative to the playlist.
    pub uri: String,
}

/// The parts of a media playlist Reel cares about.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaPlaylist {
    /// `#EXT-X-MAP` URI, if any.
    pub init_uri: Option<String>,
    /// Segments in order.
    pub segments: Vec<Segment>,
}

/// Parses a media playlist; unknown tags are ignored.
pub fn parse_media_playlist(text: &str) -> MediaPlaylist {
    let mut out = MediaPlaylist::default();
    let mut pending: Option<f64> = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            let dur = rest.split(',').next().unwrap_or("").trim();
            pending = dur.parse().ok();
        } else if let Some(rest) = line.strip_prefix("#EXT-X-MAP:") {
            out.init_uri = attribute(rest, "URI");
        } else if !line.starts_with('#') {
            if let Some(duration_s) = pending.take() {
                out.segments.push(Segment {
                    duration_s,
                    uri: line.to_string(),
                });
            }
        }
    }
    out
}

/// Whether a media playlist is complete (`#EXT-X-ENDLIST`): it will never
/// change again.
pub fn has_ended(text: &[u8]) -> bool {
    text.windows(ENDLIST.len()).any(|w| w == ENDLIST.as_bytes())
}

const ENDLIST: &str = "#EXT-X-ENDLIST";

/// The form of a rendition's playlist that viewers are given while the
/// ladder is encoded and after: ffmpeg's EVENT playlist with the init
/// segment under its fixed name (`init.mp4`, see [`normalize_init`]) and
/// `#EXT-X-START:TIME-OFFSET=0`, so players start at the beginning rather
/// than at the live edge. Only whole lines are kept, so a playlist read
/// while being written never names half a file name. Applying it twice
/// changes nothing, and a playlist that grew by appended segments grows
/// the same way here, as the HLS rules for EVENT playlists require.
pub fn viewer_form(text: &str) -> String {
    let whole = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    let init = parse_media_playlist(whole).init_uri;
    let mut out = String::with_capacity(whole.len() + 32);
    for line in whole.lines() {
        if line.starts_with("#EXT-X-START:") {
            continue;
        }
        match (&init, line.strip_prefix("#EXT-X-MAP:")) {
            (Some(uri), Some(_)) if !uri.contains('/') => {
                out.push_str(&line.replace(&format!("URI=\"{uri}\""), "URI=\"init.mp4\""));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
        if line.starts_with("#EXT-X-VERSION:") {
            out.push_str("#EXT-X-START:TIME-OFFSET=0\n");
        }
    }
    out
}

/// Value of a quoted attribute in an attribute list such as `URI="x"`.
fn attribute(list: &str, name: &str) -> Option<String> {
    let start = list.find(&format!("{name}=\""))? + name.len() + 2;
    let len = list[start..].find('"')?;
    Some(list[start..start + len].to_string())
}

/// Measured bitrates of one rendition, bits per second.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Bitrates {
    /// Highest per-segment bitrate.
    pub peak_bps: u64,
    /// Segment bytes × 8 over total duration (init segment excluded, since
    /// it is fetched once per session rather than streamed).
    pub average_bps: u64,
}

/// Segments shorter than this are left out of the peak: a tail segment of a
/// few milliseconds is mostly container overhead and would report an absurd
/// rate no player ever sustains.
const MIN_PEAK_SEGMENT_S: f64 = 1.0;

/// Computes bitrates from `(duration_s, bytes)` pairs.
pub fn bitrates(segments: &[(f64, u64)]) -> Bitrates {
    let total_s: f64 = segments.iter().map(|s| s.0).sum();
    let total_bytes: u64 = segments.iter().map(|s| s.1).sum();
    let rate = |dur: f64, bytes: u64| {
        if dur > 0.0 {
            (bytes as f64 * 8.0 / dur).ceil() as u64
        } else {
            0
        }
    };
    let peak_over = |min: f64| {
        segments
            .iter()
            .filter(|s| s.0 >= min)
            .map(|s| rate(s.0, s.1))
            .max()
    };
    let average_bps = rate(total_s, total_bytes);
    let peak_bps = peak_over(MIN_PEAK_SEGMENT_S)
        .or_else(|| peak_over(0.0))
        .unwrap_or(0)
        .max(average_bps);
    Bitrates {
        peak_bps,
        average_bps,
    }
}

/// Reads `<dir>/index.m3u8` and measures its segment files.
pub async fn measure_rendition(dir: &Path) -> Result<Bitrates, MediaError> {
    let playlist = read_playlist(dir).await?;
    let mut sizes = Vec::with_capacity(playlist.segments.len());
    for seg in &playlist.segments {
        let path = dir.join(&seg.uri);
        let meta = tokio::fs::metadata(&path)
            .await
            .map_err(|e| MediaError::io(format!("measuring {}", path.display()), e))?;
        sizes.push((seg.duration_s, meta.len()));
    }
    Ok(bitrates(&sizes))
}

async fn read_playlist(dir: &Path) -> Result<MediaPlaylist, MediaError> {
    let path = dir.join("index.m3u8");
    let text = tokio::fs::read_to_string(&path)
        .await
        .map_err(|e| MediaError::io(format!("reading {}", path.display()), e))?;
    Ok(parse_media_playlist(&text))
}

/// Renames the init segment to `init.mp4` and points the playlist at it.
///
/// With several variants ffmpeg suffixes the init name with the variant
/// index (`init_3.mp4`); a fixed name keeps the on-disk layout predictable
/// for the HTTP layer and for cleanup.
pub async fn normalize_init(dir: &Path) -> Result<(), MediaError> {
    let path = dir.join("index.m3u8");
    let text = tokio::fs::read_to_string(&path)
        .await
        .map_err(|e| MediaError::io(format!("reading {}", path.display()), e))?;
    let Some(current) = parse_media_playlist(&text).init_uri else {
        return Ok(());
    };
    if current == "init.mp4" {
        return Ok(());
    }
    // Only plain file names are expected; anything else is left untouched.
    if current.contains('/') || current.contains("..") {
        return Ok(());
    }
    let (from, to) = (dir.join(&current), dir.join("init.mp4"));
    tokio::fs::rename(&from, &to)
        .await
        .map_err(|e| MediaError::io(format!("renaming {}", from.display()), e))?;
    let rewritten = text.replace(
        &format!("#EXT-X-MAP:URI=\"{current}\""),
        "#EXT-X-MAP:URI=\"init.mp4\"",
    );
    write_atomic(&path, rewritten.as_bytes()).await
}

/// Writes via a temporary sibling and rename so readers never see half a file.
pub async fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), MediaError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    tokio::fs::write(&tmp, bytes)
        .await
        .map_err(|e| MediaError::io(format!("writing {}", path.display()), e))?;
    tokio::fs::rename(&tmp, path)
        .await
        .map_err(|e| MediaError::io(format!("renaming into {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAYLIST: &str = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n\
        #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n\
        #EXT-X-MAP:URI=\"init_2.mp4\"\n#EXTINF:4.000000,\nseg_00000.m4s\n\
        #EXTINF:2.500000,\nseg_00001.m4s\n#EXT-X-ENDLIST\n";

    #[test]
    fn parses_segments_and_map() {
        let p = parse_media_playlist(PLAYLIST);
        assert_eq!(p.init_uri.as_deref(), Some("init_2.mp4"));
        assert_eq!(
            p.segments,
            vec![
                Segment {
                    duration_s: 4.0,
                    uri: "seg_00000.m4s".into()
                },
                Segment {
                    duration_s: 2.5,
                    uri: "seg_00001.m4s".into()
                },
            ]
        );
    }

    #[test]
    fn the_viewer_form_starts_at_zero_names_init_mp4_and_keeps_whole_lines() {
        let growing = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n\
            #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-INDEPENDENT-SEGMENTS\n\
            #EXT-X-MAP:URI=\"init_2.mp4\"\n#EXTINF:4.000000,\nseg_00000.m4s\n#EXTINF:4.0";
        let v = viewer_form(growing);
        assert!(
            v.contains("#EXT-X-VERSION:7\n#EXT-X-START:TIME-OFFSET=0\n"),
            "{v}"
        );
        assert!(v.contains("#EXT-X-MAP:URI=\"init.mp4\"\n"), "{v}");
        assert!(
            v.ends_with("seg_00000.m4s\n"),
            "a half-written line is left out: {v}"
        );
        assert_eq!(viewer_form(&v), v, "idempotent");
        assert!(!has_ended(v.as_bytes()));
        let p = parse_media_playlist(&v);
        assert_eq!(p.segments.len(), 1);
        assert_eq!(p.init_uri.as_deref(), Some("init.mp4"));
        // Grown by one segment and ended: the old form is a prefix of the new.
        let done = format!("{growing}00000,\nseg_00001.m4s\n#EXT-X-ENDLIST\n");
        let w = viewer_form(&done);
        assert!(w.starts_with(&v), "{w}");
        assert!(has_ended(w.as_bytes()));
        assert_eq!(parse_media_playlist(&w).segments.len(), 2);
    }

    #[test]
    fn bitrate_math() {
        // 4 s of 500 kB then 2 s of 500 kB: peak 2 Mb/s, average 1.333 Mb/s.
        let b = bitrates(&[(4.0, 500_000), (2.0, 500_000)]);
        assert_eq!(b.peak_bps, 2_000_000);
        assert_eq!(b.average_bps, 1_333_334);
        // A 30 ms tail does not define the peak.
        let b = bitrates(&[(4.0, 64_000), (0.03, 100)]);
        assert_eq!(b.peak_bps, 128_000);
        // Only tiny segments: fall back to them rather than report zero.
        let b = bitrates(&[(0.5, 1000)]);
        assert_eq!(b.peak_bps, 16_000);
        assert_eq!(bitrates(&[]), Bitrates::default());
    }

    #[tokio::test]
    async fn renames_init_and_measures() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("index.m3u8"), PLAYLIST).unwrap();
        std::fs::write(d.join("init_2.mp4"), b"init").unwrap();
        std::fs::write(d.join("seg_00000.m4s"), vec![0u8; 1000]).unwrap();
        std::fs::write(d.join("seg_00001.m4s"), vec![0u8; 1000]).unwrap();
        normalize_init(d).await.unwrap();
        assert!(d.join("init.mp4").exists());
        assert!(!d.join("init_2.mp4").exists());
        let text = std::fs::read_to_string(d.join("index.m3u8")).unwrap();
        assert!(text.contains("#EXT-X-MAP:URI=\"init.mp4\""), "{text}");
        // Idempotent.
        normalize_init(d).await.unwrap();
        let b = measure_rendition(d).await.unwrap();
        assert_eq!(b.peak_bps, 3200);
        assert_eq!(b.average_bps, 2462);
    }
}

//! The parts of HLS playlists a player needs: the variants and the audio
//! rendition of a master playlist, and the init segment and segments of a
//! media playlist. Unknown tags are ignored, as players do.

use url::Url;

use crate::LoadgenError;

/// One `#EXT-X-STREAM-INF` variant.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// Peak bits per second (`BANDWIDTH`).
    pub bandwidth: u64,
    /// `RESOLUTION` as written (`1280x720`), empty when absent.
    pub resolution: String,
    /// Height in pixels from `RESOLUTION`, 0 when absent.
    pub height: u32,
    /// The media playlist, resolved against the master's URL.
    pub url: Url,
}

impl Variant {
    /// A short name for reports: `720p` from the resolution, else the
    /// bandwidth in kbit/s.
    pub fn name(&self) -> String {
        if self.height > 0 {
            format!("{}p", self.height)
        } else {
            format!("{}k", self.bandwidth / 1000)
        }
    }
}

/// A parsed master playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Master {
    /// Variants, lowest bandwidth first.
    pub variants: Vec<Variant>,
    /// The default audio rendition's media playlist, if audio is separate.
    pub audio: Option<Url>,
}

/// One media segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// `#EXTINF` duration in seconds.
    pub duration_s: f64,
    /// Resolved URL.
    pub url: Url,
}

/// A parsed media playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Media {
    /// `#EXT-X-MAP` init segment, resolved.
    pub init: Option<Url>,
    /// Segments in playback order.
    pub segments: Vec<Segment>,
}

/// Value of `KEY=` in an attribute list; quoted values lose their quotes.
fn attr<'a>(attrs: &'a str, key: &str) -> Option<&'a str> {
    let mut rest = attrs;
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=')?;
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], q[end + 1..].trim_start_matches(','))
        } else {
            match after.split_once(',') {
                Some((v, n)) => (v, n),
                None => (after, ""),
            }
        };
        if name.trim() == key {
            return Some(value);
        }
        rest = next;
    }
    None
}

fn resolve(base: &Url, uri: &str, what: &str) -> Result<Url, LoadgenError> {
    base.join(uri)
        .map_err(|e| LoadgenError::Playlist(format!("{what} URI {uri:?}: {e}")))
}

fn check_header(text: &str) -> Result<(), LoadgenError> {
    if text.trim_start_matches('\u{feff}').starts_with("#EXTM3U") {
        Ok(())
    } else {
        Err(LoadgenError::Playlist("no #EXTM3U header".into()))
    }
}

/// Parses a master playlist fetched from `base`.
pub fn parse_master(text: &str, base: &Url) -> Result<Master, LoadgenError> {
    check_header(text)?;
    let mut variants = Vec::new();
    let mut audio = None;
    let mut pending: Option<(u64, String)> = None;
    for line in text.lines().map(str::trim) {
        if let Some(attrs) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            let bw = attr(attrs, "BANDWIDTH")
                .and_then(|b| b.parse().ok())
                .ok_or_else(|| LoadgenError::Playlist("variant without BANDWIDTH".into()))?;
            pending = Some((bw, attr(attrs, "RESOLUTION").unwrap_or("").to_string()));
        } else if let Some(attrs) = line.strip_prefix("#EXT-X-MEDIA:") {
            let is_default = attr(attrs, "DEFAULT") == Some("YES") || audio.is_none();
            if attr(attrs, "TYPE") == Some("AUDIO") && is_default {
                if let Some(uri) = attr(attrs, "URI") {
                    audio = Some(resolve(base, uri, "audio")?);
                }
            }
        } else if !line.is_empty() && !line.starts_with('#') {
            if let Some((bandwidth, resolution)) = pending.take() {
                let height = resolution
                    .split_once('x')
                    .and_then(|(_, h)| h.parse().ok())
                    .unwrap_or(0);
                variants.push(Variant {
                    bandwidth,
                    resolution,
                    height,
                    url: resolve(base, line, "variant")?,
                });
            }
        }
    }
    if variants.is_empty() {
        return Err(LoadgenError::Playlist(
            "master playlist has no variants".into(),
        ));
    }
    variants.sort_by_key(|v| (v.bandwidth, v.height));
    Ok(Master { variants, audio })
}

/// Parses a media playlist fetched from `base`.
pub fn parse_media(text: &str, base: &Url) -> Result<Media, LoadgenError> {
    check_header(text)?;
    let mut init = None;
    let mut segments = Vec::new();
    let mut duration = None;
    for line in text.lines().map(str::trim) {
        if let Some(attrs) = line.strip_prefix("#EXT-X-MAP:") {
            let uri = attr(attrs, "URI")
                .ok_or_else(|| LoadgenError::Playlist("#EXT-X-MAP without URI".into()))?;
            init = Some(resolve(base, uri, "init")?);
        } else if let Some(rest) = line.strip_prefix("#EXTINF:") {
            let secs = rest.split(',').next().unwrap_or("").trim();
            let d: f64 = secs
                .parse()
                .map_err(|_| LoadgenError::Playlist(format!("bad #EXTINF {secs:?}")))?;
            if !d.is_finite() || d <= 0.0 {
                return Err(LoadgenError::Playlist(format!("bad #EXTINF {secs:?}")));
            }
            duration = Some(d);
        } else if !line.is_empty() && !line.starts_with('#') {
            let duration_s = duration
                .take()
                .ok_or_else(|| LoadgenError::Playlist(format!("{line:?} has no #EXTINF")))?;
            segments.push(Segment {
                duration_s,
                url: resolve(base, line, "segment")?,
            });
        }
    }
    if segments.is_empty() {
        return Err(LoadgenError::Playlist(
            "media playlist has no segments".into(),
        ));
    }
    Ok(Media { init, segments })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("http://127.0.0.1:8080/media/abc/v0123456789ab/master.m3u8").unwrap()
    }

    const MASTER: &str = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\
        #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"main, stereo\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio/index.m3u8\"\n\
        #EXT-X-STREAM-INF:BANDWIDTH=2800000,AVERAGE-BANDWIDTH=2000000,RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\",FRAME-RATE=30.000,AUDIO=\"aud\"\n\
        720p/index.m3u8\n\
        #EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=426x240,CODECS=\"avc1.64001f\"\n\
        240p/index.m3u8\n";

    #[test]
    fn master_variants_sorted_and_resolved() {
        let m = parse_master(MASTER, &base()).unwrap();
        assert_eq!(m.variants.len(), 2);
        assert_eq!(m.variants[0].name(), "240p");
        assert_eq!(m.variants[1].name(), "720p");
        assert_eq!(m.variants[1].bandwidth, 2_800_000);
        assert_eq!(
            m.variants[1].url.as_str(),
            "http://127.0.0.1:8080/media/abc/v0123456789ab/720p/index.m3u8"
        );
        assert_eq!(
            m.audio.unwrap().path(),
            "/media/abc/v0123456789ab/audio/index.m3u8"
        );
    }

    #[test]
    fn quoted_commas_do_not_split_attributes() {
        let a = "NAME=\"a, b\",URI=\"x.m3u8\",TYPE=AUDIO";
        assert_eq!(attr(a, "NAME"), Some("a, b"));
        assert_eq!(attr(a, "URI"), Some("x.m3u8"));
        assert_eq!(attr(a, "TYPE"), Some("AUDIO"));
        assert_eq!(attr(a, "MISSING"), None);
    }

    #[test]
    fn media_playlist_with_map() {
        let text = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MAP:URI=\"init.mp4\"\n\
            #EXTINF:4.000000,\nseg_00000.m4s\n#EXTINF:2.5,\nseg_00001.m4s\n#EXT-X-ENDLIST\n";
        let b = Url::parse("http://h/media/abc/v0123456789ab/720p/index.m3u8").unwrap();
        let m = parse_media(text, &b).unwrap();
        assert_eq!(
            m.init.unwrap().path(),
            "/media/abc/v0123456789ab/720p/init.mp4"
        );
        assert_eq!(m.segments.len(), 2);
        assert_eq!(m.segments[1].duration_s, 2.5);
        assert!(m.segments[1].url.path().ends_with("720p/seg_00001.m4s"));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let b = base();
        for text in [
            "",
            "<html>",
            "#EXTM3U\n",
            "#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=1x1\na.m3u8\n",
            "#EXTM3U\nseg.m4s\n",
            "#EXTM3U\n#EXTINF:abc,\nseg.m4s\n",
            "#EXTM3U\n#EXTINF:-1,\nseg.m4s\n",
            "#EXTM3U\n#EXTINF:NaN,\nseg.m4s\n",
            "#EXTM3U\n#EXT-X-MAP:BYTERANGE=\"1@0\"\n#EXTINF:1,\ns.m4s\n",
        ] {
            assert!(parse_master(text, &b).is_err(), "{text:?}");
            assert!(parse_media(text, &b).is_err(), "{text:?}");
        }
        assert!(parse_media("#EXTM3U\n#EXTINF:1,\ns.m4s\n", &b).is_ok());
        assert!(attr("NAME=\"unterminated", "NAME").is_none());
    }
}

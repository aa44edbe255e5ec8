//! The multivariant (master) playlist, written by Reel rather than ffmpeg so
//! the attributes players rely on (measured bandwidths, exact codecs, frame
//! rate, audio and subtitle groups) are always present and correct.

use super::args::{AUDIO_GROUP, AUDIO_NAME};
use super::rendition::Rendition;

/// HLS `GROUP-ID` of subtitle renditions.
pub const SUBTITLE_GROUP: &str = "subs";

/// A WebVTT subtitle rendition.
#[derive(Debug, Clone, PartialEq)]
pub struct SubtitleRendition {
    /// BCP 47 / ISO 639 language, e.g. `en`.
    pub language: String,
    /// Human-readable name shown in the player menu.
    pub name: String,
    /// Subtitle media playlist URI relative to the master.
    pub uri: String,
    /// Whether players should select it without user action.
    pub default: bool,
}

/// Inputs of the master playlist.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MasterPlaylist {
    /// Video variants; rendered highest bandwidth first regardless of order.
    pub variants: Vec<Rendition>,
    /// Audio media playlist URI when there is an audio rendition.
    pub audio_uri: Option<String>,
    /// Audio channel count announced in `CHANNELS`.
    pub audio_channels: u32,
    /// Subtitle renditions; may be empty.
    pub subtitles: Vec<SubtitleRendition>,
}

impl MasterPlaylist {
    /// Renders the playlist text.
    pub fn render(&self) -> String {
        let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
        if let Some(uri) = &self.audio_uri {
            out.push_str(&format!(
                "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{AUDIO_GROUP}\",NAME=\"{AUDIO_NAME}\",\
                 DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"{}\",URI=\"{}\"\n",
                self.audio_channels,
                quoted(uri)
            ));
        }
        out.push_str(&subtitle_lines(&self.subtitles));
        let mut variants: Vec<&Rendition> = self.variants.iter().collect();
        variants.sort_by(|a, b| {
            b.bandwidth
                .cmp(&a.bandwidth)
                .then((b.width * b.height).cmp(&(a.width * a.height)))
        });
        for v in variants {
            out.push_str(&format!(
                "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},RESOLUTION={}x{},\
                 CODECS=\"{}\",FRAME-RATE={:.3}",
                v.bandwidth,
                v.average_bandwidth,
                v.width,
                v.height,
                quoted(&v.codecs),
                v.frame_rate
            ));
            if self.audio_uri.is_some() {
                out.push_str(&format!(",AUDIO=\"{AUDIO_GROUP}\""));
            }
            if !self.subtitles.is_empty() {
                out.push_str(&format!(",SUBTITLES=\"{SUBTITLE_GROUP}\""));
            }
            out.push('\n');
            out.push_str(&uri_line(&v.playlist));
            out.push('\n');
        }
        out
    }
}

/// Rewrites a rendered master playlist so it carries exactly `subs` as its
/// subtitle group: old subtitle renditions and `SUBTITLES=` references go,
/// new ones are added. Used when tracks change after publishing, when the
/// ladder facts behind the original text are no longer at hand.
pub fn replace_subtitles(master: &str, subs: &[SubtitleRendition]) -> String {
    let mut out = String::with_capacity(master.len() + subs.len() * 160);
    let mut media_done = false;
    let group_attr = format!(",SUBTITLES=\"{SUBTITLE_GROUP}\"");
    for line in master.lines() {
        if line.starts_with("#EXT-X-MEDIA:") && line.contains("TYPE=SUBTITLES") {
            continue;
        }
        if let Some(attrs) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            if !media_done {
                out.push_str(&subtitle_lines(subs));
                media_done = true;
            }
            out.push_str("#EXT-X-STREAM-INF:");
            out.push_str(&attrs.replace(&group_attr, ""));
            if !subs.is_empty() {
                out.push_str(&group_attr);
            }
            out.push('\n');
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn subtitle_lines(subs: &[SubtitleRendition]) -> String {
    subs.iter()
        .map(|sub| {
            format!(
                "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"{SUBTITLE_GROUP}\",NAME=\"{}\",\
                 LANGUAGE=\"{}\",DEFAULT={},AUTOSELECT=YES,URI=\"{}\"\n",
                quoted(&sub.name),
                quoted(&sub.language),
                if sub.default { "YES" } else { "NO" },
                quoted(&sub.uri)
            )
        })
        .collect()
}

/// Quoted-string attribute values may not contain `"` or line breaks
/// (RFC 8216 §4.2); names can come from user-supplied metadata.
fn quoted(value: &str) -> String {
    value
        .chars()
        .filter(|c| *c != '"' && !c.is_control())
        .collect()
}

/// A URI line must not start a tag or break the line.
fn uri_line(uri: &str) -> String {
    quoted(uri).trim_start_matches('#').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(name: &str, w: u32, h: u32, bw: u64) -> Rendition {
        Rendition {
            name: name.into(),
            bandwidth: bw,
            average_bandwidth: bw * 9 / 10,
            width: w,
            height: h,
            codecs: "avc1.64001f,mp4a.40.2".into(),
            frame_rate: 30.0,
            playlist: format!("{name}/index.m3u8"),
        }
    }

    #[test]
    fn renders_audio_group_and_sorted_variants() {
        let m = MasterPlaylist {
            variants: vec![
                variant("480p", 854, 480, 1_600_000),
                variant("720p", 1280, 720, 3_100_000),
            ],
            audio_uri: Some("audio/index.m3u8".into()),
            audio_channels: 2,
            subtitles: vec![],
        };
        assert_eq!(
            m.render(),
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"audio\",DEFAULT=YES,AUTOSELECT=YES,\
             CHANNELS=\"2\",URI=\"audio/index.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=3100000,AVERAGE-BANDWIDTH=2790000,RESOLUTION=1280x720,\
             CODECS=\"avc1.64001f,mp4a.40.2\",FRAME-RATE=30.000,AUDIO=\"aud\"\n\
             720p/index.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1600000,AVERAGE-BANDWIDTH=1440000,RESOLUTION=854x480,\
             CODECS=\"avc1.64001f,mp4a.40.2\",FRAME-RATE=30.000,AUDIO=\"aud\"\n\
             480p/index.m3u8\n"
        );
    }

    #[test]
    fn no_audio_means_no_group() {
        let mut v = variant("240p", 426, 240, 450_000);
        v.codecs = "avc1.64001e".into();
        v.frame_rate = 30000.0 / 1001.0;
        let text = MasterPlaylist {
            variants: vec![v],
            ..Default::default()
        }
        .render();
        assert!(!text.contains("TYPE=AUDIO"));
        assert!(!text.contains("AUDIO="));
        assert!(text.contains("CODECS=\"avc1.64001e\",FRAME-RATE=29.970\n240p/index.m3u8"));
    }

    #[test]
    fn replacing_subtitles_matches_a_fresh_render() {
        let sub = |l: &str| SubtitleRendition {
            language: l.into(),
            name: l.to_uppercase(),
            uri: format!("subs/{l}.m3u8"),
            default: false,
        };
        let mut m = MasterPlaylist {
            variants: vec![
                variant("360p", 640, 360, 900_000),
                variant("240p", 426, 240, 500_000),
            ],
            audio_uri: Some("audio/index.m3u8".into()),
            audio_channels: 2,
            subtitles: vec![sub("en")],
        };
        let before = m.render();
        m.subtitles = vec![sub("en"), sub("fr")];
        assert_eq!(replace_subtitles(&before, &m.subtitles), m.render());
        m.subtitles.clear();
        assert_eq!(replace_subtitles(&before, &[]), m.render());
    }

    #[test]
    fn subtitles_add_media_lines_and_group_reference() {
        let text = MasterPlaylist {
            variants: vec![variant("360p", 640, 360, 900_000)],
            audio_uri: Some("audio/index.m3u8".into()),
            audio_channels: 2,
            subtitles: vec![
                SubtitleRendition {
                    language: "en".into(),
                    name: "English \"CC\"".into(),
                    uri: "subs/en/index.m3u8".into(),
                    default: true,
                },
                SubtitleRendition {
                    language: "fr".into(),
                    name: "Français".into(),
                    uri: "subs/fr/index.m3u8".into(),
                    default: false,
                },
            ],
        }
        .render();
        assert!(text.contains(
            "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"English CC\",LANGUAGE=\"en\",\
             DEFAULT=YES,AUTOSELECT=YES,URI=\"subs/en/index.m3u8\"\n"
        ));
        assert!(text.contains(
            "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"Français\",LANGUAGE=\"fr\",\
             DEFAULT=NO,AUTOSELECT=YES,URI=\"subs/fr/index.m3u8\"\n"
        ));
        assert!(text.contains(",AUDIO=\"aud\",SUBTITLES=\"subs\"\n360p/index.m3u8\n"));
    }
}

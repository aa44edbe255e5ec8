//! WebVTT text and the one-segment HLS playlist that carries it.

use super::Cue;
use crate::media::webvtt::vtt_time;

/// Renders cues as a WebVTT file.
pub fn render_webvtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n");
    for c in cues {
        out.push('\n');
        out.push_str(&vtt_time(c.start_ms));
        out.push_str(" --> ");
        out.push_str(&vtt_time(c.end_ms));
        if !c.settings.is_empty() {
            out.push(' ');
            out.push_str(&c.settings);
        }
        out.push('\n');
        out.push_str(&c.text);
        out.push('\n');
    }
    out
}

/// HLS subtitle media playlist: the whole `.vtt` as a single segment lasting
/// the video's duration, which both hls.js and Safari accept.
pub fn media_playlist(vtt_uri: &str, duration_s: f64) -> String {
    let d = if duration_s.is_finite() && duration_s > 0.0 {
        duration_s
    } else {
        1.0
    };
    format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:{d:.3},\n{vtt_uri}\n#EXT-X-ENDLIST\n",
        d.ceil() as u64
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_cues_and_playlist() {
        let cues = [Cue {
            start_ms: 3_723_004,
            end_ms: 3_724_000,
            settings: "align:start".into(),
            text: "a\nb".into(),
        }];
        assert_eq!(
            render_webvtt(&cues),
            "WEBVTT\n\n01:02:03.004 --> 01:02:04.000 align:start\na\nb\n"
        );
        let p = media_playlist("en.vtt", 12.4);
        assert!(p.contains("#EXT-X-TARGETDURATION:13\n"));
        assert!(p.contains("#EXTINF:12.400,\nen.vtt\n#EXT-X-ENDLIST\n"));
    }
}

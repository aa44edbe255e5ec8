//! Subtitle files from uploaders and from sources, made into clean WebVTT.
//!
//! Pure text work, no ffmpeg: [`decode`] turns bytes (UTF-8, or UTF-16 with
//! a BOM) into text, [`parse`] reads SRT or WebVTT cues, [`sanitize`] keeps
//! only harmless cue markup, and [`render`] writes WebVTT and the small HLS
//! playlist that carries it. [`to_webvtt`] chains them.

// Everything here is used by the HTTP layer and the pipeline; keep it documented.
#![warn(missing_docs)]

mod decode;
mod error;
mod lang;
mod parse;
mod render;
mod sanitize;
mod tracks;

pub use crate::media::webvtt::vtt_time;
pub use decode::decode;
pub use error::SubtitleError;
pub use lang::{label_for, normalize_lang};
pub use parse::{parse, Cue};
pub use render::{media_playlist, render_webvtt};
pub use sanitize::{sanitize_settings, sanitize_text};
pub use tracks::{playlist_of, playlist_path, renditions, uploaded_paths, vtt_path};

/// Largest subtitle file accepted, in bytes; real files are far smaller.
pub const MAX_BYTES: usize = 2 * 1024 * 1024;

/// Decodes, parses and sanitises an SRT or WebVTT file into WebVTT text.
pub fn to_webvtt(bytes: &[u8]) -> Result<String, SubtitleError> {
    if bytes.len() > MAX_BYTES {
        return Err(SubtitleError::TooLarge { limit: MAX_BYTES });
    }
    let text = decode(bytes)?;
    let cues = parse(&text)?;
    Ok(render_webvtt(&cues))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srt_in_utf16_becomes_clean_webvtt() {
        let srt = "1\r\n00:00:01,500 --> 00:00:03,000\r\n<b>Hi</b> <script>x()</script>\r\n";
        let mut bytes = vec![0xFF, 0xFE];
        for u in srt.encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        let vtt = to_webvtt(&bytes).unwrap();
        assert_eq!(
            vtt,
            "WEBVTT\n\n00:00:01.500 --> 00:00:03.000\n<b>Hi</b> &lt;script&gt;x()&lt;/script&gt;\n"
        );
    }

    #[test]
    fn broken_file_names_the_line() {
        let e = to_webvtt(b"1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:xx --> 1\nbad\n")
            .unwrap_err();
        assert_eq!(e.code(), "bad-timestamp");
        assert!(e.to_string().contains("line 6"), "{e}");
    }

    /// Inputs that once broke the subtitle fuzz targets (`fixtures/fuzz-*`):
    /// each converts, and the WebVTT written reads back as the same file.
    #[test]
    fn fuzz_inputs_read_back_unchanged() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/subtitles/fixtures");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if !path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("fuzz-")
            {
                continue;
            }
            let vtt = to_webvtt(&std::fs::read(&path).unwrap()).unwrap();
            let again = render_webvtt(&parse(&vtt).unwrap());
            assert_eq!(vtt, again, "{}", path.display());
            assert!(
                !vtt.lines()
                    .skip(1)
                    .any(|l| l.contains("-->") && !l.starts_with(|c: char| c.is_ascii_digit())),
                "{vtt}"
            );
            seen += 1;
        }
        assert!(seen >= 1);
    }
}

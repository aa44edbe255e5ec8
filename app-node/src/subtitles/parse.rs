//! SRT and WebVTT cue parsing. Both are blocks separated by blank lines:
//! an optional identifier, a `start --> end` timing line, then text.

use super::sanitize::{sanitize_settings, sanitize_text};
use super::SubtitleError;

/// One cue, times in milliseconds, text and settings already sanitised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    /// Start time.
    pub start_ms: u64,
    /// End time, never before the start.
    pub end_ms: u64,
    /// WebVTT cue settings (`line:0 align:start`); empty for SRT.
    pub settings: String,
    /// Cue text, lines joined by `\n`, safe WebVTT markup only.
    pub text: String,
}

/// Parses SRT or WebVTT text (told apart by the `WEBVTT` signature).
pub fn parse(text: &str) -> Result<Vec<Cue>, SubtitleError> {
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = normalized.split('\n').collect();
    let vtt = lines.first().is_some_and(|l| {
        l.strip_prefix("WEBVTT")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
    });
    let mut i = 0;
    if vtt {
        // The header runs to the first blank line (X-TIMESTAMP-MAP and the like);
        // a clean header is written on output instead.
        while i < lines.len() && !lines[i].trim().is_empty() {
            i += 1;
        }
    }
    let mut cues = Vec::new();
    loop {
        while i < lines.len() && lines[i].trim().is_empty() {
            i += 1;
        }
        if i >= lines.len() {
            break;
        }
        let start = i;
        while i < lines.len() && !lines[i].trim().is_empty() {
            i += 1;
        }
        let block = &lines[start..i];
        if vtt && is_vtt_meta(block[0]) {
            continue;
        }
        let t = if block[0].contains("-->") {
            0
        } else if block.len() > 1 && block[1].contains("-->") {
            1
        } else {
            let line = start + if block.len() > 1 { 2 } else { 1 };
            return Err(SubtitleError::MissingTiming { line });
        };
        let (start_ms, end_ms, settings) = timing(block[t], start + t + 1)?;
        let text: Vec<String> = block[t + 1..].iter().map(|l| sanitize_text(l)).collect();
        let text = text.join("\n");
        if text.trim().is_empty() {
            continue;
        }
        cues.push(Cue {
            start_ms,
            end_ms,
            settings: if vtt {
                sanitize_settings(settings)
            } else {
                String::new()
            },
            text,
        });
    }
    if cues.is_empty() {
        return Err(SubtitleError::NoCues { line: lines.len() });
    }
    Ok(cues)
}

/// WebVTT blocks that are not cues: comments, style sheets and regions.
fn is_vtt_meta(first: &str) -> bool {
    first == "STYLE"
        || first == "REGION"
        || first
            .strip_prefix("NOTE")
            .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t']))
}

fn timing(line: &str, line_no: usize) -> Result<(u64, u64, &str), SubtitleError> {
    let bad = || SubtitleError::BadTimestamp {
        line: line_no,
        text: line.chars().take(60).collect(),
    };
    let (a, b) = line.split_once("-->").ok_or_else(bad)?;
    let b = b.trim_start();
    let (end_text, settings) = b.split_once([' ', '\t']).unwrap_or((b, ""));
    let start = timestamp(a.trim()).ok_or_else(bad)?;
    let end = timestamp(end_text).ok_or_else(bad)?;
    if end < start {
        return Err(bad());
    }
    Ok((start, end, settings.trim()))
}

/// `[H:]MM:SS(,|.)mmm` → milliseconds. SRT writes a comma, WebVTT a dot;
/// both are accepted, as are short fractions (`,5` = 500 ms).
fn timestamp(s: &str) -> Option<u64> {
    let (clock, frac) = s.split_once([',', '.'])?;
    if frac.is_empty() || frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ms: u64 = frac.parse::<u64>().ok()? * 10u64.pow(3 - frac.len() as u32);
    let parts: Vec<&str> = clock.split(':').collect();
    let num = |p: &str, max: u64| -> Option<u64> {
        let ok = !p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| p.parse().ok()).flatten().filter(|n| *n < max)
    };
    let (h, m, sec) = match parts.as_slice() {
        [m, s] => (0, num(m, 60)?, num(s, 60)?),
        [h, m, s] => {
            let hours = (!h.is_empty() && h.len() <= 4 && h.bytes().all(|b| b.is_ascii_digit()))
                .then(|| h.parse::<u64>().ok())
                .flatten()?;
            (hours, num(m, 60)?, num(s, 60)?)
        }
        _ => return None,
    };
    Some(((h * 60 + m) * 60 + sec) * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srt_blocks() {
        let cues = parse("1\n00:00:01,000 --> 00:00:02,500\nHello\n<i>there</i>\n\n2\n00:01:00,5 --> 00:01:01,000\nBye\n").unwrap();
        assert_eq!(cues.len(), 2);
        assert_eq!((cues[0].start_ms, cues[0].end_ms), (1000, 2500));
        assert_eq!(cues[0].text, "Hello\n<i>there</i>");
        assert_eq!(cues[1].start_ms, 60_500);
    }

    #[test]
    fn vtt_with_header_notes_ids_and_settings() {
        let text = "WEBVTT - title\nX-TIMESTAMP-MAP=LOCAL:00:00:00.000,MPEGTS:0\n\nNOTE a comment\nspanning\n\nSTYLE\n::cue { color: red }\n\nintro\n00:01.000 --> 00:02.000 align:start line:0 evil:<x>\n<v Roger>Hi &amp; bye\n";
        let cues = parse(text).unwrap();
        assert_eq!(cues.len(), 1);
        assert_eq!(cues[0].settings, "align:start line:0");
        assert_eq!(cues[0].text, "<v Roger>Hi &amp; bye");
    }

    #[test]
    fn errors_point_at_lines() {
        assert_eq!(
            parse("1\n00:00:01,000 -> 00:00:02,000\nx\n").unwrap_err(),
            SubtitleError::MissingTiming { line: 2 }
        );
        let e = parse("WEBVTT\n\n00:00:03.000 --> 00:00:02.000\nback\n").unwrap_err();
        assert!(
            matches!(e, SubtitleError::BadTimestamp { line: 3, .. }),
            "{e:?}"
        );
        let e = parse("1\n00:61:00,000 --> 00:62:00,000\nx\n").unwrap_err();
        assert!(matches!(e, SubtitleError::BadTimestamp { line: 2, .. }));
        assert_eq!(parse("WEBVTT\n\n").unwrap_err().code(), "no-cues");
        assert_eq!(
            parse("just some text\n").unwrap_err().code(),
            "missing-timing"
        );
    }
}

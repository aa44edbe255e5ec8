//! Bytes → text: UTF-8 (BOM optional), or UTF-16 LE/BE announced by a BOM.

use super::SubtitleError;

/// Decodes a subtitle file, refusing binary data with the line it starts on.
pub fn decode(bytes: &[u8]) -> Result<String, SubtitleError> {
    let text = if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        utf8(rest)?
    } else if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        utf16(rest, u16::from_le_bytes)?
    } else if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        utf16(rest, u16::from_be_bytes)?
    } else {
        utf8(bytes)?
    };
    // Control characters other than line breaks and tabs mean binary data
    // (a video picked by mistake) rather than subtitles.
    if let Some(pos) = text
        .char_indices()
        .find(|(_, c)| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\u{c}'))
        .map(|(i, _)| i)
    {
        return Err(SubtitleError::NotText {
            line: line_of(&text.as_bytes()[..pos]),
            why: "control characters",
        });
    }
    Ok(text)
}

fn utf8(bytes: &[u8]) -> Result<String, SubtitleError> {
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|e| SubtitleError::NotText {
            line: line_of(&bytes[..e.valid_up_to()]),
            why: "invalid UTF-8",
        })
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, SubtitleError> {
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|c| unit([c[0], *c.get(1).unwrap_or(&0)]))
        .collect();
    let mut out = String::with_capacity(units.len());
    for r in char::decode_utf16(units) {
        match r {
            Ok(c) => out.push(c),
            Err(_) => {
                return Err(SubtitleError::NotText {
                    line: line_of(out.as_bytes()),
                    why: "invalid UTF-16",
                })
            }
        }
    }
    if bytes.len() % 2 == 1 {
        return Err(SubtitleError::NotText {
            line: line_of(out.as_bytes()),
            why: "odd number of bytes for UTF-16",
        });
    }
    Ok(out)
}

/// 1-based line number of the position right after `before`.
fn line_of(before: &[u8]) -> usize {
    before.iter().filter(|b| **b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boms_and_encodings() {
        assert_eq!(decode(b"\xEF\xBB\xBFhi").unwrap(), "hi");
        assert_eq!(decode(b"\xFF\xFEh\0\xE9\0").unwrap(), "hé");
        assert_eq!(decode(b"\xFE\xFF\0h\0\xE9").unwrap(), "hé");
        assert_eq!(decode("plain é".as_bytes()).unwrap(), "plain é");
    }

    #[test]
    fn binary_is_refused_with_a_line() {
        let e = decode(b"a\nb\n\xFF\xD8\xFF").unwrap_err();
        assert_eq!(
            e,
            SubtitleError::NotText {
                line: 3,
                why: "invalid UTF-8"
            }
        );
        let e = decode(b"WEBVTT\n\n\0\0\0").unwrap_err();
        assert_eq!(e.code(), "not-text");
        assert!(e.to_string().starts_with("line 3:"));
        assert_eq!(decode(b"\xFF\xFEh\0\0").unwrap_err().code(), "not-text");
    }
}

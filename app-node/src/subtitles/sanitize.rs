//! Cue markup allow-list: `<b>`, `<i>`, `<u>` and `<v name>` survive, every
//! other tag becomes visible text, so a cue can never carry live markup.

/// Escapes a cue text line, keeping only allowed tags and valid entities.
pub fn sanitize_text(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 8);
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => match rest[1..].find(['>', '<']) {
                Some(n) if rest.as_bytes()[1 + n] == b'>' => {
                    let inner = &rest[1..1 + n];
                    match allowed_tag(inner) {
                        Some(tag) => out.push_str(&tag),
                        None => {
                            out.push_str("&lt;");
                            out.push_str(&escape(inner));
                            out.push_str("&gt;");
                        }
                    }
                    rest = &rest[n + 2..];
                    continue;
                }
                _ => out.push_str("&lt;"),
            },
            '>' => out.push_str("&gt;"),
            '&' => match entity_len(rest) {
                Some(n) => {
                    out.push_str(&rest[..n]);
                    rest = &rest[n..];
                    continue;
                }
                None => out.push_str("&amp;"),
            },
            c => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The canonical form of an allowed tag (classes dropped), or `None`.
fn allowed_tag(inner: &str) -> Option<String> {
    if let Some(name) = inner.strip_prefix('/') {
        return matches!(name.trim(), "b" | "i" | "u" | "v").then(|| format!("</{}>", name.trim()));
    }
    let (head, annotation) = inner
        .split_once([' ', '\t'])
        .map_or((inner, ""), |(h, a)| (h, a.trim()));
    let name = head.split('.').next().unwrap_or("");
    match name {
        "b" | "i" | "u" if annotation.is_empty() => Some(format!("<{name}>")),
        "v" if annotation.is_empty() => Some("<v>".into()),
        "v" => Some(format!("<v {}>", escape_annotation(annotation))),
        _ => None,
    }
}

/// Length of a character reference at the start of `s`, if it is one.
fn entity_len(s: &str) -> Option<usize> {
    const NAMED: &[&str] = &[
        "&amp;", "&lt;", "&gt;", "&nbsp;", "&lrm;", "&rlm;", "&quot;", "&apos;",
    ];
    if let Some(n) = NAMED.iter().find(|n| s.starts_with(**n)) {
        return Some(n.len());
    }
    let body = s.strip_prefix("&#")?;
    let (digits, hex) = match body.strip_prefix(['x', 'X']) {
        Some(h) => (h, true),
        None => (body, false),
    };
    let n = digits
        .bytes()
        .take_while(|b| {
            if hex {
                b.is_ascii_hexdigit()
            } else {
                b.is_ascii_digit()
            }
        })
        .count();
    (n > 0 && n <= 6 && digits.as_bytes().get(n) == Some(&b';'))
        .then(|| 2 + usize::from(hex) + n + 1)
}

/// A voice name as WebVTT reads it: character references stay (a file we
/// wrote reads back unchanged), a bare `&` is escaped, and a final `-` is
/// written `&#45;` so the tag can never end in `-->`, which would end the
/// cue in a browser.
fn escape_annotation(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        match c {
            '&' => match entity_len(rest) {
                Some(n) => {
                    out.push_str(&rest[..n]);
                    rest = &rest[n..];
                    continue;
                }
                None => out.push_str("&amp;"),
            },
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '-' if rest.len() == 1 => out.push_str("&#45;"),
            c => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Keeps well-formed WebVTT cue settings (`align:center`, `line:10%`), drops
/// anything else.
pub fn sanitize_settings(s: &str) -> String {
    s.split_whitespace()
        .filter(|tok| {
            tok.split_once(':').is_some_and(|(k, v)| {
                matches!(k, "vertical" | "line" | "position" | "size" | "align")
                    && !v.is_empty()
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"%.,-".contains(&b))
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_safe_tags() {
        assert_eq!(
            sanitize_text("<b>bold</b> <i.x>it</i> <u>u</u>"),
            "<b>bold</b> <i>it</i> <u>u</u>"
        );
        assert_eq!(
            sanitize_text("<v.loud Mary Ann>Hi</v>"),
            "<v Mary Ann>Hi</v>"
        );
        assert_eq!(
            sanitize_text("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(
            sanitize_text("<img src=x onerror=alert(1)>"),
            "&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(
            sanitize_text(r#"<font color="red">x</font>"#),
            r#"&lt;font color="red"&gt;x&lt;/font&gt;"#
        );
        assert_eq!(sanitize_text("<b onclick=x>y"), "&lt;b onclick=x&gt;y");
        assert_eq!(sanitize_text("<v a<b>c"), "&lt;v a<b>c");
    }

    #[test]
    fn escapes_stray_markup_and_keeps_entities() {
        assert_eq!(sanitize_text("a < b > c --> d"), "a &lt; b &gt; c --&gt; d");
        assert_eq!(
            sanitize_text("Tom & Jerry &amp; &#233; &#x41; &bogus;"),
            "Tom &amp; Jerry &amp; &#233; &#x41; &amp;bogus;"
        );
        assert_eq!(sanitize_text("trailing <"), "trailing &lt;");
    }

    /// Found by the `webvtt` fuzz target: `&` in a voice name was escaped
    /// again on every pass, so a file the node wrote changed when read back.
    #[test]
    fn fuzz_voice_names_keep_their_entities() {
        let once = sanitize_text("<v.loud Mary A&mt;i>/v>");
        assert_eq!(once, "<v Mary A&amp;mt;i>/v&gt;");
        assert_eq!(sanitize_text(&once), once);
        assert_eq!(sanitize_text("<v Tom &amp; Jerry>"), "<v Tom &amp; Jerry>");
    }

    /// A voice name ending in `--` must not put `-->` in cue text: WebVTT
    /// parsers end the cue there and read the line as a new timing line.
    #[test]
    fn voice_tags_never_close_with_an_arrow() {
        let out = sanitize_text("<v a-->00:00:00.000 --> 00:09:00.000");
        assert!(!out.contains("-->"), "{out}");
        assert_eq!(sanitize_text(&out), out);
        assert_eq!(sanitize_text("<v Jean-Luc>"), "<v Jean-Luc>");
    }

    #[test]
    fn settings() {
        assert_eq!(
            sanitize_settings("align:start line:0 x:1 position:10%"),
            "align:start line:0 position:10%"
        );
        assert_eq!(sanitize_settings("line:<b>"), "");
    }
}

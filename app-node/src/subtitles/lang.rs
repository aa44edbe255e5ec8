//! Language tags of subtitle tracks.

/// Normalises a BCP-47-like tag (`en`, `pt-BR`, `zh-Hant-TW`): a 2–3 letter
/// language, then up to four 1–8 character alphanumeric subtags. `None` if
/// it does not look like one; the result is safe in file names and keys.
pub fn normalize_lang(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.len() > 35 {
        return None;
    }
    let mut parts = raw.split(['-', '_']);
    let primary = parts.next()?;
    if !(2..=3).contains(&primary.len()) || !primary.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let mut out = primary.to_ascii_lowercase();
    for (i, sub) in parts.enumerate() {
        let ok =
            i < 4 && (1..=8).contains(&sub.len()) && sub.bytes().all(|b| b.is_ascii_alphanumeric());
        if !ok {
            return None;
        }
        out.push('-');
        // Conventional casing: regions upper, scripts title, others lower.
        match sub.len() {
            2 if sub.bytes().all(|b| b.is_ascii_alphabetic()) => {
                out.push_str(&sub.to_ascii_uppercase())
            }
            4 if sub.bytes().all(|b| b.is_ascii_alphabetic()) => {
                out.push_str(&sub[..1].to_ascii_uppercase());
                out.push_str(&sub[1..].to_ascii_lowercase());
            }
            _ => out.push_str(&sub.to_ascii_lowercase()),
        }
    }
    Some(out)
}

/// A readable menu label for common language tags, else the tag itself.
pub fn label_for(lang: &str) -> String {
    let primary = lang.split('-').next().unwrap_or(lang);
    match primary {
        "en" | "eng" => "English",
        "fr" | "fre" | "fra" => "Français",
        "de" | "ger" | "deu" => "Deutsch",
        "es" | "spa" => "Español",
        "it" | "ita" => "Italiano",
        "pt" | "por" => "Português",
        "nl" | "nld" | "dut" => "Nederlands",
        "ja" | "jpn" => "日本語",
        "zh" | "zho" | "chi" => "中文",
        _ => return lang.to_string(),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert_eq!(normalize_lang("EN").as_deref(), Some("en"));
        assert_eq!(normalize_lang("pt_br").as_deref(), Some("pt-BR"));
        assert_eq!(normalize_lang("zh-hant-tw").as_deref(), Some("zh-Hant-TW"));
        assert_eq!(normalize_lang("es-419").as_deref(), Some("es-419"));
        for bad in [
            "",
            "e",
            "english",
            "en-",
            "../x",
            "en/../x",
            "en-toolongsubtag",
            "1a",
        ] {
            assert_eq!(normalize_lang(bad), None, "{bad}");
        }
        assert_eq!(label_for("en-GB"), "English");
        assert_eq!(label_for("xx"), "xx");
    }
}

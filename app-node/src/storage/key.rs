//! Storage key validation, the one gate against path traversal.

use super::{Result, StorageError};

/// Accepts `a/b/c.ext` made of `[A-Za-z0-9._-]` segments that do not start
/// with a dot; refuses everything else (`..`, absolute paths, empty parts).
pub fn validate_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && !seg.starts_with('.')
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        });
    if ok {
        Ok(())
    } else {
        Err(StorageError::BadKey(key.chars().take(100).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::validate_key;

    #[test]
    fn refuses_traversal_and_hidden_paths() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            ".staging/x",
            "a/.b",
            "a\\b",
            "a b",
            "a/",
            "%2e%2e",
        ] {
            assert!(validate_key(bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "0123456789abcdef/master.m3u8",
            "id/720p/seg_00001.m4s",
            "incoming/x.src",
        ] {
            assert!(validate_key(good).is_ok(), "{good:?} refused");
        }
    }
}

//! Storage key validation, the one gate against path traversal.

use std::path::{Path, PathBuf};

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

/// Regular files below `dir` as `(key below prefix, path)`. Dot-named
/// files and folders are skipped, as the local store never lists them
/// either; any other name that is not a valid key refuses the whole tree.
pub fn tree_keys(prefix: &str, dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let io = |e| StorageError::io(dir.display().to_string(), e);
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), prefix.to_string())];
    while let Some((folder, key_prefix)) = stack.pop() {
        for e in std::fs::read_dir(&folder).map_err(io)? {
            let e = e.map_err(io)?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            let key = format!("{key_prefix}/{name}");
            validate_key(&key)?;
            let ty = e.file_type().map_err(io)?;
            if ty.is_dir() {
                stack.push((e.path(), key));
            } else if ty.is_file() {
                out.push((key, e.path()));
            }
        }
    }
    Ok(out)
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

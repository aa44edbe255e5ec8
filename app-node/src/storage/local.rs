//! Media store on a local directory, shareable by several nodes on one machine.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use rand::Rng;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::{validate_key, ByteStream, MediaStore, ObjectInfo, Result, StorageError};

/// Directory-backed store. `.staging` and `.trash` below the root hold trees
/// being swapped in or out; their dot names keep them unreachable by key.
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// Creates the root (and its work folders) if needed.
    pub async fn open(root: &Path) -> Result<Self> {
        for d in [
            root.to_path_buf(),
            root.join(".staging"),
            root.join(".trash"),
        ] {
            tokio::fs::create_dir_all(&d)
                .await
                .map_err(|e| StorageError::io(d.display().to_string(), e))?;
        }
        Ok(LocalStore {
            root: root.to_path_buf(),
        })
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    fn scratch(&self, folder: &str, prefix: &str) -> PathBuf {
        let n: u64 = rand::thread_rng().gen();
        self.root.join(folder).join(format!("{prefix}-{n:016x}"))
    }
}

async fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    let mut stack = vec![(src.to_path_buf(), dst.to_path_buf())];
    while let Some((from, to)) = stack.pop() {
        tokio::fs::create_dir_all(&to).await?;
        let mut rd = tokio::fs::read_dir(&from).await?;
        while let Some(e) = rd.next_entry().await? {
            let ty = e.file_type().await?;
            let target = to.join(e.file_name());
            if ty.is_dir() {
                stack.push((e.path(), target));
            } else if ty.is_file() {
                tokio::fs::copy(e.path(), target).await?;
            }
        }
    }
    Ok(())
}

/// Flushes every file and directory of a tree to disk, so a rename that makes
/// it visible can never expose files a crash would have lost.
async fn sync_tree(root: &Path) -> std::io::Result<()> {
    let root = root.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir)? {
                let e = e?;
                let ty = e.file_type()?;
                if ty.is_dir() {
                    stack.push(e.path());
                } else if ty.is_file() {
                    std::fs::File::open(e.path())?.sync_all()?;
                }
            }
            std::fs::File::open(&dir)?.sync_all()?;
        }
        Ok(())
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Flushes a directory entry (after a rename or create inside it).
async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
        .await
        .map_err(std::io::Error::other)?
}

async fn sync_file(path: &Path) -> std::io::Result<()> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(path)?.sync_all())
        .await
        .map_err(std::io::Error::other)?
}

async fn remove_tree(p: &Path) -> std::io::Result<()> {
    match tokio::fs::remove_dir_all(p).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

impl LocalStore {
    /// Moves the tree `src` to `staging`, copying where a rename cannot
    /// cross file systems, and flushes it.
    async fn stage_tree(&self, src: &Path, staging: &Path) -> std::io::Result<()> {
        if tokio::fs::rename(src, staging).await.is_err() {
            copy_tree(src, staging).await?;
        }
        // A renamed tree keeps the time it was created (the start of a long
        // transcode); mark it fresh so the sweeper never takes it for one a
        // dead process left behind.
        std::fs::File::open(staging)?.set_modified(std::time::SystemTime::now())?;
        sync_tree(staging).await
    }

    /// Renames a flushed staging path to `dest` and flushes the parent.
    async fn flip(&self, staging: &Path, dest: &Path) -> std::io::Result<()> {
        let parent = dest.parent().unwrap_or(&self.root).to_path_buf();
        let new_parent = tokio::fs::metadata(&parent).await.is_err();
        tokio::fs::create_dir_all(&parent).await?;
        tokio::fs::rename(staging, dest).await?;
        sync_dir(&parent).await?;
        if new_parent {
            // The video's folder itself is new: its entry must be durable too.
            if let Some(grand) = parent.parent() {
                sync_dir(grand).await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl MediaStore for LocalStore {
    async fn ping(&self) -> Result<()> {
        // A missing root is an unavailable store, not a missing object.
        tokio::fs::metadata(&self.root)
            .await
            .map(|_| ())
            .map_err(|source| StorageError::Io {
                key: self.root.display().to_string(),
                source,
            })
    }

    async fn put_dir(&self, prefix: &str, dir: &Path) -> Result<()> {
        let dest = self.path(prefix)?;
        let staging = self.scratch(".staging", "tree");
        let io = |e| StorageError::io(prefix, e);
        let r = async {
            self.stage_tree(dir, &staging).await?;
            if tokio::fs::metadata(&dest).await.is_ok() {
                // Prefixes are never reused; refuse rather than merge.
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "the prefix is already published",
                ));
            }
            self.flip(&staging, &dest).await
        }
        .await;
        if r.is_err() {
            let _ = remove_tree(&staging).await;
        }
        r.map_err(io)
    }

    async fn put_file(&self, key: &str, src: &Path) -> Result<()> {
        let dest = self.path(key)?;
        let staging = self.scratch(".staging", "file");
        let r = async {
            tokio::fs::copy(src, &staging).await?;
            sync_file(&staging).await?;
            self.flip(&staging, &dest).await
        }
        .await;
        if r.is_err() {
            let _ = tokio::fs::remove_file(&staging).await;
        }
        r.map_err(|e| StorageError::io(key, e))
    }

    async fn adopt_file(&self, key: &str, src: &Path) -> Result<()> {
        let dest = self.path(key)?;
        let staging = self.scratch(".staging", "file");
        let r = async {
            if tokio::fs::rename(src, &staging).await.is_err() {
                // Another file system: one copy is unavoidable.
                tokio::fs::copy(src, &staging).await?;
            }
            sync_file(&staging).await?;
            self.flip(&staging, &dest).await
        }
        .await;
        let _ = tokio::fs::remove_file(src).await;
        if r.is_err() {
            let _ = tokio::fs::remove_file(&staging).await;
        }
        r.map_err(|e| StorageError::io(key, e))
    }

    async fn sweep_work_files(&self, age: Duration) -> Result<usize> {
        let mut removed = 0;
        for folder in [".staging", ".trash"] {
            removed += crate::tidy::remove_entries(&self.root.join(folder), Some(age)).await;
        }
        Ok(removed)
    }

    async fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let dest = self.path(key)?;
        let staging = self.scratch(".staging", "bytes");
        let r = async {
            let mut f = tokio::fs::File::create(&staging).await?;
            f.write_all(bytes).await?;
            f.sync_all().await?;
            drop(f);
            self.flip(&staging, &dest).await
        }
        .await;
        if r.is_err() {
            let _ = tokio::fs::remove_file(&staging).await;
        }
        r.map_err(|e| StorageError::io(key, e))
    }

    async fn get_bytes(&self, key: &str) -> Result<Vec<u8>> {
        let p = self.path(key)?;
        tokio::fs::read(&p)
            .await
            .map_err(|e| StorageError::io(key, e))
    }

    async fn fetch_to_file(&self, key: &str, dest: &Path) -> Result<()> {
        let src = self.path(key)?;
        tokio::fs::copy(&src, dest)
            .await
            .map(|_| ())
            .map_err(|e| StorageError::io(key, e))
    }

    async fn size(&self, key: &str) -> Result<Option<u64>> {
        let p = self.path(key)?;
        match tokio::fs::metadata(&p).await {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::io(key, e)),
        }
    }

    async fn read(&self, key: &str, start: u64, len: u64) -> Result<ByteStream> {
        let p = self.path(key)?;
        super::file_stream::open(p, start, len)
            .await
            .map_err(|e| StorageError::io(key, e))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let p = self.path(key)?;
        match tokio::fs::remove_file(&p).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StorageError::io(key, e)),
            _ => Ok(()),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<()> {
        let p = self.path(prefix)?;
        if tokio::fs::metadata(&p).await.is_err() {
            return Ok(());
        }
        let trash = self.scratch(".trash", "tree");
        let io = |e| StorageError::io(prefix, e);
        tokio::fs::rename(&p, &trash).await.map_err(io)?;
        remove_tree(&trash).await.map_err(io)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let start = if prefix.is_empty() {
            self.root.clone()
        } else {
            self.path(prefix)?
        };
        let root = self.root.clone();
        let found = tokio::task::spawn_blocking(move || list_tree(&root, &start))
            .await
            .map_err(|e| StorageError::io(prefix, std::io::Error::other(e)))?;
        found.map_err(|e| StorageError::io(prefix, e))
    }

    async fn presign_get(&self, key: &str, _expires: Duration) -> Result<Option<String>> {
        // Refused like every other call, though nothing is signed here.
        validate_key(key)?;
        Ok(None)
    }
}

/// Files below `start` as keys relative to `root`, skipping the dot folders
/// (staging and trash are not objects).
fn list_tree(root: &Path, start: &Path) -> std::io::Result<Vec<ObjectInfo>> {
    let mut out = Vec::new();
    let mut stack = vec![start.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for e in rd {
            let e = e?;
            if e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let ty = e.file_type()?;
            if ty.is_dir() {
                stack.push(e.path());
            } else if ty.is_file() {
                let rel = e.path();
                let rel = rel.strip_prefix(root).map_err(std::io::Error::other)?;
                out.push(ObjectInfo {
                    key: rel
                        .to_string_lossy()
                        .replace(std::path::MAIN_SEPARATOR, "/"),
                    size: e.metadata()?.len(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn put_dir_refuses_reuse_and_reads_ranges() {
        let root = tempfile::tempdir().unwrap();
        let store = LocalStore::open(root.path()).await.unwrap();
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir(src.path().join("720p")).unwrap();
        std::fs::write(src.path().join("720p/a.m4s"), b"0123456789").unwrap();
        store.put_dir("0123456789abcdef", src.path()).await.unwrap();
        let src2 = tempfile::tempdir().unwrap();
        std::fs::create_dir(src2.path().join("720p")).unwrap();
        std::fs::write(src2.path().join("720p/a.m4s"), b"abcdefghij").unwrap();
        assert!(store
            .put_dir("0123456789abcdef", src2.path())
            .await
            .is_err());
        let key = "0123456789abcdef/720p/a.m4s";
        assert_eq!(store.size(key).await.unwrap(), Some(10));
        let mut s = store.read(key, 2, 3).await.unwrap();
        let mut got = Vec::new();
        while let Some(c) = s.next().await {
            got.extend_from_slice(&c.unwrap());
        }
        assert_eq!(got, b"234");
        store.delete_prefix("0123456789abcdef").await.unwrap();
        assert_eq!(store.size(key).await.unwrap(), None);
        assert_eq!(
            std::fs::read_dir(root.path().join(".staging"))
                .unwrap()
                .count(),
            0
        );
        assert_eq!(
            std::fs::read_dir(root.path().join(".trash"))
                .unwrap()
                .count(),
            0
        );
        assert!(store.size("../etc/passwd").await.is_err());
        store
            .put_bytes("0123456789abcdef/subs/en.vtt", b"WEBVTT\n")
            .await
            .unwrap();
        store
            .put_bytes("0123456789abcdef/subs/en.vtt", b"WEBVTT\n\n")
            .await
            .unwrap();
        assert_eq!(
            store
                .get_bytes("0123456789abcdef/subs/en.vtt")
                .await
                .unwrap(),
            b"WEBVTT\n\n"
        );
        assert!(store.put_bytes("../x", b"").await.is_err());
        assert!(matches!(
            store.get_bytes("0123456789abcdef/none.vtt").await,
            Err(StorageError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn adopting_a_file_moves_it_without_a_copy() {
        use std::os::unix::fs::MetadataExt;
        let root = tempfile::tempdir().unwrap();
        let store = LocalStore::open(&root.path().join("media")).await.unwrap();
        let src = root.path().join("upload-1");
        std::fs::write(&src, b"a big upload").unwrap();
        let inode = std::fs::metadata(&src).unwrap().ino();
        store.adopt_file("incoming/x.src", &src).await.unwrap();
        assert!(!src.exists());
        let dest = root.path().join("media/incoming/x.src");
        assert_eq!(
            std::fs::metadata(&dest).unwrap().ino(),
            inode,
            "copied, not moved"
        );
        assert_eq!(std::fs::read(&dest).unwrap(), b"a big upload");
        assert_eq!(
            std::fs::read_dir(root.path().join("media/.staging"))
                .unwrap()
                .count(),
            0
        );
    }
}

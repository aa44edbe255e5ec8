//! Progressive publishing: the ladder's files go into the store while
//! ffmpeg is still writing them, so the video can be watched from the start
//! seconds after its encode began.
//!
//! ffmpeg rewrites each rendition's EVENT playlist (whole, by rename) after
//! every finished segment. A pass over the output folder reads each
//! playlist, stores the segments it names that are not stored yet (and the
//! init segment, under `init.mp4`), and only then stores the playlist in the
//! form viewers get ([`viewer_form`]): a stored playlist never names a
//! missing file, and every file appears in one step. Once every rendition
//! has a stored playlist with a segment, the planned master playlist is
//! stored and the caller is told the video is playable.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::media::hls::{parse_media_playlist, viewer_form};
use crate::media::transcode::MASTER_NAME;
use crate::storage::{MediaStore, StorageError};

/// How often the output folder is looked at.
const EVERY: Duration = Duration::from_millis(500);

/// What is published and from where.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Store prefix of the version: `{video}/{version}`.
    pub prefix: String,
    /// ffmpeg's output folder.
    pub out: PathBuf,
    /// Folders holding one media playlist each (rungs, then audio).
    pub renditions: Vec<String>,
    /// The master playlist over the planned renditions, stored once every
    /// rendition can be played.
    pub master: String,
}

/// A running publisher; [`Progressive::finish`] or [`Progressive::stop`]
/// ends it.
pub struct Progressive {
    stop: CancellationToken,
    task: Option<JoinHandle<Result<HashSet<String>, StorageError>>>,
}

impl Drop for Progressive {
    /// An attempt dropped mid-way (cancelled, lease lost) must not leave a
    /// publisher storing files behind it.
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl Progressive {
    /// Starts publishing `layout.out` under `layout.prefix`. The receiver
    /// fires once, when the video has become playable.
    pub fn start(store: Arc<dyn MediaStore>, layout: Layout) -> (Self, oneshot::Receiver<()>) {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let (tell, playable) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut state = Stored::default();
            let mut tell = Some(tell);
            loop {
                let stopping = tokio::select! {
                    _ = token.cancelled() => true,
                    _ = tokio::time::sleep(EVERY) => false,
                };
                // A failed pass (a store hiccup, or a playlist read while
                // ffmpeg renames its init segment at the end) stored no
                // playlist naming a missing file; the next pass tries
                // again. Only the last pass, after ffmpeg, fails the
                // attempt.
                let all_playable = match state.pass(store.as_ref(), &layout).await {
                    Ok(all) => all,
                    Err(e) if !stopping => {
                        tracing::warn!(prefix = %layout.prefix, "publishing pass failed, retrying: {e}");
                        false
                    }
                    Err(e) => return Err(e),
                };
                if all_playable && tell.is_some() {
                    let key = format!("{}/{MASTER_NAME}", layout.prefix);
                    store.put_bytes(&key, layout.master.as_bytes()).await?;
                    // The final master (measured bandwidths) replaces it.
                    if let Some(t) = tell.take() {
                        let _ = t.send(());
                    }
                }
                if stopping {
                    return Ok(state.keys());
                }
            }
        });
        let me = Progressive {
            stop,
            task: Some(task),
        };
        (me, playable)
    }

    /// After ffmpeg has finished: stores every segment and the final
    /// playlists (ended with `#EXT-X-ENDLIST`), then returns the keys
    /// stored, so that [`MediaStore::finish_dir`] sends only the rest (the
    /// measured master playlist, pictures, subtitles). If this future is
    /// dropped part-way, [`Progressive::stop`] can still end the task.
    pub async fn finish(&mut self) -> Result<HashSet<String>, StorageError> {
        self.stop.cancel();
        let Some(task) = self.task.as_mut() else {
            return Ok(HashSet::new());
        };
        let result = task.await;
        self.task = None;
        result.map_err(|e| StorageError::Io {
            key: "progressive publishing".into(),
            source: std::io::Error::other(e),
        })?
    }

    /// Ends the task and waits until it is gone, so nothing it was storing
    /// lands after the caller removes the version.
    pub async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

/// What has been stored so far.
#[derive(Default)]
struct Stored {
    /// Keys of stored segments and init segments.
    files: HashSet<String>,
    /// The text last stored for each playlist key.
    playlists: HashMap<String, String>,
}

impl Stored {
    /// One pass over every rendition; true when each has a stored playlist
    /// naming at least one segment.
    async fn pass(
        &mut self,
        store: &dyn MediaStore,
        layout: &Layout,
    ) -> Result<bool, StorageError> {
        let mut all = true;
        for name in &layout.renditions {
            let dir = layout.out.join(name);
            let raw = match tokio::fs::read_to_string(dir.join("index.m3u8")).await {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    all = false;
                    continue;
                }
                Err(source) => {
                    return Err(StorageError::Io {
                        key: dir.display().to_string(),
                        source,
                    })
                }
            };
            let prefix = format!("{}/{name}", layout.prefix);
            let shown = viewer_form(&raw);
            let playlist = parse_media_playlist(&shown);
            if let Some(init) = parse_media_playlist(&raw).init_uri {
                self.store_once(store, &dir, &init, &format!("{prefix}/init.mp4"))
                    .await?;
            }
            for seg in &playlist.segments {
                self.store_once(store, &dir, &seg.uri, &format!("{prefix}/{}", seg.uri))
                    .await?;
            }
            let key = format!("{prefix}/index.m3u8");
            if self.playlists.get(&key) != Some(&shown) {
                store.put_bytes(&key, shown.as_bytes()).await?;
                self.playlists.insert(key, shown);
            }
            all &= !playlist.segments.is_empty();
        }
        Ok(all)
    }

    /// Stores `dir/file` under `key` unless it was stored before.
    async fn store_once(
        &mut self,
        store: &dyn MediaStore,
        dir: &Path,
        file: &str,
        key: &str,
    ) -> Result<(), StorageError> {
        if self.files.contains(key) {
            return Ok(());
        }
        // ffmpeg names plain files next to its playlist; anything else is
        // not ours to publish.
        if file.contains('/') || file.starts_with('.') {
            return Err(StorageError::BadKey(file.chars().take(100).collect()));
        }
        store.put_file(key, &dir.join(file)).await?;
        self.files.insert(key.to_string());
        Ok(())
    }

    /// Every key stored.
    fn keys(self) -> HashSet<String> {
        let mut keys = self.files;
        keys.extend(self.playlists.into_keys());
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{ByteStream, LocalStore, ObjectInfo};
    use async_trait::async_trait;
    use std::sync::Mutex;

    /// A local store that checks, at the moment each playlist is stored,
    /// that every file it names is already there.
    struct Checking {
        inner: LocalStore,
        missing: Mutex<Vec<String>>,
        /// File stores still to refuse, as a flaky bucket would.
        refuse: std::sync::atomic::AtomicUsize,
    }

    impl Checking {
        async fn new(dir: &Path) -> Self {
            Checking {
                inner: LocalStore::open(dir).await.unwrap(),
                missing: Mutex::new(Vec::new()),
                refuse: Default::default(),
            }
        }
    }

    type R<T> = Result<T, StorageError>;

    #[async_trait]
    impl MediaStore for Checking {
        async fn ping(&self) -> R<()> {
            self.inner.ping().await
        }
        async fn put_dir(&self, prefix: &str, dir: &Path) -> R<()> {
            self.inner.put_dir(prefix, dir).await
        }
        async fn put_file(&self, key: &str, src: &Path) -> R<()> {
            use std::sync::atomic::Ordering::SeqCst;
            let refuse = self.refuse.load(SeqCst);
            if refuse > 0 {
                self.refuse.store(refuse - 1, SeqCst);
                return Err(StorageError::Io {
                    key: key.into(),
                    source: std::io::Error::other("refused"),
                });
            }
            self.inner.put_file(key, src).await
        }
        async fn put_bytes(&self, key: &str, bytes: &[u8]) -> R<()> {
            if let Some(dir) = key.strip_suffix("/index.m3u8") {
                let p = parse_media_playlist(std::str::from_utf8(bytes).unwrap());
                let names = p.segments.into_iter().map(|s| s.uri).chain(p.init_uri);
                for name in names {
                    let k = format!("{dir}/{name}");
                    if self.inner.size(&k).await?.is_none() {
                        self.missing.lock().unwrap().push(k);
                    }
                }
            }
            self.inner.put_bytes(key, bytes).await
        }
        async fn get_bytes(&self, key: &str) -> R<Vec<u8>> {
            self.inner.get_bytes(key).await
        }
        async fn fetch_to_file(&self, key: &str, dest: &Path) -> R<()> {
            self.inner.fetch_to_file(key, dest).await
        }
        async fn size(&self, key: &str) -> R<Option<u64>> {
            self.inner.size(key).await
        }
        async fn read(&self, key: &str, start: u64, len: u64) -> R<ByteStream> {
            self.inner.read(key, start, len).await
        }
        async fn delete(&self, key: &str) -> R<()> {
            self.inner.delete(key).await
        }
        async fn delete_prefix(&self, prefix: &str) -> R<()> {
            self.inner.delete_prefix(prefix).await
        }
        async fn list(&self, prefix: &str) -> R<Vec<ObjectInfo>> {
            self.inner.list(prefix).await
        }
        async fn presign_get(&self, key: &str, expires: Duration) -> R<Option<String>> {
            self.inner.presign_get(key, expires).await
        }
    }

    const HEAD: &str = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n\
        #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-MAP:URI=\"init_0.mp4\"\n";

    /// A rendition folder as ffmpeg leaves it after its first segment.
    fn one_segment(dir: &Path) {
        write(dir, "init_0.mp4", "init");
        write(dir, "seg_00000.m4s", "zero");
        write(
            dir,
            "index.m3u8",
            &format!("{HEAD}#EXTINF:4.000000,\nseg_00000.m4s\n"),
        );
    }

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[tokio::test]
    async fn segments_go_before_the_playlists_that_name_them_and_the_master_waits_for_every_rendition(
    ) {
        let root = tempfile::tempdir().unwrap();
        let store = Checking::new(&root.path().join("store")).await;
        let out = root.path().join("out");
        let layout = Layout {
            prefix: "0123456789abcdef/v1".into(),
            out: out.clone(),
            renditions: vec!["720p".into(), "audio".into()],
            master: "#EXTM3U\n".into(),
        };
        let v = out.join("720p");
        write(&v, "init_0.mp4", "init");
        write(&v, "seg_00000.m4s", "zero");
        write(&v, "seg_00001.m4s", "one, still being written");
        write(
            &v,
            "index.m3u8",
            &format!("{HEAD}#EXTINF:4.000000,\nseg_00000.m4s\n"),
        );
        let mut p = Stored::default();
        assert!(!p.pass(&store, &layout).await.unwrap(), "no audio yet");
        let key = |k: &str| format!("0123456789abcdef/v1/{k}");
        let size = |k: &str| {
            std::fs::metadata(root.path().join("store").join(key(k)))
                .ok()
                .map(|m| m.len())
        };
        assert_eq!(size("720p/seg_00000.m4s"), Some(4));
        assert_eq!(size("720p/init.mp4"), Some(4));
        assert_eq!(
            size("720p/seg_00001.m4s"),
            None,
            "not named by the playlist yet"
        );
        let shown =
            String::from_utf8(store.get_bytes(&key("720p/index.m3u8")).await.unwrap()).unwrap();
        assert!(shown.contains("URI=\"init.mp4\"") && shown.contains("TIME-OFFSET=0"));

        write(
            &out.join("audio"),
            "index.m3u8",
            &format!("{HEAD}#EXTINF:4.000000,\nseg_00000.m4s\n"),
        );
        write(&out.join("audio"), "init_0.mp4", "i");
        write(&out.join("audio"), "seg_00000.m4s", "a");
        write(&v, "seg_00002.m4s", "two");
        write(
            &v,
            "index.m3u8",
            &format!("{HEAD}#EXTINF:4.000000,\nseg_00000.m4s\n#EXTINF:4.000000,\nseg_00001.m4s\n#EXTINF:4.000000,\nseg_00002.m4s\n"),
        );
        assert!(p.pass(&store, &layout).await.unwrap());
        assert_eq!(
            store.missing.lock().unwrap().clone(),
            Vec::<String>::new(),
            "a stored playlist named a file not stored yet"
        );
        // A playlist naming a file outside its folder is refused.
        write(
            &v,
            "index.m3u8",
            &format!("{HEAD}#EXTINF:4.000000,\n../../etc/passwd\n"),
        );
        assert!(p.pass(&store, &layout).await.is_err());
    }

    #[tokio::test]
    async fn the_publisher_tells_once_every_rendition_plays_and_stores_the_master_first() {
        let root = tempfile::tempdir().unwrap();
        let store: Arc<dyn MediaStore> =
            Arc::new(LocalStore::open(&root.path().join("store")).await.unwrap());
        let out = root.path().join("out");
        let layout = Layout {
            prefix: "0123456789abcdef/v1".into(),
            out: out.clone(),
            renditions: vec!["360p".into()],
            master: "#EXTM3U\n#planned\n".into(),
        };
        let (mut publisher, playable) = Progressive::start(store.clone(), layout);
        let v = out.join("360p");
        one_segment(&v);
        tokio::time::timeout(Duration::from_secs(10), playable)
            .await
            .expect("told in time")
            .unwrap();
        let master = store
            .get_bytes("0123456789abcdef/v1/master.m3u8")
            .await
            .unwrap();
        assert_eq!(master, b"#EXTM3U\n#planned\n");
        write(&v, "seg_00001.m4s", "one");
        write(
            &v,
            "index.m3u8",
            &format!("{HEAD}#EXTINF:4.000000,\nseg_00000.m4s\n#EXTINF:1.000000,\nseg_00001.m4s\n#EXT-X-ENDLIST\n"),
        );
        let keys = publisher.finish().await.unwrap();
        assert!(keys.contains("0123456789abcdef/v1/360p/seg_00001.m4s"));
        assert!(keys.contains("0123456789abcdef/v1/360p/index.m3u8"));
        let last = store
            .get_bytes("0123456789abcdef/v1/360p/index.m3u8")
            .await
            .unwrap();
        assert!(crate::media::hls::has_ended(&last));
    }

    #[tokio::test]
    async fn a_failed_store_is_tried_again_on_the_next_pass() {
        let root = tempfile::tempdir().unwrap();
        let store = Arc::new(Checking::new(&root.path().join("store")).await);
        store.refuse.store(2, std::sync::atomic::Ordering::SeqCst);
        let out = root.path().join("out");
        let v = out.join("360p");
        one_segment(&v);
        let layout = Layout {
            prefix: "0123456789abcdef/v1".into(),
            out,
            renditions: vec!["360p".into()],
            master: "#EXTM3U\n".into(),
        };
        let (mut publisher, playable) = Progressive::start(store.clone(), layout);
        tokio::time::timeout(Duration::from_secs(10), playable)
            .await
            .expect("playable despite two refused stores")
            .unwrap();
        assert!(store.missing.lock().unwrap().is_empty());
        assert!(publisher.finish().await.is_ok());
    }
}

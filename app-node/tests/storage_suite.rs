//! One storage suite, run against every backend: each case below takes a
//! [`Env`] and knows nothing of which store it got; [`suite!`] makes one
//! test per (backend, case): `local::CASE` on a temp directory and
//! `s3::CASE` on a real S3-compatible server (s3s-fs) on loopback.
//!
//! A case may ask what the backend promises (`signs_urls`), never which
//! backend it is.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reel_node::storage::{self, MediaStore, ObjectInfo, StorageError};
use sha2::{Digest, Sha256};

use common::s3::{self as s3h, S3Server};

/// Above the S3 store's 16 MiB multipart threshold and over two of its
/// 8 MiB ranged-GET chunks, not a multiple of either.
const LARGE: usize = 20 * 1024 * 1024 + 12_345;
/// How fast a store that cannot be reached must say so.
const PING_BOUND: Duration = Duration::from_secs(10);

/// A store to test plus what the cases need around it.
struct Env {
    store: Arc<dyn MediaStore>,
    /// Whether `presign_get` must give URLs.
    signs_urls: bool,
    /// Stores of the same kind that cannot work, named for messages.
    broken: Vec<(&'static str, Arc<dyn MediaStore>)>,
    /// Where cases make their source files.
    scratch: tempfile::TempDir,
    _data: Vec<tempfile::TempDir>,
    _server: Option<S3Server>,
    _silent: Option<std::net::TcpListener>,
}

impl Env {
    /// The local store, opened through `storage::open` like a node does.
    async fn local() -> Env {
        let data = tempfile::tempdir().unwrap();
        let store = storage::open(&common::test_config(data.path(), &[]))
            .await
            .unwrap();
        let gone = tempfile::tempdir().unwrap();
        let broken = storage::open(&common::test_config(gone.path(), &[]))
            .await
            .unwrap();
        std::fs::remove_dir_all(gone.path().join("media")).unwrap();
        Env {
            store,
            signs_urls: false,
            broken: vec![("a local store whose folder is gone", broken)],
            scratch: tempfile::tempdir().unwrap(),
            _data: vec![data, gone],
            _server: None,
            _silent: None,
        }
    }

    /// An S3 store on a fresh bucket of its own server.
    async fn s3() -> Env {
        let server = S3Server::start().await;
        let bucket = server.bucket().await;
        let data = tempfile::tempdir().unwrap();
        let store = storage::open(&server.config(data.path(), &bucket))
            .await
            .unwrap();
        let dead = common::test_config(
            data.path(),
            &pairs(&s3h::s3_pairs(
                &format!("http://127.0.0.1:{}", s3h::free_port()),
                &bucket,
            )),
        );
        let missing = server.config(data.path(), "no-such-bucket");
        // The kernel completes handshakes into the backlog of a listener
        // that never accepts: requests there hang until a timeout fires.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let hung = common::test_config(
            data.path(),
            &pairs(&s3h::s3_pairs(
                &format!("http://{}", silent.local_addr().unwrap()),
                &bucket,
            )),
        );
        Env {
            store,
            signs_urls: true,
            broken: vec![
                (
                    "an S3 endpoint nobody listens on",
                    storage::open(&dead).await.unwrap(),
                ),
                (
                    "an S3 bucket that does not exist",
                    storage::open(&missing).await.unwrap(),
                ),
                (
                    "an S3 endpoint that never answers",
                    storage::open(&hung).await.unwrap(),
                ),
            ],
            scratch: tempfile::tempdir().unwrap(),
            _data: vec![data],
            _server: Some(server),
            _silent: Some(silent),
        }
    }

    fn store(&self) -> &dyn MediaStore {
        self.store.as_ref()
    }

    /// Writes `bytes` to a new scratch file.
    fn file(&self, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = self.scratch.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Deterministic bytes that no compressor or dedup could shortcut
/// (xorshift64, eight bytes a step: fast even in a debug build).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn read_all(store: &dyn MediaStore, key: &str, start: u64, len: u64) -> Vec<u8> {
    let mut s = store.read(key, start, len).await.unwrap();
    let mut out = Vec::new();
    while let Some(piece) = s.next().await {
        out.extend_from_slice(&piece.unwrap());
    }
    out
}

fn info(key: &str, size: usize) -> ObjectInfo {
    ObjectInfo {
        key: key.into(),
        size: size as u64,
    }
}

// ---- the cases -------------------------------------------------------------

async fn bytes_round_trip_and_replace(env: Env) {
    let s = env.store();
    let key = "0123456789abcdef/subs/en.vtt";
    assert_eq!(s.size(key).await.unwrap(), None);
    assert!(matches!(
        s.get_bytes(key).await,
        Err(StorageError::NotFound(_))
    ));
    s.put_bytes(key, b"WEBVTT\n").await.unwrap();
    assert_eq!(s.get_bytes(key).await.unwrap(), b"WEBVTT\n");
    let longer = b"WEBVTT\n\n00:00.000 --> 00:01.000\nhi\n";
    s.put_bytes(key, longer).await.unwrap();
    assert_eq!(s.get_bytes(key).await.unwrap(), longer);
    assert_eq!(s.size(key).await.unwrap(), Some(longer.len() as u64));
    s.put_bytes("v/empty.vtt", b"").await.unwrap();
    assert_eq!(s.get_bytes("v/empty.vtt").await.unwrap(), b"");
    assert_eq!(s.size("v/empty.vtt").await.unwrap(), Some(0));
}

async fn put_file_small_empty_and_large(env: Env) {
    let s = env.store();
    let small = noise(1000, 1);
    s.put_file("v/poster.jpg", &env.file("small", &small))
        .await
        .unwrap();
    assert_eq!(s.get_bytes("v/poster.jpg").await.unwrap(), small);

    s.put_file("v/none.m4s", &env.file("empty", b""))
        .await
        .unwrap();
    assert_eq!(s.size("v/none.m4s").await.unwrap(), Some(0));
    assert!(read_all(s, "v/none.m4s", 0, 0).await.is_empty());

    let large = noise(LARGE, 2);
    let t = Instant::now();
    s.put_file("incoming/big.src", &env.file("large", &large))
        .await
        .unwrap();
    eprintln!("put_file of {LARGE} bytes: {:?}", t.elapsed());
    assert_eq!(
        s.size("incoming/big.src").await.unwrap(),
        Some(LARGE as u64)
    );
    let whole = read_all(s, "incoming/big.src", 0, LARGE as u64).await;
    assert_eq!(whole.len(), LARGE);
    assert_eq!(sha(&whole), sha(&large));
    // A range across both chunk boundaries of a chunked reader.
    let (a, b) = (3 * 1024 * 1024 + 7, 18 * 1024 * 1024 + 3);
    let mid = read_all(s, "incoming/big.src", a as u64, (b - a) as u64).await;
    assert_eq!(sha(&mid), sha(&large[a..b]));

    let dest = env.scratch.path().join("fetched");
    s.fetch_to_file("incoming/big.src", &dest).await.unwrap();
    assert_eq!(sha(&std::fs::read(&dest).unwrap()), sha(&large));
}

async fn put_dir_then_list(env: Env) {
    let s = env.store();
    let src = env.scratch.path().join("tree");
    let files: [(&str, Vec<u8>); 5] = [
        ("master.m3u8", b"#EXTM3U\n".to_vec()),
        ("720p/index.m3u8", b"#EXTM3U\n#EXT-X-VERSION:7\n".to_vec()),
        ("720p/init.mp4", noise(700, 3)),
        ("720p/seg_00001.m4s", noise(70_000, 4)),
        ("subs/en/track.vtt", b"WEBVTT\n".to_vec()),
    ];
    for (rel, bytes) in &files {
        let p = src.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    // Dot files are never objects (the local store hides them).
    std::fs::write(src.join("720p/.partial"), b"x").unwrap();
    s.put_bytes("other/keep.m3u8", b"#EXTM3U\n").await.unwrap();

    s.put_dir("0123456789abcdef", &src).await.unwrap();
    let mut want: Vec<ObjectInfo> = files
        .iter()
        .map(|(rel, b)| info(&format!("0123456789abcdef/{rel}"), b.len()))
        .collect();
    want.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(s.list("0123456789abcdef").await.unwrap(), want);
    assert_eq!(
        s.list("0123456789abcdef/720p").await.unwrap(),
        want[..3].to_vec()
    );
    let mut everything = want.clone();
    everything.push(info("other/keep.m3u8", 8));
    assert_eq!(s.list("").await.unwrap(), everything);
    assert_eq!(s.list("nothing-here").await.unwrap(), vec![]);
    assert_eq!(
        s.get_bytes("0123456789abcdef/720p/seg_00001.m4s")
            .await
            .unwrap(),
        files[3].1
    );

    // Prefixes are never reused: a second tree there is refused, not merged.
    let again = env.scratch.path().join("again");
    std::fs::create_dir_all(again.join("720p")).unwrap();
    std::fs::write(again.join("720p/extra.m4s"), b"y").unwrap();
    assert!(s.put_dir("0123456789abcdef", &again).await.is_err());
    assert_eq!(s.list("0123456789abcdef").await.unwrap(), want);
}

async fn ranged_reads_equal_slices(env: Env) {
    let s = env.store();
    let body = noise(1000, 5);
    s.put_bytes("v/720p/seg_00002.m4s", &body).await.unwrap();
    let key = "v/720p/seg_00002.m4s";
    for (start, len) in [(0usize, 1000usize), (0, 10), (400, 123), (999, 1), (0, 1)] {
        let got = read_all(s, key, start as u64, len as u64).await;
        assert_eq!(got, &body[start..start + len], "range {start}+{len}");
    }
    // A length past the end stops at the end; an empty range is empty.
    assert_eq!(read_all(s, key, 990, 100).await, &body[990..]);
    assert!(read_all(s, key, 10, 0).await.is_empty());
    assert!(matches!(
        s.read("v/720p/absent.m4s", 0, 10).await,
        Err(StorageError::NotFound(_))
    ));
}

async fn fetch_to_file_copies(env: Env) {
    let s = env.store();
    let body = noise(300_000, 6);
    s.put_bytes("incoming/a.src", &body).await.unwrap();
    let dest = env.scratch.path().join("a.copy");
    s.fetch_to_file("incoming/a.src", &dest).await.unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    s.put_bytes("incoming/zero.src", b"").await.unwrap();
    let zero = env.scratch.path().join("zero.copy");
    s.fetch_to_file("incoming/zero.src", &zero).await.unwrap();
    assert_eq!(std::fs::read(&zero).unwrap(), b"");
    let missing = env.scratch.path().join("missing.copy");
    assert!(matches!(
        s.fetch_to_file("incoming/none.src", &missing).await,
        Err(StorageError::NotFound(_))
    ));
    assert!(!missing.exists(), "a failed fetch left a file");
}

async fn delete_is_idempotent(env: Env) {
    let s = env.store();
    s.put_bytes("v/poster.jpg", b"jpeg").await.unwrap();
    s.delete("v/poster.jpg").await.unwrap();
    assert_eq!(s.size("v/poster.jpg").await.unwrap(), None);
    s.delete("v/poster.jpg").await.unwrap();
    s.delete("never/was.jpg").await.unwrap();
}

async fn delete_prefix_spares_siblings(env: Env) {
    let s = env.store();
    for key in [
        "abc/x.m4s",
        "abc/720p/y.m4s",
        "abcd/x.m4s",
        "ab/x.m4s",
        "abd",
    ] {
        s.put_bytes(key, key.as_bytes()).await.unwrap();
    }
    s.delete_prefix("abc").await.unwrap();
    let left: Vec<String> = s
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(left, ["ab/x.m4s", "abcd/x.m4s", "abd"]);
    s.delete_prefix("abc").await.unwrap();
    s.delete_prefix("never-was").await.unwrap();
    assert_eq!(s.get_bytes("abcd/x.m4s").await.unwrap(), b"abcd/x.m4s");
}

async fn bad_keys_are_refused(env: Env) {
    let s = env.store();
    let src = env.file("src.m4s", b"data");
    let dir = env.scratch.path().join("dir");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("a.m4s"), b"a").unwrap();
    let dest = env.scratch.path().join("dest");
    let bad_key = |what: &str, key: &str, r: Result<(), StorageError>| {
        assert!(
            matches!(r, Err(StorageError::BadKey(_))),
            "{what}({key:?}) was not refused as a bad key: {r:?}"
        );
    };
    let day = Duration::from_secs(86_400);
    for key in ["../x", "/etc/passwd", "a//b"] {
        // Read-only calls first: with a broken guard the case stops here,
        // before any write could land outside the store.
        bad_key("size", key, s.size(key).await.map(|_| ()));
        bad_key("get_bytes", key, s.get_bytes(key).await.map(|_| ()));
        bad_key("read", key, s.read(key, 0, 1).await.map(|_| ()));
        bad_key("list", key, s.list(key).await.map(|_| ()));
        bad_key(
            "presign_get",
            key,
            s.presign_get(key, day).await.map(|_| ()),
        );
        bad_key("fetch_to_file", key, s.fetch_to_file(key, &dest).await);
        bad_key("put_bytes", key, s.put_bytes(key, b"x").await);
        bad_key("put_file", key, s.put_file(key, &src).await);
        bad_key("put_dir", key, s.put_dir(key, &dir).await);
        bad_key("delete", key, s.delete(key).await);
        bad_key("delete_prefix", key, s.delete_prefix(key).await);
    }
    assert!(src.exists() && dir.join("a.m4s").exists(), "a source moved");
    assert!(!dest.exists());
    assert_eq!(s.list("").await.unwrap(), vec![]);
}

async fn presigned_urls(env: Env) {
    let s = env.store();
    let body = noise(5000, 7);
    s.put_bytes("v/720p/seg_00003.m4s", &body).await.unwrap();
    let hour = Duration::from_secs(3600);
    let url = s.presign_get("v/720p/seg_00003.m4s", hour).await.unwrap();
    let Some(url) = url else {
        assert!(!env.signs_urls, "no URL from a store that signs them");
        return;
    };
    assert!(env.signs_urls, "a URL from a store that cannot sign");
    let http = reqwest::Client::new();
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200, "GET {url}");
    assert_eq!(
        resp.headers()["content-type"],
        "video/mp4",
        "stored with its media type"
    );
    assert_eq!(resp.bytes().await.unwrap(), body);

    // One altered hex digit of the signature must be refused.
    let (head, sig) = url.split_once("X-Amz-Signature=").unwrap();
    let (first, rest) = sig.split_at(1);
    let other = if first == "0" { "1" } else { "0" };
    let forged = format!("{head}X-Amz-Signature={other}{rest}");
    let resp = http.get(&forged).send().await.unwrap();
    assert_eq!(resp.status(), 403, "GET {forged}");
    // A URL for another key with this signature is refused too.
    let moved = url.replace("seg_00003", "seg_00004");
    assert_eq!(http.get(&moved).send().await.unwrap().status(), 403);
}

async fn ping_answers_and_fails_fast(env: Env) {
    env.store().ping().await.unwrap();
    for (what, dead) in &env.broken {
        let t = Instant::now();
        let r = dead.ping().await;
        let took = t.elapsed();
        let e = match r {
            Ok(()) => panic!("ping of {what} succeeded"),
            Err(e) => e,
        };
        assert_eq!(e.code(), "storage-unavailable", "{what}: {e}");
        assert!(took < PING_BOUND, "ping of {what} took {took:?}");
        eprintln!("ping of {what}: failed in {took:?}");
    }
}

/// One `#[tokio::test]` per backend and case.
macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::Env::local().await).await
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::Env::s3().await).await
                }
            )*
        }
    };
}

suite!(
    bytes_round_trip_and_replace,
    put_file_small_empty_and_large,
    put_dir_then_list,
    ranged_reads_equal_slices,
    fetch_to_file_copies,
    delete_is_idempotent,
    delete_prefix_spares_siblings,
    bad_keys_are_refused,
    presigned_urls,
    ping_answers_and_fails_fast,
);

//! A byte range of a local file as a stream of large chunks, read on the
//! blocking pool with as few trips there as the range allows.
//!
//! `tokio::fs::File` makes one blocking-pool trip per open, per seek and per
//! read, reads at most 64 KiB at a time and copies every chunk twice (into
//! its own buffer, then into the stream's). Serving one 1.4 MB segment that
//! way cost about 24 trips. Here the open, the seek and the first chunk are
//! one trip, so a small file (a playlist, a subtitle track) is one trip in
//! all, and every further chunk is one trip of [`CHUNK`] bytes read straight
//! into the buffer that is sent.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};

use super::ByteStream;

/// Bytes read per blocking call. Large enough that a segment is a handful
/// of trips; small enough that a connection to a slow reader holds little.
pub const CHUNK: u64 = 256 * 1024;

/// Opens `path` and streams `len` bytes from `start`. The file is opened
/// (and the first chunk read) before this returns, so a missing file is an
/// error here rather than in the body. A range past the end of the file
/// ends with the file, as reading with `take` would.
pub async fn open(path: PathBuf, start: u64, len: u64) -> io::Result<ByteStream> {
    let (file, first) = blocking(move || {
        let mut f = File::open(&path)?;
        if start > 0 {
            f.seek(SeekFrom::Start(start))?;
        }
        let first = read_chunk(&mut f, len.min(CHUNK))?;
        Ok((f, first))
    })
    .await?;
    let got = first.len() as u64;
    let left = if got < len.min(CHUNK) { 0 } else { len - got };
    let head = stream::once(async move { Ok(first) });
    if left == 0 {
        return Ok(Box::pin(head));
    }
    let rest = stream::try_unfold((Some(file), left), |(file, left)| async move {
        let Some(mut f) = file.filter(|_| left > 0) else {
            return Ok(None);
        };
        let (f, chunk) = blocking(move || {
            let chunk = read_chunk(&mut f, left.min(CHUNK))?;
            Ok((f, chunk))
        })
        .await?;
        let got = chunk.len() as u64;
        if got == 0 {
            return Ok(None);
        }
        // A short read is the end of the file.
        let left = if got < left.min(CHUNK) { 0 } else { left - got };
        Ok(Some((chunk, (Some(f), left))))
    });
    Ok(Box::pin(head.chain(rest)))
}

/// Reads up to `n` bytes (fewer only at the end of the file) at the file's
/// position into a buffer of that size (no zeroing, no second copy).
fn read_chunk(f: &mut File, n: u64) -> io::Result<Bytes> {
    let mut buf = Vec::with_capacity(n as usize);
    Read::take(&mut *f, n).read_to_end(&mut buf)?;
    Ok(Bytes::from(buf))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(s: ByteStream) -> (Vec<usize>, io::Result<Vec<u8>>) {
        let parts: Vec<io::Result<Bytes>> = s.collect().await;
        let sizes = parts
            .iter()
            .map(|p| p.as_ref().map_or(0, |b| b.len()))
            .collect();
        let all = parts.into_iter().try_fold(Vec::new(), |mut v, p| {
            v.extend_from_slice(&p?);
            Ok(v)
        });
        (sizes, all)
    }

    #[tokio::test]
    async fn ranges_across_chunks_come_back_whole_and_in_large_pieces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..(CHUNK * 3 + 1000)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let total = data.len() as u64;
        for (start, len) in [
            (0, total),
            (0, 10),
            (5, CHUNK),
            (CHUNK - 1, CHUNK + 2),
            (total - 1, 1),
            (7, total - 7),
        ] {
            let (sizes, got) = collect(open(path.clone(), start, len).await.unwrap()).await;
            let got = got.unwrap();
            assert_eq!(
                got,
                &data[start as usize..(start + len) as usize],
                "{start}+{len}"
            );
            // Every piece but the last is a full chunk.
            assert!(
                sizes[..sizes.len() - 1].iter().all(|&n| n as u64 == CHUNK),
                "{sizes:?}"
            );
            assert_eq!(sizes.len() as u64, len.div_ceil(CHUNK), "{sizes:?}");
        }
    }

    #[tokio::test]
    async fn missing_files_fail_at_open_and_long_ranges_end_with_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(open(dir.path().join("none"), 0, 1).await.is_err());
        let path = dir.path().join("short");
        std::fs::write(&path, vec![1u8; (CHUNK + 10) as usize]).unwrap();
        for (start, len, want) in [(0, CHUNK * 4, CHUNK + 10), (20, CHUNK, CHUNK - 10)] {
            let (_, got) = collect(open(path.clone(), start, len).await.unwrap()).await;
            assert_eq!(got.unwrap().len() as u64, want, "{start}+{len}");
        }
    }
}

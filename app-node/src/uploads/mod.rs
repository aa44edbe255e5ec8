//! Resumable uploads (tus 1.0) below the HTTP layer: where their bytes
//! live, and turning a complete upload into a staged source with its job.
//!
//! Design: each PATCH body is stored as one object of the media store
//! (`uploads/{video}/{start}-{lock}`), written and made durable before the
//! catalog hears of it; the offset then moves in the catalog by a
//! compare-and-set on the offset the PATCH started from, under a lock that
//! is a lease on the database's clock. Any node can therefore take any
//! PATCH (the bytes are in the shared store, the state in the shared
//! catalog), two nodes racing on one upload cannot both record bytes, a
//! node that dies mid-PATCH frees the upload when its lease ends, and the
//! offset never names a byte that is not stored. Objects carry the lock's
//! token in their key, so a PATCH that loses its lock never overwrites
//! bytes another PATCH recorded; the catalog's chunk rows say which objects
//! make the file. When the last byte is recorded the chunks are read back
//! in order into one staged source, exactly what a one-request upload
//! stages, and the normal ingest job takes it from there.
//!
//! S3 multipart uploads were not used: their parts must be at least 5 MiB
//! except the last, while a tus PATCH may carry any number of bytes (and a
//! dropped connection leaves an arbitrary partial body that must be kept),
//! so parts would need re-cutting across PATCHes; one object per PATCH
//! works the same on every store.

mod finish;
mod lease;
mod sweep;

pub use finish::{finish, FinishError};
pub use lease::Heartbeat;
pub use sweep::{sweep_uploads, UploadSweep};

/// Store prefix holding an upload's chunks.
pub fn chunk_prefix(video_id: &str) -> String {
    format!("uploads/{video_id}")
}

/// Store key of the chunk starting at `start`, written under lock `token`.
/// Zero-padded so listings sort in file order.
pub fn chunk_key(video_id: &str, start: i64, token: &str) -> String {
    format!("uploads/{video_id}/{start:020}-{token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_in_file_order_and_stay_under_the_prefix() {
        let a = chunk_key("0123456789abcdef", 9, "aa");
        let b = chunk_key("0123456789abcdef", 10, "aa");
        assert!(a < b);
        assert!(a.starts_with(&format!("{}/", chunk_prefix("0123456789abcdef"))));
        crate::storage::validate_key(&a).unwrap();
    }
}

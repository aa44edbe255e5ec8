//! Resumable uploads in the catalog, run unchanged on SQLite, PostgreSQL and
//! MariaDB: the offset moves only by compare-and-set under a lock that is a
//! lease on the database's clock, the lock excludes a second writer until
//! it expires, expired uploads refuse writes and are listed for the
//! sweeper, and completion queues the video's job in one step.

mod common;

use std::time::Duration;

use common::db::TestDb;
use reel_node::catalog::{
    new_id, Catalog, Chunk, JobSource, LockOutcome, NewUpload, NewVideo, Role, UploadLock,
    VideoStatus,
};

const LEASE: Duration = Duration::from_secs(60);
const TTL: Duration = Duration::from_secs(3600);
const LIFE: Duration = Duration::from_secs(86400);

async fn user(c: &Catalog, name: &str) -> i64 {
    c.accounts
        .add_user(name, "hash", Role::Uploader)
        .await
        .unwrap()
}

async fn new_upload(c: &Catalog, owner: i64, length: i64, ttl: Duration) -> String {
    let id = new_id();
    let u = c
        .uploads
        .create_upload(&NewUpload {
            video: NewVideo {
                id: id.clone(),
                title: "Holiday".into(),
                source: "upload:a.mp4".into(),
                owner_id: Some(owner),
                visibility: reel_node::catalog::Visibility::Public,
            },
            owner_id: owner,
            length,
            metadata: "title SG9saWRheQ==".into(),
            ttl,
        })
        .await
        .unwrap();
    assert_eq!((u.offset, u.length, u.done), (0, length, false));
    assert!(!u.locked && !u.expired);
    id
}

async fn lock(c: &Catalog, id: &str, offset: i64) -> UploadLock {
    match c.uploads.lock_upload(id, offset, LEASE).await.unwrap() {
        LockOutcome::Locked(l) => l,
        other => panic!("lock at {offset}: {other:?}"),
    }
}

fn chunk(id: &str, l: &UploadLock, end: i64) -> Chunk {
    Chunk {
        start: l.offset,
        end,
        key: format!("uploads/{id}/{:020}-{}", l.offset, l.token),
    }
}

async fn offsets_move_by_compare_and_set_under_a_lock(db: TestDb) {
    let c = db.open_catalog().await;
    let alice = user(&c, "alice").await;
    let id = new_upload(&c, alice, 100, TTL).await;
    let v = c.videos.get(&id).await.unwrap().unwrap();
    assert_eq!(v.status, VideoStatus::Uploading);
    assert_eq!(v.owner_id, Some(alice));
    let u = c.uploads.upload(&id).await.unwrap().unwrap();
    assert_eq!(u.metadata, "title SG9saWRheQ==");

    // A wrong offset is told the stored one, whether locked or not.
    assert_eq!(
        c.uploads.lock_upload(&id, 5, LEASE).await.unwrap(),
        LockOutcome::OffsetMismatch(0)
    );
    let a = lock(&c, &id, 0).await;
    assert!(c.uploads.upload(&id).await.unwrap().unwrap().locked);
    // A second writer at the right offset is refused while the lock lives.
    assert_eq!(
        c.uploads.lock_upload(&id, 0, LEASE).await.unwrap(),
        LockOutcome::Busy
    );
    assert!(c.uploads.renew_upload_lock(&a, LEASE).await.unwrap());
    assert!(c
        .uploads
        .advance_upload(&a, &chunk(&id, &a, 40), TTL, LIFE)
        .await
        .unwrap());
    // The same lock cannot record twice: the offset moved and it was released.
    assert!(!c
        .uploads
        .advance_upload(&a, &chunk(&id, &a, 40), TTL, LIFE)
        .await
        .unwrap());
    assert!(!c.uploads.renew_upload_lock(&a, LEASE).await.unwrap());
    let u = c.uploads.upload(&id).await.unwrap().unwrap();
    assert_eq!((u.offset, u.locked), (40, false));

    // A chunk past the declared length is never recorded.
    let b = lock(&c, &id, 40).await;
    assert!(!c
        .uploads
        .advance_upload(&b, &chunk(&id, &b, 101), TTL, LIFE)
        .await
        .unwrap());
    c.uploads.unlock_upload(&b).await.unwrap();
    assert!(!c.uploads.upload(&id).await.unwrap().unwrap().locked);

    // Completion needs every byte.
    let b = lock(&c, &id, 40).await;
    assert!(!c
        .uploads
        .complete_upload(&b, &JobSource::Stored("incoming/x.src".into()))
        .await
        .unwrap());
    assert!(c
        .uploads
        .advance_upload(&b, &chunk(&id, &b, 100), TTL, LIFE)
        .await
        .unwrap());
    let chunks = c.uploads.upload_chunks(&id).await.unwrap();
    assert_eq!(
        chunks.iter().map(|c| (c.start, c.end)).collect::<Vec<_>>(),
        vec![(0, 40), (40, 100)]
    );
    assert_eq!(
        c.uploads.stranded_uploads(10).await.unwrap().len(),
        1,
        "complete but not finished"
    );
    let f = lock(&c, &id, 100).await;
    assert!(c
        .uploads
        .complete_upload(&f, &JobSource::Stored(format!("incoming/{id}.src")))
        .await
        .unwrap());
    let u = c.uploads.upload(&id).await.unwrap().unwrap();
    assert!(u.done && !u.locked);
    assert!(c.uploads.stranded_uploads(10).await.unwrap().is_empty());
    assert_eq!(
        c.videos.get(&id).await.unwrap().unwrap().status,
        VideoStatus::Queued
    );
    let job = c
        .jobs
        .claim_for(&id, LEASE, 3)
        .await
        .unwrap()
        .expect("the finished upload's job");
    assert_eq!(job.source, JobSource::Stored(format!("incoming/{id}.src")));
    // A done upload takes no more locks.
    assert_eq!(
        c.uploads.lock_upload(&id, 100, LEASE).await.unwrap(),
        LockOutcome::OffsetMismatch(100)
    );
}

async fn racing_writers_cannot_both_win(db: TestDb) {
    let c = db.open_catalog().await;
    let alice = user(&c, "alice").await;
    let id = new_upload(&c, alice, 1000, TTL).await;
    // Many nodes try to lock the same offset at once: exactly one gets it.
    let mut tries = Vec::new();
    for _ in 0..8 {
        let (c, id) = (c.clone(), id.clone());
        tries.push(tokio::spawn(async move {
            c.uploads.lock_upload(&id, 0, LEASE).await.unwrap()
        }));
    }
    let mut winners = Vec::new();
    for t in tries {
        if let LockOutcome::Locked(l) = t.await.unwrap() {
            winners.push(l);
        }
    }
    assert_eq!(winners.len(), 1);

    // A holder whose lease ran out loses to the one that took over: only
    // the newer lock's bytes are recorded.
    let short = Duration::from_millis(300);
    c.uploads.unlock_upload(&winners[0]).await.unwrap();
    let old = match c.uploads.lock_upload(&id, 0, short).await.unwrap() {
        LockOutcome::Locked(l) => l,
        o => panic!("{o:?}"),
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    let new = lock(&c, &id, 0).await;
    assert!(!c.uploads.renew_upload_lock(&old, LEASE).await.unwrap());
    assert!(!c
        .uploads
        .advance_upload(&old, &chunk(&id, &old, 500), TTL, LIFE)
        .await
        .unwrap());
    assert!(c
        .uploads
        .advance_upload(&new, &chunk(&id, &new, 300), TTL, LIFE)
        .await
        .unwrap());
    let chunks = c.uploads.upload_chunks(&id).await.unwrap();
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].key, chunk(&id, &new, 300).key);
    assert_eq!(c.uploads.upload(&id).await.unwrap().unwrap().offset, 300);
}

async fn expired_uploads_refuse_writes_and_are_listed(db: TestDb) {
    let c = db.open_catalog().await;
    let alice = user(&c, "alice").await;
    let old = new_upload(&c, alice, 10, Duration::from_millis(200)).await;
    let live = new_upload(&c, alice, 10, TTL).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let u = c.uploads.upload(&old).await.unwrap().unwrap();
    assert!(u.expired);
    assert_eq!(
        c.uploads.lock_upload(&old, 0, LEASE).await.unwrap(),
        LockOutcome::Expired
    );
    let expired: Vec<String> = c
        .uploads
        .expired_uploads(10)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.video_id)
        .collect();
    assert_eq!(expired, vec![old.clone()]);

    // A PATCH extends the expiry.
    let l = lock(&c, &live, 0).await;
    let before = c
        .uploads
        .upload(&live)
        .await
        .unwrap()
        .unwrap()
        .expires_at_ms;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(c
        .uploads
        .advance_upload(&l, &chunk(&live, &l, 5), TTL, LIFE)
        .await
        .unwrap());
    assert!(
        c.uploads
            .upload(&live)
            .await
            .unwrap()
            .unwrap()
            .expires_at_ms
            > before
    );

    // Removing the record takes its chunk rows; deleting the video takes
    // the record.
    assert!(c.uploads.remove_upload(&old).await.unwrap());
    assert!(!c.uploads.remove_upload(&old).await.unwrap());
    assert!(c.uploads.upload(&old).await.unwrap().is_none());
    c.videos.begin_delete(&live, None).await.unwrap().unwrap();
    assert!(c.videos.purge(&live).await.unwrap());
    assert!(c.uploads.upload(&live).await.unwrap().is_none());
    assert!(c.uploads.upload_chunks(&live).await.unwrap().is_empty());
}

async fn an_upload_being_deleted_is_never_queued(db: TestDb) {
    let c = db.open_catalog().await;
    let alice = user(&c, "alice").await;
    let id = new_upload(&c, alice, 10, TTL).await;
    let l = lock(&c, &id, 0).await;
    assert!(c
        .uploads
        .advance_upload(&l, &chunk(&id, &l, 10), TTL, LIFE)
        .await
        .unwrap());
    c.videos.begin_delete(&id, None).await.unwrap().unwrap();
    let f = lock(&c, &id, 10).await;
    assert!(!c
        .uploads
        .complete_upload(&f, &JobSource::Stored("incoming/x.src".into()))
        .await
        .unwrap());
    assert!(c.jobs.claim_for(&id, LEASE, 3).await.unwrap().is_none());
    // Listings of work in progress show uploads to their owner.
    let other = new_upload(&c, alice, 10, TTL).await;
    let p = c
        .videos
        .list(
            None,
            reel_node::catalog::StatusFilter::Processing,
            Some(alice),
            1,
            10,
        )
        .await
        .unwrap();
    assert_eq!(p.videos.len(), 1);
    assert_eq!(p.videos[0].id, other);
}

async fn limits_failures_and_who_sees_an_upload(db: TestDb) {
    use reel_node::catalog::StatusFilter;
    let c = db.open_catalog().await;
    let alice = user(&c, "alice").await;
    let id = new_upload(&c, alice, 100, TTL).await;
    let done = new_upload(&c, alice, 10, TTL).await;
    assert_eq!(c.uploads.open_uploads_of(alice).await.unwrap(), 2);
    assert_eq!(c.uploads.open_uploads_of(alice + 1).await.unwrap(), 0);

    // A PATCH pushes the expiry out by the TTL, but not past the absolute
    // lifetime from creation.
    let before = c.uploads.upload(&id).await.unwrap().unwrap().expires_at_ms;
    let l = lock(&c, &id, 0).await;
    let short = Duration::from_millis(500);
    assert!(c
        .uploads
        .advance_upload(&l, &chunk(&id, &l, 40), TTL, short)
        .await
        .unwrap());
    let after = c.uploads.upload(&id).await.unwrap().unwrap().expires_at_ms;
    assert!(after < before - 3_000_000, "{before} {after}");
    assert_eq!(c.uploads.chunk_count(&id).await.unwrap(), 1);

    // An upload whose bytes cannot be joined: done, its video failed.
    let l = lock(&c, &done, 0).await;
    assert!(c.uploads.fail_upload(&l, "a reason").await.unwrap());
    assert!(!c.uploads.fail_upload(&l, "again").await.unwrap());
    let v = c.videos.get(&done).await.unwrap().unwrap();
    assert_eq!(v.status, VideoStatus::Failed);
    assert_eq!(v.error.as_deref(), Some("a reason"));
    assert_eq!(c.uploads.open_uploads_of(alice).await.unwrap(), 1);

    // Uploading videos are listed to their owner only.
    for f in [StatusFilter::All, StatusFilter::Processing] {
        let public = c.videos.list(None, f, None, 1, 10).await.unwrap();
        assert!(public.videos.iter().all(|v| v.id != id), "{f:?}");
        let mine = c.videos.list(None, f, Some(alice), 1, 10).await.unwrap();
        assert!(mine.videos.iter().any(|v| v.id == id), "{f:?}");
    }
    let home = c.videos.home(None, 1, 10).await.unwrap();
    assert!(home.processing.iter().all(|v| v.id != id));
}

crate::on_every_engine!(
    limits_failures_and_who_sees_an_upload,
    offsets_move_by_compare_and_set_under_a_lock,
    racing_writers_cannot_both_win,
    expired_uploads_refuse_writes_and_are_listed,
    an_upload_being_deleted_is_never_queued
);

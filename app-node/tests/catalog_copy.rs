//! `catalog copy` (SQLite into each engine), run on SQLite, PostgreSQL and
//! MariaDB like the rest of the catalog suite.

mod common;

use std::time::Duration;

use common::db::{Engine, TestDb};
use common::fixtures::{add_half_upload, add_owned_video, add_video, publish};
use reel_node::catalog::{self, new_version, Catalog, Role, StatusFilter, VideoStatus};

const LEASE: Duration = Duration::from_secs(30);

async fn open(db: &TestDb) -> Catalog {
    db.open_catalog().await
}

/// `catalog copy` from an embedded SQLite catalog into this engine: every
/// row arrives, a second run copies nothing, and new rows get fresh ids.
async fn copy_from_sqlite_is_complete_and_idempotent(db: TestDb) {
    let from = TestDb::new(Engine::Sqlite).await;
    let src = open(&from).await;
    let uid = src
        .accounts
        .add_user("alice", "hash", Role::Admin)
        .await
        .unwrap();
    src.accounts.add_token("alice", "tok").await.unwrap();
    // The first is alice's, the rest have no owner: both must arrive so.
    let mut ids = vec![add_owned_video(&src, "Copied 0 — ü", Some(uid)).await];
    for i in 1..7 {
        ids.push(add_video(&src, &format!("Copied {i} — ü")).await);
    }
    let v1 = new_version();
    publish(&src, &ids[0], &v1).await;
    let failed = src
        .jobs
        .claim_for(&ids[1], LEASE, 3)
        .await
        .unwrap()
        .unwrap();
    src.jobs.fail(&failed, "not a video", None).await.unwrap();
    let watched = reel_node::qoe::parse_body(
        &format!(
            "cid=\"{}\",sid=\"viewer\",v=2,e=ps,sn=0,sta=s,ts=10,br=(900)",
            ids[0]
        ),
        1,
    )
    .unwrap();
    reel_node::qoe::record(src.qoe.as_ref(), &watched, 0, &|| true)
        .await
        .unwrap();
    let pending = catalog::WebhookEvent {
        event_id: "e".repeat(32),
        event_type: "video.deleted".into(),
        video_id: "0123456789abcdef".into(),
        payload: "{}".into(),
    };
    src.webhooks
        .enqueue_webhook(&pending, &["https://hooks.example/x".into()])
        .await
        .unwrap();
    // A resumable upload half-way, with its recorded chunk.
    let (up_id, part) = add_half_upload(&src, uid).await;

    let quiet = |_: &str, _: u64, _: u64| {};
    // Refused while a node still works on the source.
    let busy = src
        .jobs
        .claim_for(&ids[6], LEASE, 3)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        catalog::copy_catalog(&from.url, &db.url, &quiet).await,
        Err(catalog::CatalogError::Busy(_))
    ));
    src.jobs.release(&busy).await.unwrap();
    let first = catalog::copy_catalog(&from.url, &db.url, &quiet)
        .await
        .unwrap();
    let copied: u64 = first.tables.iter().map(|t| t.1).sum();
    assert!(copied >= 1 + 1 + 7 + 2 + 1 + 7, "{first:?}");
    let again = catalog::copy_catalog(&from.url, &db.url, &quiet)
        .await
        .unwrap();
    assert!(
        again.tables.iter().all(|t| t.1 == 0),
        "second run copied: {again:?}"
    );

    let dst = open(&db).await;
    let all = dst
        .videos
        .list(None, StatusFilter::All, None, 1, 100)
        .await
        .unwrap();
    // The public listing leaves out the video still uploading; its owner's
    // listing has it.
    assert_eq!(all.total, 7);
    let theirs = dst
        .videos
        .list(None, StatusFilter::All, Some(uid), 1, 100)
        .await
        .unwrap();
    assert!(theirs.videos.iter().any(|v| v.id == up_id), "{theirs:?}");
    let up = dst.uploads.upload(&up_id).await.unwrap().unwrap();
    assert_eq!((up.offset, up.length, up.owner_id), (10, 100, uid));
    assert_eq!(dst.uploads.upload_chunks(&up_id).await.unwrap(), vec![part]);
    let v = dst.videos.get(&ids[0]).await.unwrap().unwrap();
    assert_eq!(v.media_version, Some(v1));
    assert_eq!(v.renditions.len(), 2);
    assert_eq!(v.subtitles.len(), 1);
    assert_eq!(v.title, "Copied 0 — ü");
    assert_eq!((v.owner_id, v.owner.as_deref()), (Some(uid), Some("alice")));
    let outbox = dst.webhooks.deliveries(10).await.unwrap();
    assert_eq!(outbox.len(), 1, "the pending delivery moved too");
    let session = dst.qoe.qoe_session("viewer").await.unwrap().unwrap();
    assert_eq!(
        (session.video_id.as_str(), session.started_ts),
        (ids[0].as_str(), Some(10))
    );
    assert_eq!(session.bitrate_kbps, 900.0);
    assert_eq!(
        dst.videos.get(&ids[1]).await.unwrap().unwrap().owner_id,
        None
    );
    let f = dst.videos.get(&ids[1]).await.unwrap().unwrap();
    assert_eq!(
        (f.status, f.error.as_deref()),
        (VideoStatus::Failed, Some("not a video"))
    );
    let alice = dst.accounts.token_user("tok").await.unwrap().unwrap();
    assert_eq!((alice.id, alice.role), (uid, Role::Admin));
    // Queued jobs keep working in the new home.
    let job = dst.jobs.claim(LEASE, 3).await.unwrap().unwrap();
    assert!(ids[2..].contains(&job.video_id));
    let bob = dst
        .accounts
        .add_user("bob", "h", Role::Uploader)
        .await
        .unwrap();
    assert!(bob > uid, "new ids must not collide with copied ones");
}

crate::on_every_engine!(copy_from_sqlite_is_complete_and_idempotent);

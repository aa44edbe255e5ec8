//! Progressive publishing in the catalog, run unchanged on SQLite,
//! PostgreSQL and MariaDB: a video is playable while it is encoded, under
//! the lease only, and withdrawn when its attempt fails.

mod common;

use std::time::Duration;

use common::db::TestDb;
use common::fixtures::{add_video, publish, published};
use reel_node::catalog::{self, new_version, FinishOutcome, VideoStatus};

const LEASE: Duration = Duration::from_secs(30);

/// A video becomes playable mid-encode under the lease only; a failed
/// attempt withdraws it, and the retry's playable version then its final
/// one are what viewers get.
async fn playable_before_ready_and_withdrawn_on_failure(db: TestDb) {
    let c = db.open_catalog().await;
    let id = add_video(&c, "progressive").await;
    let job = c.jobs.claim_for(&id, LEASE, 3).await.unwrap().unwrap();
    let planned = |version: &str| catalog::Playable {
        version: version.into(),
        duration_s: 120.0,
        width: 1920,
        height: 1080,
        renditions: published(version).renditions,
        time_to_playable_s: 4.5,
    };
    let forged = catalog::ClaimedJob {
        lease_token: "0".repeat(32),
        ..job.clone()
    };
    assert_eq!(
        c.jobs
            .make_playable(&forged, &planned("vforged"))
            .await
            .unwrap(),
        FinishOutcome::LeaseLost
    );
    let v = c.videos.get(&id).await.unwrap().unwrap();
    assert!(!v.playable && v.media_version.is_none());

    let v1 = new_version();
    assert_eq!(
        c.jobs.make_playable(&job, &planned(&v1)).await.unwrap(),
        FinishOutcome::Published
    );
    let v = c.videos.get(&id).await.unwrap().unwrap();
    assert!(v.playable);
    assert_ne!(v.status, VideoStatus::Ready, "still processing");
    assert_eq!(v.media_version.as_deref(), Some(v1.as_str()));
    assert_eq!(v.time_to_playable_s, Some(4.5));
    assert_eq!((v.duration_s, v.width), (Some(120.0), Some(1920)));
    assert_eq!(v.renditions.len(), 2);

    // The attempt fails and will be retried: withdrawn until the next one
    // is playable.
    c.jobs
        .fail(&job, "the node ran out of disk space", Some(Duration::ZERO))
        .await
        .unwrap();
    let v = c.videos.get(&id).await.unwrap().unwrap();
    assert!(!v.playable && v.media_version.is_none(), "{v:?}");
    let retry = c.jobs.claim_for(&id, LEASE, 3).await.unwrap().unwrap();
    let v2 = new_version();
    c.jobs.make_playable(&retry, &planned(&v2)).await.unwrap();
    assert_eq!(
        c.jobs.finish(&retry, &published(&v2)).await.unwrap(),
        FinishOutcome::Published
    );
    let v = c.videos.get(&id).await.unwrap().unwrap();
    assert!(v.playable && v.status == VideoStatus::Ready);
    assert_eq!(v.media_version, Some(v2));
    assert_eq!(
        v.duration_s,
        Some(12.5),
        "the final facts replace the planned ones"
    );
    assert_eq!(
        v.time_to_playable_s,
        Some(4.5),
        "kept from when it was playable"
    );
    // A ladder that ended before it could be watched: playable when ready,
    // with the time of its publish.
    let short = add_video(&c, "short").await;
    publish(&c, &short, &new_version()).await;
    let v = c.videos.get(&short).await.unwrap().unwrap();
    assert!(v.playable && v.status == VideoStatus::Ready);
    assert_eq!(v.time_to_playable_s, Some(3.0));
}

crate::on_every_engine!(playable_before_ready_and_withdrawn_on_failure);

//! ONE catalog suite, run unchanged on SQLite, PostgreSQL and MariaDB: each
//! case is an async function over a fresh database, and `on_every_engine!`
//! at the end instantiates every case once per engine. Accounts have their
//! own file (`catalog_accounts.rs`), as has `catalog copy` (`catalog_copy.rs`).

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::db::TestDb;
use common::fixtures::{add_video, publish, published};
use reel_node::catalog::{
    self, new_version, Catalog, CatalogOptions, FinishOutcome, StatusFilter, Subtitle, VideoStatus,
};

const LEASE: Duration = Duration::from_secs(30);

async fn open(db: &TestDb) -> Catalog {
    db.open_catalog().await
}

async fn videos_round_trip(db: TestDb) {
    let c = open(&db).await;
    let title = "Ünïcødé — 日本語 🎬 'quotes' \"and\" \\ backslash";
    let id = add_video(&c, title).await;
    let v = c.videos.get(&id).await.unwrap().unwrap();
    assert_eq!(v.title, title);
    assert_eq!(v.status, VideoStatus::Queued);
    assert!(v.created_at_ms > 1_600_000_000_000, "{}", v.created_at_ms);
    assert!(v.media_version.is_none());
    assert!(c.videos.get("0000000000000000").await.unwrap().is_none());

    let v1 = new_version();
    assert_eq!(publish(&c, &id, &v1).await, FinishOutcome::Published);
    let v = c.videos.get(&id).await.unwrap().unwrap();
    assert_eq!(v.status, VideoStatus::Ready);
    assert_eq!(v.media_version.as_deref(), Some(v1.as_str()));
    assert_eq!(v.media_prefix(), format!("{id}/{v1}"));
    assert_eq!(v.duration_s, Some(12.5));
    assert!(v.has_poster && !v.has_storyboard);
    let names: Vec<_> = v.renditions.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["720p", "360p"], "highest first");
    assert_eq!(v.renditions[0].codecs, "avc1.64001f,mp4a.40.2");
    assert_eq!(v.subtitles.len(), 1);

    // An uploaded track replaces, a second language adds.
    for (lang, label) in [("en", "English (CC)"), ("fr", "Français")] {
        let s = Subtitle {
            lang: lang.into(),
            label: label.into(),
            path: format!("subs/{lang}.vtt"),
        };
        assert!(c.videos.put_subtitle(&id, &s).await.unwrap());
    }
    let v = c.videos.get(&id).await.unwrap().unwrap();
    let subs: Vec<_> = v
        .subtitles
        .iter()
        .map(|s| (s.lang.as_str(), s.label.as_str()))
        .collect();
    assert_eq!(subs, [("en", "English (CC)"), ("fr", "Français")]);

    assert!(c.videos.set_title(&id, "Renamed").await.unwrap());
    assert!(
        c.videos.set_title(&id, "Renamed").await.unwrap(),
        "same title again"
    );
    assert!(!c.videos.set_title("0000000000000000", "x").await.unwrap());
    let t = c.videos.begin_delete(&id, None).await.unwrap().unwrap();
    assert_eq!(t.video.status, VideoStatus::Deleting);
    assert!(!t.worker_was_running);
    assert!(c.jobs.claim_for(&id, LEASE, 3).await.unwrap().is_none());
    assert!(c.videos.purge(&id).await.unwrap());
    assert!(!c.videos.purge(&id).await.unwrap());
    assert!(c.videos.begin_delete(&id, None).await.unwrap().is_none());
    assert!(c.videos.get(&id).await.unwrap().is_none());
}

/// A delete marks the video first: it leaves listings at once, its running
/// job loses its lease (so the worker can never publish it), a repeat of the
/// first step is harmless, and only a marked video can be purged.
async fn deletes_go_through_a_tombstone(db: TestDb) {
    let c = open(&db).await;
    let keep = add_video(&c, "keep me").await;
    let doomed = add_video(&c, "doomed").await;
    let job = c.jobs.claim_for(&doomed, LEASE, 3).await.unwrap().unwrap();
    assert!(!c.videos.purge(&doomed).await.unwrap(), "not marked yet");
    let t = c.videos.begin_delete(&doomed, None).await.unwrap().unwrap();
    assert!(t.worker_was_running);
    let late = Subtitle {
        lang: "en".into(),
        label: "English".into(),
        path: "subs/en-0.vtt".into(),
    };
    assert!(
        !c.videos.put_subtitle(&doomed, &late).await.unwrap(),
        "no track lands on a video being deleted"
    );
    let again = c.videos.begin_delete(&doomed, None).await.unwrap().unwrap();
    assert_eq!(again.video.status, VideoStatus::Deleting);
    let page = c
        .videos
        .list(None, StatusFilter::All, None, 1, 50)
        .await
        .unwrap();
    let ids: Vec<&str> = page.videos.iter().map(|v| v.id.as_str()).collect();
    assert_eq!((ids, page.total), (vec![keep.as_str()], 1));
    assert!(
        !c.jobs.renew(&job, LEASE).await.unwrap(),
        "lease must be gone"
    );
    assert!(!c
        .jobs
        .progress(&job, VideoStatus::Transcoding, 0.5)
        .await
        .unwrap());
    assert!(c
        .videos
        .stale_deletes(Duration::from_secs(3600))
        .await
        .unwrap()
        .is_empty());
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(
        c.videos
            .stale_deletes(Duration::from_millis(10))
            .await
            .unwrap(),
        vec![doomed.clone()]
    );
    assert!(c.videos.purge(&doomed).await.unwrap());
    assert!(c.videos.get(&doomed).await.unwrap().is_none());
    assert!(c.videos.get(&keep).await.unwrap().is_some());
}

async fn list_search_filter_and_pages(db: TestDb) {
    let c = open(&db).await;
    let mut ids = Vec::new();
    for i in 0..30 {
        let title = match i {
            7 => "100% Sunset_Clip".to_string(),
            8 => "Sunset at SEA".to_string(),
            _ => format!("Clip {i:02}"),
        };
        ids.push(add_video(&c, &title).await);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for id in &ids[..5] {
        publish(&c, id, &new_version()).await;
    }
    let all = c
        .videos
        .list(None, StatusFilter::All, None, 1, 24)
        .await
        .unwrap();
    assert_eq!(all.total, 30);
    assert_eq!(all.videos.len(), 24);
    assert_eq!(all.videos[0].id, ids[29], "newest first");
    let page2 = c
        .videos
        .list(None, StatusFilter::All, None, 2, 24)
        .await
        .unwrap();
    assert_eq!(page2.videos.len(), 6);
    assert_eq!(page2.videos[5].id, ids[0]);
    let past = c
        .videos
        .list(None, StatusFilter::All, None, 9, 24)
        .await
        .unwrap();
    assert!(past.videos.is_empty());
    assert_eq!(past.total, 30);

    let ready = c
        .videos
        .list(None, StatusFilter::Ready, None, 1, 24)
        .await
        .unwrap();
    assert_eq!(ready.total, 5);
    assert!(ready.videos.iter().all(|v| v.renditions.len() == 2));
    let processing = c
        .videos
        .list(None, StatusFilter::Processing, None, 1, 100)
        .await
        .unwrap();
    assert_eq!(processing.total, 25);
    assert!(processing.videos.iter().all(|v| v.renditions.is_empty()));

    // Case-insensitive, and wildcards are text.
    let s = c
        .videos
        .list(Some("sunset"), StatusFilter::All, None, 1, 24)
        .await
        .unwrap();
    assert_eq!(s.total, 2);
    let s = c
        .videos
        .list(Some("100%"), StatusFilter::All, None, 1, 24)
        .await
        .unwrap();
    assert_eq!(s.total, 1);
    assert_eq!(s.videos[0].title, "100% Sunset_Clip");
    let s = c
        .videos
        .list(Some("t_c"), StatusFilter::All, None, 1, 24)
        .await
        .unwrap();
    assert_eq!(s.total, 1, "_ must not match any character");
    let s = c
        .videos
        .list(Some("%"), StatusFilter::All, None, 1, 24)
        .await
        .unwrap();
    assert_eq!(s.total, 1);
    let s = c
        .videos
        .list(Some("clip 0"), StatusFilter::Ready, None, 1, 24)
        .await
        .unwrap();
    assert_eq!(s.total, 5);
}

async fn job_lifecycle_and_lease_tokens(db: TestDb) {
    let c = open(&db).await;
    let id = add_video(&c, "jobs").await;
    let job = c.jobs.claim(LEASE, 3).await.unwrap().unwrap();
    assert_eq!((job.video_id.as_str(), job.attempt), (id.as_str(), 1));
    assert!(c.jobs.claim(LEASE, 3).await.unwrap().is_none(), "leased");
    assert!(c.jobs.renew(&job, LEASE).await.unwrap());
    assert!(c
        .jobs
        .progress(&job, VideoStatus::Transcoding, 0.5)
        .await
        .unwrap());
    let v = c.videos.get(&id).await.unwrap().unwrap();
    assert_eq!((v.status, v.progress), (VideoStatus::Transcoding, 0.5));

    // A stale token changes nothing.
    let mut stale = job.clone();
    stale.lease_token = "0".repeat(32);
    assert!(!c.jobs.renew(&stale, LEASE).await.unwrap());
    assert!(!c
        .jobs
        .progress(&stale, VideoStatus::Transcoding, 0.9)
        .await
        .unwrap());
    assert_eq!(
        c.jobs
            .finish(&stale, &published(&new_version()))
            .await
            .unwrap(),
        FinishOutcome::LeaseLost
    );
    c.jobs.fail(&stale, "nope", None).await.unwrap();
    assert_eq!(
        c.videos.get(&id).await.unwrap().unwrap().status,
        VideoStatus::Transcoding
    );

    // Retryable failure requeues; the next claim is attempt 2.
    c.jobs
        .fail(&job, "network blip", Some(Duration::ZERO))
        .await
        .unwrap();
    let v = c.videos.get(&id).await.unwrap().unwrap();
    assert_eq!((v.status, v.error), (VideoStatus::Queued, None));
    let job = c.jobs.claim(LEASE, 3).await.unwrap().unwrap();
    assert_eq!(job.attempt, 2);
    // Release (shutdown) does not count the attempt.
    c.jobs.release(&job).await.unwrap();
    let job = c.jobs.claim(LEASE, 3).await.unwrap().unwrap();
    assert_eq!(job.attempt, 2);
    // A permanent failure ends it with the reason.
    let long = "x".repeat(5000);
    c.jobs.fail(&job, &long, None).await.unwrap();
    let v = c.videos.get(&id).await.unwrap().unwrap();
    assert_eq!(v.status, VideoStatus::Failed);
    assert!(v.error.unwrap().len() <= 1000, "error text is capped");
    assert!(c.jobs.claim(LEASE, 3).await.unwrap().is_none());
    let counts: HashMap<String, i64> = c.jobs.counts().await.unwrap().into_iter().collect();
    assert_eq!(counts.get("failed"), Some(&1));

    // Two attempts race (the first lost its lease): only the holder's
    // version becomes current, and a done job is not runnable again.
    let id = add_video(&c, "versions").await;
    let slow = c
        .jobs
        .claim_for(&id, Duration::from_millis(200), 3)
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let fast = c.jobs.claim_for(&id, LEASE, 3).await.unwrap().unwrap();
    let (v1, v2) = (new_version(), new_version());
    assert_eq!(
        c.jobs.finish(&fast, &published(&v2)).await.unwrap(),
        FinishOutcome::Published
    );
    assert_eq!(
        c.jobs.finish(&slow, &published(&v1)).await.unwrap(),
        FinishOutcome::LeaseLost
    );
    let v = c.videos.get(&id).await.unwrap().unwrap();
    assert_eq!(v.media_version, Some(v2));
    assert!(c.jobs.claim_for(&id, LEASE, 3).await.unwrap().is_none());
}

async fn expired_lease_is_reclaimed_and_attempts_cap(db: TestDb) {
    let c = open(&db).await;
    let id = add_video(&c, "lease").await;
    let short = Duration::from_millis(300);
    let first = c.jobs.claim(short, 2).await.unwrap().unwrap();
    assert!(c.jobs.claim(short, 2).await.unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(600)).await;
    let second = c.jobs.claim(short, 2).await.unwrap().unwrap();
    assert_eq!((second.id.as_str(), second.attempt), (first.id.as_str(), 2));
    // The first worker's lease is gone for good.
    assert!(!c.jobs.renew(&first, LEASE).await.unwrap());
    assert_eq!(
        c.jobs
            .finish(&first, &published(&new_version()))
            .await
            .unwrap(),
        FinishOutcome::LeaseLost
    );
    // Both attempts died silently: the third claim gives up on it.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(c.jobs.claim(short, 2).await.unwrap().is_none());
    let v = c.videos.get(&id).await.unwrap().unwrap();
    assert_eq!(v.status, VideoStatus::Failed);
    assert!(v.error.unwrap().contains("gave up after 2 attempts"));
}

/// Two workers (each with its own pool, as two nodes would have) race for
/// 20 jobs: every job runs exactly once.
async fn two_workers_race_for_20_jobs(db: TestDb) {
    let c = open(&db).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(add_video(&c, &format!("race {i}")).await);
    }
    let runs: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let mut workers = Vec::new();
    for _ in 0..2 {
        let (url, runs) = (db.url.clone(), runs.clone());
        workers.push(tokio::spawn(async move {
            let c = catalog::open(&url, &CatalogOptions::default())
                .await
                .unwrap();
            let mut mine = 0;
            while let Some(job) = c.jobs.claim(LEASE, 3).await.unwrap() {
                *runs
                    .lock()
                    .unwrap()
                    .entry(job.video_id.clone())
                    .or_default() += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
                let out = c
                    .jobs
                    .finish(&job, &published(&new_version()))
                    .await
                    .unwrap();
                assert!(matches!(out, FinishOutcome::Published));
                mine += 1;
            }
            mine
        }));
    }
    let mut per_worker = Vec::new();
    for w in workers {
        per_worker.push(w.await.unwrap());
    }
    let runs = runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 20, "{runs:?}");
    assert!(runs.values().all(|n| *n == 1), "a job ran twice: {runs:?}");
    assert_eq!(per_worker.iter().sum::<i32>(), 20);
    let ready = c
        .videos
        .list(None, StatusFilter::Ready, None, 1, 100)
        .await
        .unwrap();
    assert_eq!(ready.total, 20);
}

/// Nodes started together migrate one at a time.
async fn concurrent_migrations_do_not_race(db: TestDb) {
    let mut opens = Vec::new();
    for _ in 0..4 {
        let url = db.url.clone();
        opens.push(tokio::spawn(async move { catalog::migrate(&url).await }));
    }
    for o in opens {
        o.await.unwrap().expect("a concurrent migration failed");
    }
    let c = open(&db).await;
    add_video(&c, "after").await;
}

/// A transient failure requeues the job behind a backoff counted on the
/// database's clock: nobody claims it before the backoff has passed, other
/// jobs are not held up behind it, and it is claimed once it has passed.
async fn retry_backoff_holds_a_requeued_job(db: TestDb) {
    let c = open(&db).await;
    let id = add_video(&c, "backoff").await;
    let job = c.jobs.claim(LEASE, 3).await.unwrap().unwrap();
    let backoff = Duration::from_millis(1500);
    c.jobs
        .fail(&job, "network blip", Some(backoff))
        .await
        .unwrap();
    let v = c.videos.get(&id).await.unwrap().unwrap();
    assert_eq!((v.status, v.error), (VideoStatus::Queued, None));
    assert!(
        c.jobs.claim(LEASE, 3).await.unwrap().is_none(),
        "claimed during its backoff"
    );
    assert!(c.jobs.claim_for(&id, LEASE, 3).await.unwrap().is_none());
    let other = add_video(&c, "not held up").await;
    let o = c.jobs.claim(LEASE, 3).await.unwrap().unwrap();
    assert_eq!(o.video_id, other);
    tokio::time::sleep(backoff + Duration::from_millis(300)).await;
    let again = c.jobs.claim(LEASE, 3).await.unwrap().unwrap();
    assert_eq!((again.video_id.as_str(), again.attempt), (id.as_str(), 2));
    // A shutdown hand-back is runnable at once, backoff or not.
    c.jobs.release(&again).await.unwrap();
    let again = c.jobs.claim_for(&id, LEASE, 3).await.unwrap().unwrap();
    assert_eq!(again.attempt, 2);
    // A permanent failure ends it with the reason, no backoff involved.
    c.jobs.fail(&again, "not a video", None).await.unwrap();
    let v = c.videos.get(&id).await.unwrap().unwrap();
    assert_eq!(
        (v.status, v.error.as_deref()),
        (VideoStatus::Failed, Some("not a video"))
    );
}

/// A worker whose lease lapsed cannot publish, even before anyone else has
/// claimed the job; the next claim can.
async fn a_lapsed_lease_never_publishes(db: TestDb) {
    let c = open(&db).await;
    let id = add_video(&c, "lapsed").await;
    let job = c
        .jobs
        .claim_for(&id, Duration::from_millis(200), 3)
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        c.jobs
            .finish(&job, &published(&new_version()))
            .await
            .unwrap(),
        FinishOutcome::LeaseLost
    );
    let v = c.videos.get(&id).await.unwrap().unwrap();
    assert_ne!(v.status, VideoStatus::Ready);
    assert!(v.media_version.is_none());
    let next = c.jobs.claim_for(&id, LEASE, 3).await.unwrap().unwrap();
    assert_eq!(next.attempt, 2);
    let v2 = new_version();
    assert_eq!(
        c.jobs.finish(&next, &published(&v2)).await.unwrap(),
        FinishOutcome::Published
    );
    let v = c.videos.get(&id).await.unwrap().unwrap();
    assert_eq!(v.media_version, Some(v2));
}

crate::on_every_engine!(
    videos_round_trip,
    list_search_filter_and_pages,
    job_lifecycle_and_lease_tokens,
    expired_lease_is_reclaimed_and_attempts_cap,
    retry_backoff_holds_a_requeued_job,
    a_lapsed_lease_never_publishes,
    two_workers_race_for_20_jobs,
    concurrent_migrations_do_not_race,
    deletes_go_through_a_tombstone,
);

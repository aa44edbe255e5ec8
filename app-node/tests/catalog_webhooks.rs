//! The webhook outbox in the catalog, run unchanged on SQLite, PostgreSQL
//! and MariaDB: one row per endpoint per event (enqueued once), claims that
//! lease a delivery so no second sender gets it, backoff on the database's
//! clock, and writes under a lapsed lease refused.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::db::TestDb;
use common::fixtures::{add_video, published};
use reel_node::catalog::{Announcement, DeliveryState, FinishOutcome, WebhookEvent};

fn ev(n: u8) -> WebhookEvent {
    WebhookEvent {
        event_id: format!("{n:032x}"),
        event_type: "video.ready".into(),
        video_id: "0123456789abcdef".into(),
        payload: format!("{{\"n\":{n}}}"),
    }
}

fn urls(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("https://hooks{i}.example/r"))
        .collect()
}

const LEASE: Duration = Duration::from_secs(60);

async fn enqueue_once_per_endpoint_and_lease_each_claim(db: TestDb) {
    let c = db.open_catalog().await;
    let w = c.webhooks.as_ref();
    w.enqueue_webhook(&ev(1), &urls(2)).await.unwrap();
    // A repeated enqueue of the same event adds nothing.
    w.enqueue_webhook(&ev(1), &urls(2)).await.unwrap();
    let listed = w.deliveries(10).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|d| d.state == DeliveryState::Pending
        && d.attempts == 0
        && d.event_id == ev(1).event_id));

    let first = w.claim_deliveries(LEASE, 10).await.unwrap();
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|d| d.attempt == 1));
    assert_eq!(first[0].payload, "{\"n\":1}");
    // Both are leased: a second sender finds nothing due.
    assert!(w.claim_deliveries(LEASE, 10).await.unwrap().is_empty());

    assert!(w.delivery_succeeded(&first[0], 204).await.unwrap());
    // Recording twice under the same claim changes nothing.
    assert!(!w.delivery_succeeded(&first[0], 204).await.unwrap());
    assert!(w
        .delivery_failed(&first[1], Some(500), "webhook-status: 500", None)
        .await
        .unwrap());
    let listed = w.deliveries(10).await.unwrap();
    let by_id = |id: &str| listed.iter().find(|d| d.id == id).unwrap().clone();
    let ok = by_id(&first[0].id);
    assert_eq!(
        (ok.state, ok.attempts, ok.last_status),
        (DeliveryState::Delivered, 1, Some(204))
    );
    let bad = by_id(&first[1].id);
    assert_eq!(
        (bad.state, bad.last_status),
        (DeliveryState::Failed, Some(500))
    );
    assert_eq!(bad.last_error.as_deref(), Some("webhook-status: 500"));
    // Neither is due again.
    assert!(w.claim_deliveries(LEASE, 10).await.unwrap().is_empty());

    // Newest first.
    tokio::time::sleep(Duration::from_millis(5)).await;
    w.enqueue_webhook(&ev(2), &urls(1)).await.unwrap();
    let listed = w.deliveries(10).await.unwrap();
    assert_eq!(listed[0].event_id, ev(2).event_id);
    assert_eq!(w.deliveries(1).await.unwrap().len(), 1);

    // Pruning takes only deliveries old enough, pending ones included (a
    // delivery pending for the whole age had no sender all that time).
    assert_eq!(
        w.prune_deliveries(Duration::from_secs(3600)).await.unwrap(),
        0
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        w.prune_deliveries(Duration::from_millis(1)).await.unwrap(),
        3
    );
    assert!(w.deliveries(10).await.unwrap().is_empty());
}

async fn backoff_and_lapsed_leases_follow_the_database_clock(db: TestDb) {
    let c = db.open_catalog().await;
    let w = c.webhooks.as_ref();
    w.enqueue_webhook(&ev(3), &urls(1)).await.unwrap();
    let a1 = w.claim_deliveries(LEASE, 1).await.unwrap().remove(0);
    assert!(w
        .delivery_failed(
            &a1,
            None,
            "webhook-timeout",
            Some(Duration::from_millis(1500))
        )
        .await
        .unwrap());
    // Not due until the backoff has passed.
    assert!(w.claim_deliveries(LEASE, 1).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(w.claim_deliveries(LEASE, 1).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // A short lease this time: the sender "dies" holding it.
    let a2 = w
        .claim_deliveries(Duration::from_millis(300), 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!((a2.id.as_str(), a2.attempt), (a1.id.as_str(), 2));
    assert_eq!(
        a2.event_id, a1.event_id,
        "the event id stays on every attempt"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let a3 = w.claim_deliveries(LEASE, 1).await.unwrap().remove(0);
    assert_eq!(a3.attempt, 3);
    // The dead sender's late answer cannot overwrite the live attempt.
    assert!(!w.delivery_succeeded(&a2, 200).await.unwrap());
    assert!(!w.delivery_failed(&a2, None, "late", None).await.unwrap());
    assert!(w.delivery_succeeded(&a3, 200).await.unwrap());
    let d = w.deliveries(1).await.unwrap().remove(0);
    assert_eq!((d.state, d.attempts), (DeliveryState::Delivered, 3));
}

async fn concurrent_claimers_never_share_a_delivery(db: TestDb) {
    let c = db.open_catalog().await;
    for n in 10..16 {
        c.webhooks.enqueue_webhook(&ev(n), &urls(2)).await.unwrap();
    }
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let w = c.webhooks.clone();
            tokio::spawn(async move { w.claim_deliveries(LEASE, 5).await.unwrap() })
        })
        .collect();
    let mut seen = HashSet::new();
    let mut total = 0;
    for t in tasks {
        for d in t.await.unwrap() {
            total += 1;
            assert!(seen.insert(d.id.clone()), "{} claimed twice", d.id);
        }
    }
    // Claimers that lost a race may stop early; whatever is left is still
    // claimable, once.
    let rest = c.webhooks.claim_deliveries(LEASE, 20).await.unwrap();
    for d in &rest {
        assert!(seen.insert(d.id.clone()), "{} claimed twice", d.id);
    }
    assert_eq!(total + rest.len(), 12);
}

/// Events handed to a publish or a final failure are queued in its
/// transaction: with it, and not at all when the lease is gone.
async fn events_go_with_the_change_they_announce(db: TestDb) {
    let c = db.open_catalog().await;
    let a = |n: u8| Announcement {
        event: ev(n),
        urls: urls(2),
    };
    let ready = add_video(&c, "ready").await;
    let job = c.jobs.claim_for(&ready, LEASE, 3).await.unwrap().unwrap();
    let mut p = published("v1");
    p.announce = Some(a(20));
    assert_eq!(
        c.jobs.finish(&job, &p).await.unwrap(),
        FinishOutcome::Published
    );
    // Finishing again under the same, now ended, lease queues nothing.
    p.announce = Some(a(21));
    assert_eq!(
        c.jobs.finish(&job, &p).await.unwrap(),
        FinishOutcome::LeaseLost
    );

    let failed = add_video(&c, "failed").await;
    let job = c.jobs.claim_for(&failed, LEASE, 3).await.unwrap().unwrap();
    c.jobs
        .give_up(&job, "not a video", Some(&a(22)))
        .await
        .unwrap();
    c.jobs
        .give_up(&job, "not a video", Some(&a(23)))
        .await
        .unwrap();
    let v = c.videos.get(&failed).await.unwrap().unwrap();
    assert_eq!(v.error.as_deref(), Some("not a video"));

    // A delete's event goes with its tombstone; a repeated delete queues
    // the same event, which is there already; an unknown video none.
    let doomed = add_video(&c, "doomed").await;
    assert!(c
        .videos
        .begin_delete(&doomed, Some(&a(24)))
        .await
        .unwrap()
        .is_some());
    assert!(c
        .videos
        .begin_delete(&doomed, Some(&a(24)))
        .await
        .unwrap()
        .is_some());
    assert!(c
        .videos
        .begin_delete("ffffffffffffffff", Some(&a(25)))
        .await
        .unwrap()
        .is_none());

    let events: HashSet<String> = c
        .webhooks
        .deliveries(100)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.event_id)
        .collect();
    let want: HashSet<String> = [ev(20).event_id, ev(22).event_id, ev(24).event_id].into();
    assert_eq!(events, want);
    assert_eq!(c.webhooks.deliveries(100).await.unwrap().len(), 6);
}

crate::on_every_engine!(
    events_go_with_the_change_they_announce,
    enqueue_once_per_endpoint_and_lease_each_claim,
    backoff_and_lapsed_leases_follow_the_database_clock,
    concurrent_claimers_never_share_a_delivery
);

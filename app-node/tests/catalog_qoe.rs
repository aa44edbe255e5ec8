//! Viewer sessions in the catalog, run unchanged on SQLite, PostgreSQL and
//! MariaDB: reports fold into one row per session, a retried send changes
//! nothing, a write based on a stale read is refused, and sessions go with
//! their video or when old.

mod common;

use std::time::Duration;

use common::db::TestDb;
use common::fixtures::add_video;
use reel_node::catalog::CatalogError;
use reel_node::qoe::{parse_body, record, RecordError};

/// The node's clock for a fold: far enough on that the player's times are
/// what limit the time credited.
const NOW: i64 = 1_000_000_000;

const SID: &str = "0b7e6f1a-2c43-4d8e-9f10-aa55cc77ee99";

fn body(video: &str, lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| format!("cid=\"{video}\",sid=\"{SID}\",v=2,{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn sessions_fold_once_and_go_with_their_video(db: TestDb) {
    let c = db.open_catalog().await;
    let id = add_video(&c, "watched").await;
    let first = parse_body(
        &body(
            &id,
            &[
                "e=ps,sn=0,sta=d,ts=1000",
                "e=bc,sn=1,sta=d,ts=1100,br=(2500)",
                "e=ps,sn=2,sta=s,ts=2000,br=(2500)",
            ],
        ),
        100,
    )
    .unwrap();
    let d = record(c.qoe.as_ref(), &first, NOW, &|| true).await.unwrap();
    assert_eq!((d.applied, d.new_sessions), (3, 1));
    let later = parse_body(
        &body(
            &id,
            &[
                "e=ps,sn=3,sta=p,ts=2300,br=(2500)",
                "e=t,sn=4,sta=p,ts=12300,br=(2500)",
            ],
        ),
        100,
    )
    .unwrap();
    let d = record(c.qoe.as_ref(), &later, NOW + 60_000, &|| true)
        .await
        .unwrap();
    assert_eq!((d.applied, d.stale, d.new_sessions), (2, 0, 0));
    assert_eq!(d.startups_ms, vec![300]);
    // The player sends the same report again (its first send timed out).
    let d = record(c.qoe.as_ref(), &later, NOW + 60_000, &|| true)
        .await
        .unwrap();
    assert_eq!((d.applied, d.stale), (0, 2));

    let s = c.qoe.qoe_session(SID).await.unwrap().unwrap();
    assert_eq!(s.video_id, id);
    assert_eq!(
        (s.last_sn, s.last_ts, s.last_state.as_str()),
        (4, 12_300, "p")
    );
    assert_eq!((s.started_ts, s.startup_ms), (Some(2000), Some(300)));
    assert_eq!(s.played_ms, 10_000);
    assert!((s.played_kbit - 25_000.0).abs() < 1e-6, "{}", s.played_kbit);
    assert!(!s.failed && !s.seek_wait);

    // A write based on a read that another node has since overtaken is
    // refused and changes nothing.
    let mut stale = s.clone();
    stale.played_ms = 1;
    stale.last_sn = 9;
    assert!(!c.qoe.update_qoe_session(&stale, 3).await.unwrap());
    assert_eq!(c.qoe.qoe_session(SID).await.unwrap().unwrap(), s);
    // …and the one based on the current read is taken.
    let mut next = s.clone();
    next.last_sn = 5;
    next.failed = true;
    assert!(c.qoe.update_qoe_session(&next, 4).await.unwrap());
    assert!(c.qoe.qoe_session(SID).await.unwrap().unwrap().failed);

    // A second session of the same id is a conflict; one of an unknown
    // video is not found.
    assert!(matches!(
        c.qoe.insert_qoe_session(&s).await,
        Err(CatalogError::Conflict(_))
    ));
    let mut orphan = s.clone();
    orphan.sid = "another".into();
    orphan.video_id = "ffffffffffffffff".into();
    assert!(matches!(
        c.qoe.insert_qoe_session(&orphan).await,
        Err(CatalogError::NotFound(_))
    ));
    let unknown = parse_body("cid=\"ffffffffffffffff\",sid=\"x1\",v=2,e=t,sn=0,ts=5", 100).unwrap();
    assert!(matches!(
        record(c.qoe.as_ref(), &unknown, NOW, &|| true).await,
        Err(RecordError::UnknownVideo(_))
    ));
    // A client over its new-session budget opens nothing.
    let fresh = parse_body(&format!("cid=\"{id}\",sid=\"x2\",v=2,e=t,sn=0,ts=5"), 100).unwrap();
    assert!(matches!(
        record(c.qoe.as_ref(), &fresh, NOW, &|| false).await,
        Err(RecordError::TooManySessions)
    ));
    assert!(c.qoe.qoe_session("x2").await.unwrap().is_none());

    // Newest first, limited.
    let mut other = s.clone();
    other.sid = "second".into();
    c.qoe.insert_qoe_session(&other).await.unwrap();
    let of = c.qoe.qoe_sessions_of(&id, 10).await.unwrap();
    assert_eq!(of.len(), 2);
    assert_eq!(c.qoe.qoe_sessions_of(&id, 1).await.unwrap().len(), 1);

    // Old sessions are pruned; recent ones stay.
    assert_eq!(
        c.qoe
            .prune_qoe_sessions(Duration::from_secs(86_400), Duration::from_secs(86_400))
            .await
            .unwrap(),
        0
    );
    // Sessions leave with their video.
    c.videos.begin_delete(&id, None).await.unwrap();
    assert!(c.videos.purge(&id).await.unwrap());
    assert!(c.qoe.qoe_session(SID).await.unwrap().is_none());
    assert!(c.qoe.qoe_sessions_of(&id, 10).await.unwrap().is_empty());

    let id2 = add_video(&c, "old").await;
    let mut played = s.clone();
    played.video_id = id2.clone();
    c.qoe.insert_qoe_session(&played).await.unwrap();
    let unplayed = reel_node::catalog::QoeSession {
        sid: "unplayed".into(),
        played_ms: 0,
        played_kbit: 0.0,
        startup_ms: None,
        ..played.clone()
    };
    c.qoe.insert_qoe_session(&unplayed).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let prune = |age: Duration, unplayed_age: Duration| {
        let c = c.clone();
        async move { c.qoe.prune_qoe_sessions(age, unplayed_age).await.unwrap() }
    };
    // Sessions that never played go first…
    assert_eq!(
        prune(Duration::from_secs(86_400), Duration::from_millis(1)).await,
        1
    );
    assert!(c.qoe.qoe_session("unplayed").await.unwrap().is_none());
    assert!(c.qoe.qoe_session(SID).await.unwrap().is_some());
    // …the others when they are old.
    assert_eq!(
        prune(Duration::from_millis(1), Duration::from_millis(1)).await,
        1
    );
}

/// Nodes folding reports of one session at the same moment: every report
/// is either folded or reported stale, and the session ends at the last.
async fn concurrent_folds_lose_nothing(db: TestDb) {
    let c = db.open_catalog().await;
    let id = add_video(&c, "crowd").await;
    let start = parse_body(&body(&id, &["e=ps,sn=0,sta=p,ts=1000000,br=(1000)"]), 100).unwrap();
    record(c.qoe.as_ref(), &start, NOW, &|| true).await.unwrap();
    let mut tasks = Vec::new();
    for sn in 1..=12 {
        let c = c.clone();
        let b = body(
            &id,
            &[&format!("e=t,sn={sn},sta=p,ts={}", 1_000_000 + sn * 1000)],
        );
        tasks.push(tokio::spawn(async move {
            record(
                c.qoe.as_ref(),
                &parse_body(&b, 100).unwrap(),
                NOW + sn * 1000,
                &|| true,
            )
            .await
            .unwrap()
        }));
    }
    let (mut applied, mut stale, mut credited) = (0, 0, 0);
    for t in tasks {
        let d = t.await.unwrap();
        applied += d.applied;
        stale += d.stale;
        credited += d.played_ms;
    }
    assert_eq!(applied + stale, 12);
    let s = c.qoe.qoe_session(SID).await.unwrap().unwrap();
    // No fold overwrote another: what the folds say they credited is what
    // the row holds, and it spans the first report to the last applied.
    assert_eq!(credited, s.played_ms);
    assert_eq!(s.played_ms, s.last_ts - 1_000_000);
    assert!(applied >= 1 && s.last_sn >= 1);
}

crate::on_every_engine!(
    sessions_fold_once_and_go_with_their_video,
    concurrent_folds_lose_nothing
);

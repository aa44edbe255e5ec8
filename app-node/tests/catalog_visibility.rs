//! Visibility in the catalog, on SQLite, PostgreSQL and MariaDB: new videos
//! are public; unlisted and private videos are in no listing, search or
//! catalog page, except their owner's own listing; the change is one
//! column that `catalog copy` carries; the database refuses values other
//! than the three.

mod common;

use common::db::{Engine, TestDb};
use common::fixtures::{add_owned_video, add_video, publish};
use reel_node::catalog::{
    new_id, new_version, Catalog, JobSource, NewVideo, Role, StatusFilter, VideoStatus, Visibility,
};

async fn ids_listed(c: &Catalog, q: Option<&str>, owner: Option<i64>) -> Vec<String> {
    let p = c
        .videos
        .list(q, StatusFilter::All, owner, 1, 100)
        .await
        .unwrap();
    assert_eq!(
        p.total as usize,
        p.videos.len(),
        "total counts the same rows"
    );
    p.videos.into_iter().map(|v| v.id).collect()
}

async fn ids_on_home(c: &Catalog, q: Option<&str>) -> Vec<String> {
    let h = c.videos.home(q, 1, 100).await.unwrap();
    h.ready
        .into_iter()
        .chain(h.processing)
        .map(|v| v.id)
        .collect()
}

async fn only_public_videos_are_listed(db: TestDb) {
    let c = db.open_catalog().await;
    let alice = c
        .accounts
        .add_user("alice", "h", Role::Uploader)
        .await
        .unwrap();
    let public = add_owned_video(&c, "Harbour public", Some(alice)).await;
    let unlisted = add_owned_video(&c, "Harbour unlisted", Some(alice)).await;
    let private = add_owned_video(&c, "Harbour private", Some(alice)).await;
    // A processing private video must not show on the first page either.
    let queued_private = add_video(&c, "Harbour queued").await;
    for id in [&public, &unlisted, &private] {
        publish(&c, id, &new_version()).await;
    }
    let v = c.videos.get(&public).await.unwrap().unwrap();
    assert_eq!(v.visibility, Visibility::Public, "the default");
    assert!(c
        .videos
        .set_visibility(&unlisted, Visibility::Unlisted)
        .await
        .unwrap());
    for id in [&private, &queued_private] {
        assert!(c
            .videos
            .set_visibility(id, Visibility::Private)
            .await
            .unwrap());
    }
    assert!(!c
        .videos
        .set_visibility("0000000000000000", Visibility::Private)
        .await
        .unwrap());
    let got = c.videos.get(&private).await.unwrap().unwrap();
    assert_eq!(got.visibility, Visibility::Private);
    assert_eq!(
        c.videos.access(&unlisted).await.unwrap(),
        Some((VideoStatus::Ready, Visibility::Unlisted))
    );
    assert_eq!(c.videos.access("0000000000000000").await.unwrap(), None);

    assert_eq!(ids_listed(&c, None, None).await, vec![public.clone()]);
    assert_eq!(
        ids_listed(&c, Some("harbour"), None).await,
        vec![public.clone()],
        "search"
    );
    assert_eq!(ids_on_home(&c, None).await, vec![public.clone()]);
    assert_eq!(ids_on_home(&c, Some("harbour")).await, vec![public.clone()]);
    let ready = c
        .videos
        .list(None, StatusFilter::Ready, None, 1, 10)
        .await
        .unwrap();
    assert_eq!(ready.total, 1);
    let processing = c
        .videos
        .list(None, StatusFilter::Processing, None, 1, 10)
        .await
        .unwrap();
    assert_eq!(processing.total, 0, "the queued private video is hidden");

    // The owner's own listing has every one of their videos.
    let mut mine = ids_listed(&c, None, Some(alice)).await;
    mine.sort();
    let mut expected = vec![public.clone(), unlisted.clone(), private.clone()];
    expected.sort();
    assert_eq!(mine, expected);

    // Back to public: listed again.
    c.videos
        .set_visibility(&private, Visibility::Public)
        .await
        .unwrap();
    assert_eq!(ids_listed(&c, None, None).await.len(), 2);
}

async fn the_database_refuses_other_values(db: TestDb) {
    let c = db.open_catalog().await;
    let id = add_video(&c, "Checked").await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    // The id is hex: safe to write into the statement, which spares the
    // engines' different placeholder spellings.
    let bad = format!("UPDATE videos SET visibility = 'friends' WHERE id = '{id}'");
    assert!(
        sqlx::query(&bad).execute(&pool).await.is_err(),
        "CHECK constraint"
    );
    pool.close().await;
    let v = c.videos.get(&id).await.unwrap().unwrap();
    assert_eq!(v.visibility, Visibility::Public);
}

/// `catalog copy` from SQLite carries the column.
async fn copy_carries_visibility(db: TestDb) {
    let from = TestDb::new(Engine::Sqlite).await;
    let src = from.open_catalog().await;
    let unlisted = add_video(&src, "Unlisted").await;
    let private = add_video(&src, "Private").await;
    let public = add_video(&src, "Public").await;
    src.videos
        .set_visibility(&unlisted, Visibility::Unlisted)
        .await
        .unwrap();
    src.videos
        .set_visibility(&private, Visibility::Private)
        .await
        .unwrap();
    let quiet = |_: &str, _: u64, _: u64| {};
    reel_node::catalog::copy_catalog(&from.url, &db.url, &quiet)
        .await
        .unwrap();
    let dst = db.open_catalog().await;
    for (id, want) in [
        (&unlisted, Visibility::Unlisted),
        (&private, Visibility::Private),
        (&public, Visibility::Public),
    ] {
        let v = dst.videos.get(id).await.unwrap().unwrap();
        assert_eq!(v.visibility, want, "{}", v.title);
    }
    assert_eq!(ids_listed(&dst, None, None).await, vec![public.clone()]);
}

/// A video created private is never listed, not even while queued.
async fn created_private(db: TestDb) {
    let c = db.open_catalog().await;
    let nv = NewVideo {
        id: new_id(),
        title: "Born private".into(),
        source: "test".into(),
        owner_id: None,
        visibility: Visibility::Private,
    };
    let v = c
        .videos
        .create(&nv, &JobSource::Url("http://127.0.0.1/x.mp4".into()))
        .await
        .unwrap();
    assert_eq!(v.visibility, Visibility::Private);
    assert!(ids_listed(&c, None, None).await.is_empty());
    assert!(ids_on_home(&c, None).await.is_empty());
}

crate::on_every_engine!(
    created_private,
    only_public_videos_are_listed,
    the_database_refuses_other_values,
    copy_carries_visibility,
);

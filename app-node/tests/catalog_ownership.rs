//! Ownership and roles in the catalog, run unchanged on SQLite, PostgreSQL
//! and MariaDB: videos keep their owner, listings narrow to one owner, roles
//! are read back with tokens and sessions, and removing a user leaves their
//! videos without an owner.

mod common;

use std::time::Duration;

use common::db::TestDb;
use common::fixtures::{add_owned_video, add_video, publish};
use reel_node::catalog::{new_version, Catalog, Role, StatusFilter};

/// Ids of one listing page, newest first, and its total.
async fn listed(
    c: &Catalog,
    query: Option<&str>,
    filter: StatusFilter,
    owner_id: Option<i64>,
) -> (Vec<String>, i64) {
    let p = c.videos.list(query, filter, owner_id, 1, 24).await.unwrap();
    (p.videos.into_iter().map(|v| v.id).collect(), p.total)
}

async fn owners_roles_and_the_owner_filter(db: TestDb) {
    let c = db.open_catalog().await;
    let alice = c
        .accounts
        .add_user("alice", "hash-a", Role::Uploader)
        .await
        .unwrap();
    let root = c
        .accounts
        .add_user("root", "hash-r", Role::Admin)
        .await
        .unwrap();

    // Roles are read back by name, with a token and with a session.
    let r = c.accounts.user("root").await.unwrap().unwrap();
    assert_eq!((r.id, r.name.as_str(), r.role), (root, "root", Role::Admin));
    assert_eq!(
        c.accounts.user("alice").await.unwrap().unwrap().role,
        Role::Uploader
    );
    assert!(c.accounts.user("nobody").await.unwrap().is_none());
    c.accounts.add_token("root", "root-token").await.unwrap();
    let by_token = c.accounts.token_user("root-token").await.unwrap().unwrap();
    assert_eq!((by_token.id, by_token.role), (root, Role::Admin));
    c.accounts
        .add_session("sid-a", alice, "csrf", Duration::from_secs(600))
        .await
        .unwrap();
    let (by_session, _) = c.accounts.session("sid-a").await.unwrap().unwrap();
    assert_eq!((by_session.id, by_session.role), (alice, Role::Uploader));

    // Videos keep their owner; an ownerless one has none.
    // Apart in time, so "newest first" is one order.
    let gap = || tokio::time::sleep(Duration::from_millis(3));
    let a1 = add_owned_video(&c, "Alice at dawn", Some(alice)).await;
    gap().await;
    let a2 = add_owned_video(&c, "Alice at sunset", Some(alice)).await;
    gap().await;
    let r1 = add_owned_video(&c, "Root at sunset", Some(root)).await;
    gap().await;
    let legacy = add_video(&c, "From before owners").await;
    let v = c.videos.get(&a1).await.unwrap().unwrap();
    assert_eq!(
        (v.owner_id, v.owner.as_deref()),
        (Some(alice), Some("alice"))
    );
    let l = c.videos.get(&legacy).await.unwrap().unwrap();
    assert_eq!((l.owner_id, l.owner.as_deref()), (None, None));

    // Who may edit what: the owner, and admins anything.
    let r1v = c.videos.get(&r1).await.unwrap().unwrap();
    assert!(v.editable_by(alice, Role::Uploader));
    assert!(v.editable_by(root, Role::Admin));
    assert!(!r1v.editable_by(alice, Role::Uploader));
    assert!(
        !l.editable_by(alice, Role::Uploader),
        "ownerless: admins only"
    );
    assert!(l.editable_by(alice, Role::Admin));

    // The owner filter, alone and with a search and a status.
    assert_eq!(
        listed(&c, None, StatusFilter::All, Some(alice)).await,
        (vec![a2.clone(), a1.clone()], 2)
    );
    assert_eq!(
        listed(&c, Some("SUNSET"), StatusFilter::All, Some(alice)).await,
        (vec![a2.clone()], 1)
    );
    assert_eq!(
        listed(&c, None, StatusFilter::All, Some(root)).await,
        (vec![r1.clone()], 1)
    );
    assert_eq!(listed(&c, None, StatusFilter::All, None).await.1, 4);
    assert_eq!(
        listed(&c, None, StatusFilter::All, Some(root + alice + 100)).await,
        (vec![], 0)
    );
    publish(&c, &a1, &new_version()).await;
    assert_eq!(
        listed(&c, None, StatusFilter::Ready, Some(alice)).await,
        (vec![a1.clone()], 1)
    );
    assert_eq!(
        listed(&c, None, StatusFilter::Ready, Some(root)).await,
        (vec![], 0)
    );
    // Listing pages carry the owner's name too.
    let page = c.videos.list(None, StatusFilter::All, None, 1, 24).await;
    let page = page.unwrap();
    let owners: Vec<_> = page.videos.iter().map(|v| v.owner.as_deref()).collect();
    assert_eq!(
        owners,
        [None, Some("root"), Some("alice"), Some("alice")],
        "newest first"
    );
    let home = c.videos.home(None, 1, 24).await.unwrap();
    assert_eq!(home.ready[0].owner.as_deref(), Some("alice"));
    assert!(home
        .processing
        .iter()
        .any(|v| v.owner.as_deref() == Some("root")));

    // Roles change, and the change is seen through tokens at once; setting
    // the same role again still finds the user.
    assert!(c.accounts.set_role("alice", Role::Admin).await.unwrap());
    assert!(c.accounts.set_role("alice", Role::Admin).await.unwrap());
    assert!(!c.accounts.set_role("nobody", Role::Admin).await.unwrap());
    let (again, _) = c.accounts.session("sid-a").await.unwrap().unwrap();
    assert_eq!(again.role, Role::Admin);
    assert!(c.accounts.set_role("alice", Role::Uploader).await.unwrap());

    // Removing a user keeps their videos, with no owner.
    assert!(c.accounts.remove_user("alice").await.unwrap());
    for id in [&a1, &a2] {
        let v = c.videos.get(id).await.unwrap().unwrap();
        assert_eq!((v.owner_id, v.owner), (None, None), "{id}");
    }
    assert_eq!(
        listed(&c, None, StatusFilter::All, Some(alice)).await,
        (vec![], 0)
    );
    assert_eq!(listed(&c, None, StatusFilter::All, None).await.1, 4);
    let r1v = c.videos.get(&r1).await.unwrap().unwrap();
    assert_eq!(r1v.owner_id, Some(root), "other owners untouched");
}

crate::on_every_engine!(owners_roles_and_the_owner_filter);

//! The accounts part of the catalog suite (uploaders, tokens, sessions),
//! run unchanged on SQLite, PostgreSQL and MariaDB like `catalog_suite.rs`.

mod common;

use std::time::Duration;

use common::db::TestDb;
use reel_node::catalog::{self, Role};

async fn accounts(db: TestDb) {
    let c = db.open_catalog().await;
    let uid = c
        .accounts
        .add_user("alice", "hash-a", Role::Uploader)
        .await
        .unwrap();
    assert!(matches!(
        c.accounts.add_user("alice", "other", Role::Uploader).await,
        Err(catalog::CatalogError::Conflict(_))
    ));
    let bob = c
        .accounts
        .add_user("bob", "hash-b", Role::Uploader)
        .await
        .unwrap();
    assert_ne!(uid, bob);
    assert_eq!(
        c.accounts.user_password("alice").await.unwrap(),
        Some((uid, "hash-a".into()))
    );
    assert!(c.accounts.user_password("carol").await.unwrap().is_none());
    c.accounts.add_token("alice", "tok-hash").await.unwrap();
    let alice = c.accounts.token_user("tok-hash").await.unwrap().unwrap();
    assert_eq!((alice.id, alice.name.as_str()), (uid, "alice"));
    assert_eq!(alice.role, Role::Uploader);
    assert!(c.accounts.token_user("nope").await.unwrap().is_none());
    assert!(matches!(
        c.accounts.add_token("carol", "t2").await,
        Err(catalog::CatalogError::NotFound(_))
    ));
    c.accounts
        .add_session("sid", uid, "csrf", Duration::from_secs(3600))
        .await
        .unwrap();
    let (user, csrf) = c.accounts.session("sid").await.unwrap().unwrap();
    assert_eq!(
        (user.id, user.role, csrf.as_str()),
        (uid, Role::Uploader, "csrf")
    );
    c.accounts
        .add_session("old", uid, "csrf2", Duration::ZERO)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        c.accounts.session("old").await.unwrap().is_none(),
        "expired"
    );
    c.accounts.delete_session("sid").await.unwrap();
    assert!(c.accounts.session("sid").await.unwrap().is_none());
    c.health.ping().await.unwrap();
}

/// Operators list tokens by id (never the secret), revoke one by id, and
/// remove a user with everything that lets them in.
async fn tokens_list_revoke_and_user_removal(db: TestDb) {
    let c = db.open_catalog().await;
    let alice = c
        .accounts
        .add_user("alice", "hash-a", Role::Uploader)
        .await
        .unwrap();
    c.accounts
        .add_user("bob", "hash-b", Role::Uploader)
        .await
        .unwrap();
    let (ha, hb, hc) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
    c.accounts.add_token("alice", &ha).await.unwrap();
    c.accounts.add_token("alice", &hb).await.unwrap();
    c.accounts.add_token("bob", &hc).await.unwrap();
    let all = c.accounts.list_tokens(None).await.unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|t| t.id.len() == catalog::TOKEN_ID_LEN));
    let mine = c.accounts.list_tokens(Some("alice")).await.unwrap();
    let ids: Vec<&str> = mine.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&&ha[..12]) && ids.contains(&&hb[..12]));
    assert!(mine.iter().all(|t| t.user == "alice" && t.created_at > 0));

    assert!(c.accounts.revoke_token(&ha[..12]).await.unwrap());
    assert!(c.accounts.token_user(&ha).await.unwrap().is_none());
    let owner = c.accounts.token_user(&hb).await.unwrap().map(|u| u.id);
    assert_eq!(owner, Some(alice));
    assert!(!c.accounts.revoke_token(&ha[..12]).await.unwrap(), "twice");
    // Pattern characters or a short prefix never match anything.
    for bad in ["%", "bbbb", "bbbbbbbbbbb_"] {
        assert!(!c.accounts.revoke_token(bad).await.unwrap(), "{bad}");
    }
    assert!(c.accounts.token_user(&hb).await.unwrap().is_some());

    c.accounts
        .add_session("sid-a", alice, "csrf", Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(c.accounts.remove_user("alice").await.unwrap());
    assert!(!c.accounts.remove_user("alice").await.unwrap());
    assert!(c.accounts.token_user(&hb).await.unwrap().is_none());
    assert!(c.accounts.session("sid-a").await.unwrap().is_none());
    assert!(c.accounts.user_password("alice").await.unwrap().is_none());
    assert!(
        c.accounts.token_user(&hc).await.unwrap().is_some(),
        "bob keeps his"
    );
}

crate::on_every_engine!(accounts, tokens_list_revoke_and_user_removal);

//! The catalog listings a node keeps for visitors who are not signed in:
//! kept for `http.listing_cache_ms`, never shared with a signed-in uploader
//! (whose page carries a CSRF token), and forgotten when a change is made
//! through this node.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::fixtures::{add_owned_video, publish};
use common::TestNode;
use reel_node::auth::{digest, new_secret};
use reel_node::catalog::new_version;

/// A ready video of the test uploader, published behind the node's back.
async fn ready(node: &TestNode, title: &str) -> String {
    let c = &node.state.catalog;
    let tester = c.accounts.user("tester").await.unwrap().map(|u| u.id);
    let id = add_owned_video(c, title, tester).await;
    publish(c, &id, &new_version()).await;
    id
}

/// A signed-in browser's cookie for the test uploader.
async fn session_cookie(node: &TestNode) -> String {
    let (user_id, _) = node
        .state
        .catalog
        .accounts
        .user_password("tester")
        .await
        .unwrap()
        .unwrap();
    let sid = new_secret();
    node.state
        .catalog
        .accounts
        .add_session(
            &digest(&sid),
            user_id,
            "csrf-of-the-uploader",
            Duration::from_secs(600),
        )
        .await
        .unwrap();
    format!("reel_session={sid}")
}

async fn page(node: &TestNode, uri: &str, cookie: Option<&str>) -> String {
    let mut req = Request::get(uri);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let (status, _, body) = node.call(req.body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{uri}");
    String::from_utf8(body).unwrap()
}

#[tokio::test]
async fn visitors_share_a_kept_listing_uploaders_never_do_and_changes_here_clear_it() {
    let node = TestNode::new(&[("http.listing_cache_ms", "60000")]).await;
    let first = ready(&node, "First light").await;
    let home = page(&node, "/", None).await;
    assert!(home.contains(&first), "{home}");
    let api = page(&node, "/api/videos", None).await;
    assert!(api.contains(&first));

    // Published behind the node's back (by another node, say): visitors
    // keep seeing the kept listings.
    let second = ready(&node, "Second wind").await;
    assert!(!page(&node, "/", None).await.contains(&second));
    assert!(!page(&node, "/api/videos", None).await.contains(&second));
    // Another search or page is its own listing.
    assert!(page(&node, "/?q=wind", None).await.contains(&second));

    // A signed-in uploader gets a fresh page with their CSRF token…
    let cookie = session_cookie(&node).await;
    let mine = page(&node, "/", Some(&cookie)).await;
    assert!(mine.contains(&second), "uploaders see every change at once");
    assert!(mine.contains("csrf-of-the-uploader"));
    // …which no visitor is ever given.
    let theirs = page(&node, "/", None).await;
    assert!(!theirs.contains("csrf-of-the-uploader"));
    assert!(!theirs.contains("Sign out"));

    // A change through this node clears every kept listing.
    let req = Request::patch(format!("/api/videos/{first}"))
        .header(header::AUTHORIZATION, format!("Bearer {}", node.token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"title":"First light, renamed"}"#))
        .unwrap();
    assert_eq!(node.call(req).await.0, StatusCode::OK);
    let home = page(&node, "/", None).await;
    assert!(home.contains(&second) && home.contains("First light, renamed"));
    assert!(page(&node, "/api/videos", None).await.contains(&second));

    // A refused change clears nothing.
    let third = ready(&node, "Third time").await;
    let req = Request::patch(format!("/api/videos/{first}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"title":"no token"}"#))
        .unwrap();
    assert_eq!(node.call(req).await.0, StatusCode::UNAUTHORIZED);
    assert!(!page(&node, "/", None).await.contains(&third));
}

#[tokio::test]
async fn a_kept_listing_expires() {
    let node = TestNode::new(&[("http.listing_cache_ms", "300")]).await;
    page(&node, "/", None).await;
    let id = ready(&node, "Late arrival").await;
    assert!(!page(&node, "/", None).await.contains(&id));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(page(&node, "/", None).await.contains(&id));
}

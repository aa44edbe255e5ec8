//! Ownership through the HTTP API and pages, driven through the router with
//! `oneshot`: uploaders change only their own videos (403 otherwise, and
//! the video is left as it was), admins change any, `mine=1` lists the
//! caller's own, and the watch page offers changes only to those who may.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::fixtures::{add_owned_video, add_video, publish};
use common::{files_under, TestNode};
use reel_node::auth::{digest, new_secret};
use reel_node::catalog::{new_version, Role};
use serde_json::Value;

/// How a request proves who sends it.
#[derive(Clone)]
enum Caller {
    Token(String),
    /// A signed-in browser: session cookie and its CSRF token.
    Session {
        cookie: String,
        csrf: String,
    },
    Nobody,
}

/// Adds a user with `role` and returns an API token and a signed-in
/// session of theirs.
async fn user(node: &TestNode, name: &str, role: Role) -> (Caller, Caller) {
    let a = &node.state.catalog.accounts;
    let id = a.add_user(name, "unused-hash", role).await.unwrap();
    let token = new_secret();
    a.add_token(name, &digest(&token)).await.unwrap();
    (Caller::Token(token), session_of(node, id).await)
}

async fn session_of(node: &TestNode, user_id: i64) -> Caller {
    let (sid, csrf) = (new_secret(), new_secret());
    node.state
        .catalog
        .accounts
        .add_session(&digest(&sid), user_id, &csrf, Duration::from_secs(600))
        .await
        .unwrap();
    Caller::Session {
        cookie: format!("reel_session={sid}"),
        csrf,
    }
}

async fn tester_id(node: &TestNode) -> i64 {
    let u = node.state.catalog.accounts.user("tester").await.unwrap();
    u.unwrap().id
}

/// Sends a request as `who`; status and JSON body.
async fn send(
    node: &TestNode,
    who: &Caller,
    req: axum::http::request::Builder,
    ctype: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut req = req;
    if let Some(c) = ctype {
        req = req.header(header::CONTENT_TYPE, c);
    }
    match who {
        Caller::Token(t) => req = req.header(header::AUTHORIZATION, format!("Bearer {t}")),
        Caller::Session { cookie, csrf } => {
            req = req
                .header(header::COOKIE, cookie)
                .header("x-csrf-token", csrf)
        }
        Caller::Nobody => {}
    }
    let (s, _, b) = node.call(req.body(Body::from(body)).unwrap()).await;
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

async fn rename(node: &TestNode, who: &Caller, id: &str, title: &str) -> (StatusCode, Value) {
    let body = serde_json::json!({ "title": title }).to_string();
    let req = Request::patch(format!("/api/videos/{id}"));
    send(node, who, req, Some("application/json"), body.into()).await
}

async fn delete(node: &TestNode, who: &Caller, id: &str) -> (StatusCode, Value) {
    let req = Request::delete(format!("/api/videos/{id}"));
    send(node, who, req, None, Vec::new()).await
}

async fn add_track(node: &TestNode, who: &Caller, id: &str, lang: &str) -> (StatusCode, Value) {
    let body = format!(
        "--b\r\nContent-Disposition: form-data; name=\"lang\"\r\n\r\n{lang}\r\n--b\r\n\
         Content-Disposition: form-data; name=\"file\"; filename=\"s.srt\"\r\n\r\n\
         1\n00:00:00,500 --> 00:00:01,000\nhi\n\r\n--b--\r\n"
    );
    let req = Request::post(format!("/api/videos/{id}/subtitles"));
    let ctype = Some("multipart/form-data; boundary=b");
    send(node, who, req, ctype, body.into()).await
}

/// Creates a video by URL through the API as `who`; its JSON.
async fn create(node: &TestNode, who: &Caller, title: &str) -> Value {
    let body = serde_json::json!({"title": title, "source_url": "http://127.0.0.1:9/x.mp4"});
    let req = Request::post("/api/videos");
    let (s, v) = send(
        node,
        who,
        req,
        Some("application/json"),
        body.to_string().into(),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    v
}

/// A ready video (catalog rows only) owned by `owner_id`.
async fn ready(node: &TestNode, title: &str, owner_id: Option<i64>) -> String {
    let c = &node.state.catalog;
    let id = match owner_id {
        Some(_) => add_owned_video(c, title, owner_id).await,
        None => add_video(c, title).await,
    };
    publish(c, &id, &new_version()).await;
    id
}

fn forbidden(r: &(StatusCode, Value)) -> bool {
    r.0 == StatusCode::FORBIDDEN
        && r.1["error"]["code"] == "forbidden"
        && r.1["error"]["message"].is_string()
}

#[tokio::test]
async fn only_the_owner_or_an_admin_changes_a_video() {
    let node = TestNode::new(&[]).await;
    let alice = Caller::Token(node.token.clone());
    let alice_id = tester_id(&node).await;
    let (bob, bob_browser) = user(&node, "bob", Role::Uploader).await;
    let (root, _) = user(&node, "root", Role::Admin).await;

    // What an uploader creates is theirs, by URL and by file.
    let v = create(&node, &alice, "By URL").await;
    assert_eq!(v["owner"], "tester", "{v}");
    // Its owner reads the owner's name back; nobody else does, not even
    // another uploader (a user name is half of a sign-in).
    let uri = format!("/api/videos/{}", v["id"].as_str().unwrap());
    let (s, mine) = send(&node, &alice, Request::get(&uri), None, Vec::new()).await;
    assert_eq!(
        (s, mine["owner"].as_str()),
        (StatusCode::OK, Some("tester"))
    );
    for who in [Caller::Nobody, bob.clone()] {
        let (s, seen) = send(&node, &who, Request::get(&uri), None, Vec::new()).await;
        assert_eq!(s, StatusCode::OK);
        assert!(seen.get("owner").is_none(), "{seen}");
    }
    let (_, all) = send(
        &node,
        &Caller::Nobody,
        Request::get("/api/videos"),
        None,
        Vec::new(),
    )
    .await;
    assert!(all["videos"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v.get("owner").is_none()));
    let b = "--m\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nBy file\r\n--m\r\n\
             Content-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n\r\n\
             bytes\r\n--m--\r\n";
    let ctype = Some("multipart/form-data; boundary=m");
    let (s, v) = send(&node, &alice, Request::post("/api/videos"), ctype, b.into()).await;
    assert_eq!(
        (s, v["owner"].as_str()),
        (StatusCode::ACCEPTED, Some("tester"))
    );

    // Another uploader, by token or signed in, is refused every change…
    let id = ready(&node, "Alice's clip", Some(alice_id)).await;
    let media = node.state.config.storage_path().join(&id);
    let before = node.get(&format!("/api/videos/{id}")).await.1;
    for who in [&bob, &bob_browser] {
        assert!(forbidden(&rename(&node, who, &id, "Bob was here").await));
        assert!(forbidden(&delete(&node, who, &id).await));
        assert!(forbidden(&add_track(&node, who, &id, "fr").await));
    }
    // …and the video is exactly as it was: title, tracks, status, files.
    assert_eq!(node.get(&format!("/api/videos/{id}")).await.1, before);
    assert!(files_under(&media).is_empty(), "a refused track was stored");
    let v: Value = serde_json::from_str(&before).unwrap();
    assert_eq!(
        (v["title"].as_str(), v["status"].as_str()),
        (Some("Alice's clip"), Some("ready"))
    );
    // Unknown ids stay 404 for everyone.
    let unknown = "0123456789abcdef";
    assert_eq!(
        rename(&node, &bob, unknown, "x").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(delete(&node, &bob, unknown).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        add_track(&node, &bob, unknown, "fr").await.0,
        StatusCode::NOT_FOUND
    );

    // An admin may change anyone's video.
    let (s, v) = rename(&node, &root, &id, "Fixed by root").await;
    assert_eq!(
        (s, v["title"].as_str()),
        (StatusCode::OK, Some("Fixed by root"))
    );
    let (s, v) = add_track(&node, &root, &id, "de").await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // The owner may, too.
    let (s, v) = rename(&node, &alice, &id, "Alice's again").await;
    assert_eq!(
        (s, v["title"].as_str()),
        (StatusCode::OK, Some("Alice's again"))
    );
    let (s, v) = add_track(&node, &alice, &id, "fr").await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let langs: Vec<_> = v["subtitles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["lang"].clone())
        .collect();
    assert_eq!(langs, ["de", "en", "fr"]);
    assert_eq!(delete(&node, &alice, &id).await.0, StatusCode::NO_CONTENT);
    let other = ready(&node, "Alice's other", Some(alice_id)).await;
    assert_eq!(delete(&node, &root, &other).await.0, StatusCode::NO_CONTENT);

    // A video with no owner (from before ownership) is left to admins.
    let legacy = ready(&node, "Legacy", None).await;
    assert!(forbidden(&rename(&node, &alice, &legacy, "Mine now").await));
    assert!(forbidden(&delete(&node, &alice, &legacy).await));
    let (s, v) = rename(&node, &root, &legacy, "Kept by root").await;
    assert_eq!((s, v["owner"].clone()), (StatusCode::OK, Value::Null));
    // Without any credentials it is still 401, not 403.
    assert_eq!(
        rename(&node, &Caller::Nobody, &legacy, "x").await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn mine_lists_only_the_callers_videos_and_needs_a_caller() {
    // With the listing cache on: one uploader's listing is never served
    // to another, nor to the anonymous listing.
    let node = TestNode::new(&[("http.listing_cache_ms", "60000")]).await;
    let alice = Caller::Token(node.token.clone());
    let (bob, bob_browser) = user(&node, "bob", Role::Uploader).await;
    let (root, _) = user(&node, "root", Role::Admin).await;
    let a1 = create(&node, &alice, "Alice one").await["id"].clone();
    let a2 = create(&node, &alice, "Alice two").await["id"].clone();
    let b1 = create(&node, &bob, "Bob one").await["id"].clone();
    ready(&node, "Legacy", None).await;

    let list = |who: Caller, q: &'static str| {
        let node = &node;
        async move {
            let req = Request::get(format!("/api/videos{q}"));
            send(node, &who, req, None, Vec::new()).await
        }
    };
    let ids = |v: &Value| -> Vec<Value> {
        let mut ids: Vec<Value> = v["videos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].clone())
            .collect();
        ids.sort_by_key(|v| v.to_string());
        ids
    };
    let sorted = |mut v: Vec<Value>| {
        v.sort_by_key(|v| v.to_string());
        v
    };

    let (s, all) = list(Caller::Nobody, "").await;
    assert_eq!((s, all["total"].as_i64()), (StatusCode::OK, Some(4)));
    let (s, v) = list(Caller::Nobody, "?mine=1").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );

    let (s, v) = list(alice.clone(), "?mine=1").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (ids(&v), v["total"].as_i64()),
        (sorted(vec![a1, a2]), Some(2))
    );
    assert!(v["videos"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["owner"] == "tester"));
    // No cache on the way may keep one uploader's own listing.
    let req = Request::get("/api/videos?mine=1")
        .header(header::AUTHORIZATION, format!("Bearer {}", node.token))
        .body(Body::empty())
        .unwrap();
    let (s, h, _) = node.call(req).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[header::CACHE_CONTROL], "private, no-store");
    for bobs in [bob.clone(), bob_browser] {
        let (s, v) = list(bobs, "?mine=1").await;
        assert_eq!((s, ids(&v)), (StatusCode::OK, vec![b1.clone()]));
    }
    let (_, v) = list(bob.clone(), "?mine=1&q=alice").await;
    assert_eq!(v["total"].as_i64(), Some(0));
    let (_, v) = list(root, "?mine=1").await;
    assert_eq!(v["total"].as_i64(), Some(0), "admins own only their own");
    // Without mine (or mine=0) the listing is everyone's, as before.
    let (_, v) = list(bob.clone(), "?mine=0").await;
    assert_eq!(v["total"].as_i64(), Some(4));
    let (s, v) = list(bob, "?mine=yes").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad-mine"))
    );
}

#[tokio::test]
async fn the_watch_page_offers_changes_only_to_those_who_may() {
    let node = TestNode::new(&[]).await;
    let alice_id = tester_id(&node).await;
    let (_, bob) = user(&node, "bob", Role::Uploader).await;
    let (_, root) = user(&node, "root", Role::Admin).await;
    let alice = session_of(&node, alice_id).await;
    let id = ready(&node, "Alice's clip", Some(alice_id)).await;
    let page = |who: Caller| {
        let node = &node;
        let id = id.clone();
        async move {
            let Caller::Session { cookie, .. } = who else {
                panic!("a browser")
            };
            let req = Request::get(format!("/watch/{id}")).header(header::COOKIE, cookie);
            let (s, _, b) = node.call(req.body(Body::empty()).unwrap()).await;
            assert_eq!(s, StatusCode::OK);
            String::from_utf8(b).unwrap()
        }
    };
    for (who, offered) in [(alice, true), (root, true), (bob, false)] {
        let html = page(who).await;
        assert_eq!(html.contains("id=\"subs-form\""), offered);
        assert_eq!(html.contains("subtitle-upload.js"), offered);
        assert!(html.contains("Sign out"), "still signed in");
    }
}

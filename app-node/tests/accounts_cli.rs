//! Operator account commands against real processes: a token revoked with
//! `reel-node token revoke` is refused at once by every node on the catalog,
//! and `user remove` ends the user's sessions too.

mod common;

use std::time::Duration;

use common::procs::{cli, start, token};

async fn list_status(http: &reqwest::Client, base: &str, token: &str) -> u16 {
    // An authenticated call that changes nothing: a JSON create without a
    // source is refused with 400 after the token is accepted.
    http.post(format!("{base}/api/videos"))
        .bearer_auth(token)
        .json(&serde_json::json!({"title": "x"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_revoked_token_is_refused_at_once_by_every_node() {
    let data = tempfile::tempdir().unwrap();
    let kept = token(data.path());
    let (code, doomed, err) = cli(data.path(), &["token", "create", "tester"], "");
    assert_eq!(code, 0, "{err}");
    let doomed = doomed.trim().to_string();
    let a = start(data.path(), "node-a", &["--no-worker"]);
    let b = start(data.path(), "node-b", &["--no-worker"]);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for node in [&a, &b] {
        assert_eq!(list_status(&http, &node.base, &doomed).await, 400);
    }

    let (code, listing, err) = cli(data.path(), &["token", "list"], "");
    assert_eq!(code, 0, "{err}");
    assert!(
        !listing.contains(&doomed) && !listing.contains(&kept),
        "secrets listed"
    );
    let ids: Vec<&str> = listing
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(ids.len(), 2, "{listing}");
    let (_, check, _) = cli(data.path(), &["token", "check"], &format!("{doomed}\n"));
    let doomed_id = check.trim().strip_prefix("valid ").unwrap().to_string();
    assert!(ids.contains(&doomed_id.as_str()), "{listing} / {check}");

    let (code, _, err) = cli(data.path(), &["token", "revoke", &doomed_id], "");
    assert_eq!(code, 0, "{err}");
    for node in [&a, &b] {
        assert_eq!(list_status(&http, &node.base, &doomed).await, 401);
        assert_eq!(list_status(&http, &node.base, &kept).await, 400);
    }
    let (code, _, err) = cli(data.path(), &["token", "revoke", &doomed_id], "");
    assert_eq!(code, 1, "revoking twice says so");
    assert!(err.contains("not-found"), "{err}");
    let (code, _, _) = cli(data.path(), &["token", "check"], &format!("{doomed}\n"));
    assert_eq!(code, 1);
}

#[tokio::test]
async fn removing_a_user_ends_their_tokens_and_sessions() {
    let data = tempfile::tempdir().unwrap();
    let t = token(data.path());
    let node = start(data.path(), "node-a", &["--no-worker"]);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let r = http
        .post(format!("{}/login", node.base))
        .header("cookie", "reel_login_csrf=tok")
        .form(&[
            ("name", "tester"),
            ("password", "tester-password"),
            ("csrf", "tok"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("reel_session="))
        .unwrap();
    let upload_page = |s: String| {
        http.get(format!("{}/upload", node.base))
            .header("cookie", s)
            .send()
    };
    assert_eq!(upload_page(session.clone()).await.unwrap().status(), 200);

    let (code, _, err) = cli(data.path(), &["user", "remove", "tester"], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(list_status(&http, &node.base, &t).await, 401);
    let r = upload_page(session).await.unwrap();
    assert_eq!(r.status(), 303, "the session must end with the user");
    let (code, _, err) = cli(data.path(), &["user", "remove", "tester"], "");
    assert_eq!((code, err.contains("not-found")), (1, true), "{err}");
}

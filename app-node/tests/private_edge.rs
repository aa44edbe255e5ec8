//! Signed playback through the balancer, with real processes on loopback:
//! the balancer checks every `/v/…` token before its edge cache, so a
//! segment of a private video cached for one valid token is served to
//! another valid token without a node request, but never to a request
//! without a token, with a bad, expired, tampered or foreign one, or with
//! one signed by a key no longer listed; those get 403 from the balancer
//! without reaching a node. Plain `/media` URLs of the private video are
//! refused by the node and never answered from the cache.
//! Needs the workspace's binaries (`cargo build --workspace --bins`).

mod common;

use std::time::Duration;

use common::playback::{unix_now, K1, K2};
use common::procs::{cli_with, import_clip_owned, start_logged, token_with, Balancer};

/// GET through `base`: status, `X-Cache`, body.
async fn get(http: &reqwest::Client, base: &str, path: &str) -> (u16, String, String) {
    let r = http.get(format!("{base}{path}")).send().await.unwrap();
    let status = r.status().as_u16();
    let cache = r
        .headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, cache, r.text().await.unwrap_or_default())
}

#[tokio::test]
async fn the_balancer_checks_tokens_before_its_cache() {
    let data = tempfile::tempdir().unwrap();
    let env = [("REEL_PLAYBACK__KEYS", K1)];
    let api_token = token_with(data.path(), &env);
    let id = import_clip_owned(data.path(), 320, 180, 8, false, "Private", Some("tester"));
    let node = start_logged(data.path(), "node-a", &env);
    let (lb, admin) = Balancer::start_with(&[node.base()], &env);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Public first: its plain segment is cached like any other.
    let (s, _, master) = get(&http, &lb.base, &format!("/media/{id}/master.m3u8")).await;
    assert_eq!(s, 302, "{master}");
    let r = http
        .patch(format!("{}/api/videos/{id}", lb.base))
        .bearer_auth(&api_token)
        .json(&serde_json::json!({"visibility": "private"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Two different valid tokens from the CLI (lifetimes differ).
    let signed = |ttl: &str| {
        let (code, out, err) = cli_with(
            data.path(),
            &env,
            &["playback-url", &id, "--ttl-s", ttl],
            "",
        );
        assert_eq!(code, 0, "{err}");
        assert!(err.contains("/embed/"), "{err}");
        out.trim().to_string()
    };
    let (url_a, url_b) = (signed("600"), signed("601"));
    assert_ne!(url_a, url_b);
    let token_of = |u: &str| u.split('/').nth(2).unwrap().to_string();
    let (token_a, token_b) = (token_of(&url_a), token_of(&url_b));

    // A player's walk through the balancer with token A.
    let (s, _, master) = get(&http, &lb.base, &url_a).await;
    assert_eq!(s, 200, "{master}");
    let dir = url_a.rsplit_once('/').unwrap().0.to_string();
    let rung = master
        .lines()
        .find(|l| l.ends_with(".m3u8") && !l.starts_with('#'))
        .unwrap();
    let rung_path = format!("{dir}/{rung}");
    let (s, _, playlist) = get(&http, &lb.base, &rung_path).await;
    assert_eq!(s, 200);
    let seg = playlist.lines().find(|l| l.ends_with(".m4s")).unwrap();
    let seg_a = format!("{}/{seg}", rung_path.rsplit_once('/').unwrap().0);
    let seg_b = seg_a.replacen(&token_a, &token_b, 1);
    let after_token = seg_a.split_once(&format!("/{id}/")).unwrap().1.to_string();
    let with = |tok: &str| format!("/v/{tok}/{id}/{after_token}");

    let (s, cache, _) = get(&http, &lb.base, &seg_a).await;
    assert_eq!((s, cache.as_str()), (200, "MISS"));
    assert_eq!(node.requests_for(&seg_a), 1);
    // Another viewer's valid token: the same object, no node request.
    let (s, cache, _) = get(&http, &lb.base, &seg_b).await;
    assert_eq!(
        (s, cache.as_str()),
        (200, "HIT"),
        "shared by every valid token"
    );
    assert_eq!(node.requests_for(&seg_b), 0);

    // The cached segment, asked without a valid token.
    let keys = reel_playback::Keys::parse(K1).unwrap();
    let now = unix_now();
    let expired = keys.sign(&id, now - 5).unwrap();
    let foreign = keys.sign("0123456789abcdef", now + 600).unwrap();
    let mut tampered: Vec<char> = token_a.chars().collect();
    let i = tampered.len() - 2;
    tampered[i] = if tampered[i] == 'Q' { 'R' } else { 'Q' };
    let tampered: String = tampered.into_iter().collect();
    let requests_before = node.requests();
    for (tok, what) in [
        ("x", "malformed"),
        (expired.as_str(), "expired"),
        (tampered.as_str(), "tampered"),
        (foreign.as_str(), "another video's"),
    ] {
        let (s, cache, body) = get(&http, &lb.base, &with(tok)).await;
        assert_eq!(s, 403, "{what}: {body}");
        assert_ne!(cache, "HIT", "{what}");
        let j: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(j["error"]["code"], "forbidden", "{what}");
    }
    // No token at all: the plain URL of the same file. The node refuses
    // it, and the cache, which holds it under the signed key, does not
    // answer it.
    let plain = format!("/media/{id}/{after_token}");
    let (s, cache, body) = get(&http, &lb.base, &plain).await;
    assert_eq!((s, cache.as_str()), (403, "MISS"), "{body}");
    assert!(body.contains("private-video"), "{body}");
    assert_eq!(
        node.requests() - requests_before,
        1,
        "only the plain request reached the node"
    );
    let m = reqwest::get(format!("{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.lines()
            .any(|l| l.contains("bad_playback_token") && !l.ends_with(" 0")),
        "refusals counted"
    );

    // Rotation at the balancer: the old key verifies while listed…
    let (rotated, _) = Balancer::start_with(
        &[node.base()],
        &[("REEL_PLAYBACK__KEYS", &format!("{K2},{K1}"))],
    );
    assert_eq!(get(&http, &rotated.base, &seg_a).await.0, 200);
    // …and not once removed, without a node request.
    let (retired, _) = Balancer::start_with(&[node.base()], &[("REEL_PLAYBACK__KEYS", K2)]);
    let before = node.requests();
    let (s, _, _) = get(&http, &retired.base, &seg_a).await;
    assert_eq!(s, 403);
    assert_eq!(node.requests(), before);
}

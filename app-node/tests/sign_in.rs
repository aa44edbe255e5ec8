//! Sign-in and cookie sessions over real loopback HTTP: attempt limits per
//! address and per user name, equal cost for unknown names, cookie flags,
//! and CSRF on every cookie-authenticated POST.

mod common;

use std::time::{Duration, Instant};

use common::{serve, TestNode};
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::StatusCode;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// One sign-in attempt with a matching double-submit token.
async fn attempt(
    base: &str,
    name: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = client()
        .post(format!("{base}/login"))
        .header(COOKIE, "reel_login_csrf=tok")
        .form(&[("name", name), ("password", password), ("csrf", "tok")]);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn sign_ins_are_limited_per_user_name_with_retry_after() {
    let node = TestNode::new(&[
        ("http.login_per_user_per_min", "3"),
        ("http.login_per_ip_per_min", "100"),
    ])
    .await;
    let base = format!("http://{}", serve(&node).await);
    for _ in 0..3 {
        let r = attempt(&base, "tester", "wrong-password", &[]).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // The right password does not help once the name is limited.
    let r = attempt(&base, "TESTER", "tester-password", &[]).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Too many sign-in attempts"));
    // Another name from the same address is still checked.
    let r = attempt(&base, "someone-else", "wrong-password", &[]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn guessing_from_elsewhere_does_not_lock_the_user_out() {
    let node = TestNode::new(&[
        ("http.login_per_user_per_min", "3"),
        ("http.login_per_ip_per_min", "100"),
    ])
    .await;
    let base = format!("http://{}", serve(&node).await);
    for i in 0..10 {
        let ip = format!("203.0.113.{i}");
        attempt(
            &base,
            "tester",
            "wrong-password",
            &[("x-forwarded-for", ip.as_str())],
        )
        .await;
    }
    let r = attempt(
        &base,
        "tester",
        "wrong-password",
        &[("x-forwarded-for", "203.0.113.99")],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the guesser is limited"
    );
    let r = attempt(
        &base,
        "tester",
        "tester-password",
        &[("x-forwarded-for", "198.51.100.9")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the user still gets in");
}

#[tokio::test]
async fn sign_ins_are_limited_per_client_address_as_the_balancer_reports_it() {
    let node = TestNode::new(&[
        ("http.login_per_ip_per_min", "4"),
        ("http.login_per_user_per_min", "100"),
    ])
    .await;
    let base = format!("http://{}", serve(&node).await);
    let from = |ip: &'static str| [("x-forwarded-for", ip)];
    for i in 0..4 {
        let r = attempt(
            &base,
            &format!("u{i}"),
            "wrong-password",
            &from("203.0.113.5"),
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = attempt(&base, "u9", "wrong-password", &from("203.0.113.5")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    // A different client behind the same (trusted) balancer is not affected.
    let r = attempt(&base, "u9", "wrong-password", &from("203.0.113.6")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_untrusted_peer_cannot_dodge_the_limit_with_forwarded_headers() {
    let node = TestNode::new(&[
        ("http.login_per_ip_per_min", "2"),
        ("http.login_per_user_per_min", "100"),
        ("http.trusted_proxies", "[\"192.0.2.1\"]"),
    ])
    .await;
    let base = format!("http://{}", serve(&node).await);
    let mut statuses = Vec::new();
    for i in 0..4 {
        let ip = format!("198.51.100.{i}");
        let r = attempt(
            &base,
            "x",
            "wrong-password",
            &[("x-forwarded-for", ip.as_str())],
        )
        .await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 429, 429]);
}

#[tokio::test]
async fn an_unknown_user_name_costs_as_much_as_a_known_one() {
    let node = TestNode::new(&[
        ("http.login_per_ip_per_min", "1000"),
        ("http.login_per_user_per_min", "1000"),
    ])
    .await;
    let base = format!("http://{}", serve(&node).await);
    // Warm up: the decoy hash is made on first use.
    attempt(&base, "nobody", "wrong-password", &[]).await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..5 {
        let t = Instant::now();
        assert_eq!(
            attempt(&base, "tester", "wrong-password", &[])
                .await
                .status(),
            401
        );
        known.push(t.elapsed());
        let t = Instant::now();
        assert_eq!(
            attempt(&base, &format!("nobody{i}"), "wrong-password", &[])
                .await
                .status(),
            401
        );
        unknown.push(t.elapsed());
    }
    known.sort();
    unknown.sort();
    let (k, u) = (known[2].as_secs_f64(), unknown[2].as_secs_f64());
    // Generous: without the decoy an unknown name answers in well under a
    // tenth of the time of an argon2 check.
    assert!(u > k * 0.4 && u < k * 2.5, "known {k:.4}s, unknown {u:.4}s");
}

/// Signs in and returns the session cookie line and the `reel_session=...` pair.
async fn sign_in(base: &str, headers: &[(&str, &str)]) -> (String, String) {
    let r = attempt(base, "tester", "tester-password", headers).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let line = r
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("reel_session="))
        .unwrap();
    let pair = line.split(';').next().unwrap().to_string();
    (line, pair)
}

#[tokio::test]
async fn the_session_cookie_is_secure_only_behind_a_trusted_https_balancer() {
    let node = TestNode::new(&[]).await;
    let base = format!("http://{}", serve(&node).await);
    let (plain, _) = sign_in(&base, &[]).await;
    assert!(
        plain.contains("HttpOnly") && plain.contains("SameSite=Lax"),
        "{plain}"
    );
    assert!(!plain.contains("Secure"), "{plain}");
    let (https, _) = sign_in(&base, &[("x-forwarded-proto", "https")]).await;
    assert!(https.contains("; Secure"), "{https}");

    let untrusting = TestNode::new(&[("http.trusted_proxies", "[\"192.0.2.1\"]")]).await;
    let base = format!("http://{}", serve(&untrusting).await);
    let (spoofed, _) = sign_in(&base, &[("x-forwarded-proto", "https")]).await;
    assert!(!spoofed.contains("Secure"), "{spoofed}");
}

#[tokio::test]
async fn every_cookie_authenticated_post_needs_the_csrf_token() {
    let node = TestNode::new(&[]).await;
    let base = format!("http://{}", serve(&node).await);
    let (_, session) = sign_in(&base, &[]).await;
    let http = client();
    // The session's token, as the upload page hands it to its script.
    let page = http
        .get(format!("{base}/upload"))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "name=\"csrf-token\" content=\"";
    let at = page
        .find(marker)
        .expect("the upload page carries the CSRF token")
        + marker.len();
    let csrf = page[at..at + page[at..].find('"').unwrap()].to_string();
    let create = |token: Option<&str>| {
        let mut r = http
            .post(format!("{base}/api/videos"))
            .header(COOKIE, &session)
            .header("content-type", "application/json")
            .body(r#"{"title":"t","source_url":"http://127.0.0.1:9/x.mp4"}"#);
        if let Some(t) = token {
            r = r.header("x-csrf-token", t);
        }
        r.send()
    };
    for token in [None, Some("reel_wrong")] {
        let r = create(token).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{token:?}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "csrf-mismatch");
    }
    let r = create(Some(&csrf)).await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // PATCH and DELETE are POST-like too.
    let r = http
        .patch(format!("{base}/api/videos/{id}"))
        .header(COOKIE, &session)
        .json(&serde_json::json!({"title": "renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = http
        .delete(format!("{base}/api/videos/{id}"))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Signing out by a forged form is refused too.
    let r = http
        .post(format!("{base}/logout"))
        .header(COOKIE, &session)
        .form(&[("csrf", "reel_wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The video is still there.
    let r = http
        .get(format!("{base}/api/videos/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_huge_title_field_is_refused_while_it_is_read() {
    let node = TestNode::new(&[]).await;
    let base = format!("http://{}", serve(&node).await);
    let mut body = Vec::new();
    body.extend_from_slice(b"--b\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n");
    body.extend(std::iter::repeat_n(b'a', 1 << 20));
    body.extend_from_slice(b"\r\n--b--\r\n");
    let r = client()
        .post(format!("{base}/api/videos"))
        .bearer_auth(&node.token)
        .header("content-type", "multipart/form-data; boundary=b")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "field-too-large");
    assert!(common::files_under(&node.state.config.tmp_dir()).is_empty());
}

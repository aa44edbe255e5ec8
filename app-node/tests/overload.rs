//! The node's own overload guard: beyond `http.max_concurrency` requests get
//! an immediate 503 with Retry-After; health endpoints stay answerable.

mod common;

use std::time::Duration;

use common::TestNode;

#[tokio::test]
async fn a_full_node_sheds_with_503_but_answers_health_checks() {
    let node = TestNode::new(&[("http.max_concurrency", "1")]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = reel_node::http::app(node.state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    // An upload whose body never finishes holds the only slot.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    tx.send(Ok(
        b"--b\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nslow\r\n".to_vec(),
    ))
    .await
    .unwrap();
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let http = reqwest::Client::new();
    let slow = tokio::spawn({
        let (http, base, token) = (http.clone(), base.clone(), node.token.clone());
        async move {
            http.post(format!("{base}/api/videos"))
                .bearer_auth(token)
                .header("content-type", "multipart/form-data; boundary=b")
                .body(reqwest::Body::wrap_stream(stream))
                .send()
                .await
        }
    });
    // Wait until the slow request is inside the node.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let shed = loop {
        let r = http.get(format!("{base}/api/videos")).send().await.unwrap();
        if r.status() == 503 {
            break r;
        }
        assert!(tokio::time::Instant::now() < deadline, "never shed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(shed.headers()["retry-after"], "1");
    let body: serde_json::Value = shed.json().await.unwrap();
    assert_eq!(body["error"]["code"], "overloaded");
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            http.get(format!("{base}{path}"))
                .send()
                .await
                .unwrap()
                .status(),
            200,
            "{path}"
        );
    }
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("reel_http_shed_total{reason=\"concurrency\"}"));
    // Finish the slow body (malformed on purpose); the slot frees up again.
    drop(tx);
    let _ = slow.await;
    let r = http.get(format!("{base}/api/videos")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

//! A node binary copied to another place serves the player's assets from
//! itself: no source tree, no node_modules next to it.

mod common;

use std::process::Command;

#[tokio::test]
async fn copied_binary_serves_pages_and_pinned_hls_js() {
    let place = tempfile::tempdir().unwrap();
    let bin = place.path().join("reel-node");
    std::fs::copy(common::procs::BIN, &bin).unwrap();
    let data = place.path().join("data");
    let mut cmd = Command::new(&bin);
    cmd.current_dir(place.path())
        .env_clear()
        .env("REEL_DATA_DIR", &data)
        .env("REEL_LISTEN", "127.0.0.1:0")
        .env("REEL_LOG", "warn");
    let node = common::procs::spawn_serve(cmd, &["--no-worker"]);
    let base = node.base.clone();
    let http = reqwest::Client::new();
    let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    for (path, file) in [
        (
            "/static/hls.min.js",
            web.join("node_modules/hls.js/dist/hls.min.js"),
        ),
        ("/static/player.js", web.join("static/player.js")),
        ("/static/style.css", web.join("static/style.css")),
    ] {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let etag = r.headers()["etag"].to_str().unwrap().to_string();
        assert_eq!(
            r.bytes().await.unwrap(),
            std::fs::read(&file).unwrap(),
            "{path}"
        );
        let again = http
            .get(format!("{base}{path}"))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
    }
    for bad in [
        "/static/../Cargo.toml",
        "/static/package.json",
        "/static/hls.js",
    ] {
        let r = http.get(format!("{base}{bad}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{bad}");
    }
    let page = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    drop(node);
}

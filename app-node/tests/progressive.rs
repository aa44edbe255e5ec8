//! Progressive publishing with real ffmpeg: a video is watchable while its
//! ladder is still encoded, its growing playlists only ever name stored
//! segments, and the final playlists extend what viewers were given.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{make_clip, source_server, TestNode};
use reel_node::media::hls::{has_ended, parse_media_playlist};

/// Every `index.m3u8` the master names, by URL.
async fn variant_playlists(node: &TestNode, master_url: &str) -> HashMap<String, String> {
    let (s, master) = node.get(master_url).await;
    assert_eq!(s, StatusCode::OK, "{master_url}");
    let base = master_url.rsplit_once('/').unwrap().0;
    let mut out = HashMap::new();
    for line in master.lines() {
        let uri = if let Some(i) = line.find("URI=\"") {
            line[i + 5..].split('"').next().unwrap().to_string()
        } else if !line.starts_with('#') && !line.is_empty() {
            line.to_string()
        } else {
            continue;
        };
        let url = format!("{base}/{uri}");
        let (s, text) = node.get(&url).await;
        assert_eq!(s, StatusCode::OK, "{url}");
        out.insert(url, text);
    }
    out
}

/// Checks that every file a playlist names is served.
async fn all_named_files_exist(node: &TestNode, url: &str, text: &str) -> usize {
    let base = url.rsplit_once('/').unwrap().0;
    let p = parse_media_playlist(text);
    let mut names: Vec<String> = p.segments.iter().map(|s| s.uri.clone()).collect();
    names.extend(p.init_uri);
    for n in &names {
        let (s, _) = node.get(&format!("{base}/{n}")).await;
        assert_eq!(s, StatusCode::OK, "{base}/{n} named by {url} but missing");
    }
    p.segments.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_video_plays_while_encoded_and_its_playlists_only_grow() {
    let node = Arc::new(TestNode::new(&[]).await);
    let src = tempfile::tempdir().unwrap();
    // Long and detailed enough that the ladder takes several seconds.
    make_clip(&src.path().join("c.mp4"), 1280, 720, 24, true, &[]);
    let addr = source_server(src.path().to_path_buf()).await;
    let body =
        serde_json::json!({"title": "growing", "source_url": format!("http://{addr}/c.mp4")});
    let (s, v) = node.post_json("/api/videos", &body.to_string()).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();

    let worker = {
        let (node, id) = (node.clone(), id.clone());
        tokio::spawn(async move {
            node.process_until_settled(&id, Duration::from_secs(300))
                .await
        })
    };
    let started = Instant::now();
    // Playable, and still processing.
    let playable = loop {
        let (_, text) = node.get(&format!("/api/videos/{id}")).await;
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        if v["playable"] == true {
            break v;
        }
        assert_ne!(
            v["status"], "ready",
            "ready before it was ever playable: {v}"
        );
        assert_ne!(v["status"], "failed", "{v}");
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "never playable"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_ne!(playable["status"], "ready", "{playable}");
    assert!(playable["time_to_playable_s"].as_f64().unwrap() > 0.0);
    let master_url = playable["hls_url"].as_str().unwrap().to_string();
    let early = variant_playlists(&node, &master_url).await;
    assert_eq!(early.len(), 5, "4 rungs and audio: {:?}", early.keys());
    let mut ended_early = 0;
    for (url, text) in &early {
        assert!(text.contains("#EXT-X-START:TIME-OFFSET=0"), "{text}");
        assert!(text.contains("#EXT-X-PLAYLIST-TYPE:EVENT"), "{text}");
        ended_early += usize::from(has_ended(text.as_bytes()));
        assert!(all_named_files_exist(&node, url, text).await >= 1);
    }
    assert!(ended_early < early.len(), "the ladder had already ended");
    // A growing playlist may be kept for a second only.
    let (url, _) = early
        .iter()
        .find(|(_, t)| !has_ended(t.as_bytes()))
        .unwrap();
    let req = axum::http::Request::get(url.as_str())
        .body(axum::body::Body::empty())
        .unwrap();
    let (_, h, _) = node.call(req).await;
    assert_eq!(h["cache-control"], "public, max-age=1");
    // The catalog lists it as watchable.
    let (_, home) = node.get("/").await;
    assert!(home.contains(&format!("href=\"/watch/{id}\"")), "{home}");

    let done = worker.await.unwrap();
    assert_eq!(done["status"], "ready", "{done}");
    assert_eq!(
        done["hls_url"], playable["hls_url"],
        "the same version grew"
    );
    let last = variant_playlists(&node, &master_url).await;
    for (url, text) in &last {
        assert!(has_ended(text.as_bytes()), "{url}: {text}");
        // Append-only: what a viewer had is the start of the final one.
        let before = early[url].trim_end_matches('\n');
        assert!(text.starts_with(before), "{url}:\n{before}\n---\n{text}");
        let n = all_named_files_exist(&node, url, text).await;
        let total: f64 = parse_media_playlist(text)
            .segments
            .iter()
            .map(|s| s.duration_s)
            .sum();
        assert!((total - 24.0).abs() < 0.5, "{url}: {n} segments, {total} s");
    }
    let (_, h, _) = node
        .call(
            axum::http::Request::get(last.keys().next().unwrap().as_str())
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(h["cache-control"], "public, max-age=10");
    eprintln!(
        "playable after {:.1} s of a {:.1} s job",
        playable["time_to_playable_s"].as_f64().unwrap(),
        started.elapsed().as_secs_f64()
    );
}

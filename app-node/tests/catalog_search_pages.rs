//! Searching and paging a catalog of several pages, through the catalog page
//! and the JSON API, following the links the pages give.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::fixtures::{add_video, publish};
use common::TestNode;
use reel_node::catalog::{new_version, FinishOutcome};

const MATCHES: usize = 55;

/// Adds a video; publishes it unless `queued`.
async fn add(node: &TestNode, title: &str, queued: bool) -> String {
    let c = &node.state.catalog;
    let id = add_video(c, title).await;
    if !queued {
        assert_eq!(
            publish(c, &id, &new_version()).await,
            FinishOutcome::Published
        );
    }
    // Distinct upload times, so "newest first" has one right answer.
    tokio::time::sleep(Duration::from_millis(2)).await;
    id
}

/// A catalog of 55 matching ready videos (three pages), 6 ready videos
/// that do not match and one matching video still queued. Returns the
/// matching ready ids newest first, and the queued one.
async fn catalog(node: &TestNode) -> (Vec<String>, String) {
    let mut ids = Vec::new();
    for i in 0..MATCHES {
        ids.push(add(node, &format!("Sun & Sea {i:02}"), false).await);
        if i % 10 == 0 {
            add(node, &format!("Mountain {i:02}"), false).await;
        }
    }
    let queued = add(node, "Sun & Sea, still encoding", true).await;
    ids.reverse();
    (ids, queued)
}

/// Video ids linked from a page, in page order.
fn watch_links(html: &str) -> Vec<String> {
    html.split("href=\"/watch/")
        .skip(1)
        .map(|rest| rest[..16].to_string())
        .collect()
}

/// The `href` of the link with this `rel`, entities decoded.
fn rel_href(html: &str, rel: &str) -> Option<String> {
    let at = html.find(&format!("rel=\"{rel}\" href=\""))?;
    let rest = &html[at + rel.len() + 13..];
    let href = &rest[..rest.find('"')?];
    Some(href.replace("&amp;", "&").replace("&#x2f;", "/"))
}

/// Section of the page holding the ready videos.
fn grid(html: &str) -> &str {
    let start = html.find("id=\"vids-h\"").expect("videos section");
    &html[start..]
}

#[tokio::test]
async fn searching_pages_through_every_match_and_keeps_the_search_in_links() {
    let node = TestNode::new(&[]).await;
    let (ids, queued) = catalog(&node).await;

    let (s, first) = node.get("/?q=sun+%26+sea").await;
    assert_eq!(s, StatusCode::OK, "{first}");
    assert!(first.contains("Results for “sun &amp; sea”"));
    assert_eq!(watch_links(grid(&first)), ids[..24]);
    assert!(
        first.contains(&format!("data-id=\"{queued}\"")),
        "the matching queued video is listed as processing on page 1"
    );
    assert_eq!(rel_href(&first, "prev"), None);
    let next = rel_href(&first, "next").expect("a link to page 2");
    assert_eq!(next, "/?page=2&q=sun+%26+sea");

    let (s, second) = node.get(&next).await;
    assert_eq!(s, StatusCode::OK, "{second}");
    assert_eq!(watch_links(grid(&second)), ids[24..48]);
    assert!(
        !second.contains(&queued),
        "processing videos show on page 1 only"
    );
    assert_eq!(
        rel_href(&second, "prev").as_deref(),
        Some("/?page=1&q=sun+%26+sea")
    );
    let next = rel_href(&second, "next").expect("a link to page 3");

    let (s, third) = node.get(&next).await;
    assert_eq!(s, StatusCode::OK, "{third}");
    assert_eq!(watch_links(grid(&third)), ids[48..]);
    assert_eq!(
        rel_href(&third, "next"),
        None,
        "the last page links no further"
    );

    let (s, past) = node.get("/?page=9&q=sun+%26+sea").await;
    assert_eq!(s, StatusCode::OK);
    assert!(watch_links(&past).is_empty());
    assert!(rel_href(&past, "prev").is_some());

    // Without a search the catalog pages through all 61 ready videos.
    let (_, home) = node.get("/").await;
    assert_eq!(rel_href(&home, "next").as_deref(), Some("/?page=2"));
    let (_, last) = node.get("/?page=3").await;
    assert_eq!(watch_links(grid(&last)).len(), 61 - 48);
}

#[tokio::test]
async fn the_api_searches_and_pages_with_totals() {
    let node = TestNode::new(&[]).await;
    let (ids, queued) = catalog(&node).await;
    let list = |query: String| {
        let node = &node;
        async move {
            let (s, body) = node.get(&format!("/api/videos?{query}")).await;
            assert_eq!(s, StatusCode::OK, "{body}");
            serde_json::from_str::<serde_json::Value>(&body).unwrap()
        }
    };
    let page_ids = |v: &serde_json::Value| -> Vec<String> {
        v["videos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect()
    };
    let q = "q=sun%20%26%20sea&status=ready";
    let mut seen = Vec::new();
    for page in 1..=3 {
        let v = list(format!("{q}&page={page}")).await;
        assert_eq!(v["total"], MATCHES);
        assert_eq!(
            (v["page"].as_u64(), v["per_page"].as_u64()),
            (Some(page), Some(24))
        );
        for video in v["videos"].as_array().unwrap() {
            assert_eq!(video["renditions"].as_array().unwrap().len(), 2, "{video}");
            assert!(video["title"].as_str().unwrap().starts_with("Sun & Sea "));
        }
        seen.extend(page_ids(&v));
    }
    assert_eq!(seen, ids, "every match once, newest first");
    let past = list(format!("{q}&page=4")).await;
    assert_eq!(
        (past["total"].as_u64(), page_ids(&past).len()),
        (Some(55), 0)
    );

    let v = list("q=SUN%20%26%20SEA&per_page=10&page=6".into()).await;
    assert_eq!(v["total"], MATCHES + 1, "every status, the queued one too");
    assert_eq!(page_ids(&v), ids[49..55]);
    let v = list("q=sun%20%26%20sea&status=processing".into()).await;
    assert_eq!(page_ids(&v), [queued]);
    let v = list("q=mountain&per_page=4&page=2".into()).await;
    assert_eq!((v["total"].as_u64(), page_ids(&v).len()), (Some(6), 2));
}

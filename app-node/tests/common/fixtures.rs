//! Catalog rows for tests that need videos without running ffmpeg: a queued
//! video, and a claimed-then-published one with a two-rung ladder and an
//! English track.

use std::time::Duration;

use reel_node::catalog::{
    new_id, Catalog, FinishOutcome, JobSource, NewVideo, Published, Rendition, Subtitle,
};

/// Adds a queued video (an import by URL) with no owner and returns its id.
pub async fn add_video(c: &Catalog, title: &str) -> String {
    add_owned_video(c, title, None).await
}

/// Adds a queued video owned by user `owner_id` and returns its id.
pub async fn add_owned_video(c: &Catalog, title: &str, owner_id: Option<i64>) -> String {
    let nv = NewVideo {
        id: new_id(),
        title: title.into(),
        source: "test".into(),
        owner_id,
        visibility: reel_node::catalog::Visibility::Public,
    };
    c.videos
        .create(&nv, &JobSource::Url("http://127.0.0.1/x.mp4".into()))
        .await
        .unwrap();
    nv.id
}

/// What a finished ladder of 720p and 360p with a poster and an English
/// track records, under `version`.
pub fn published(version: &str) -> Published {
    Published {
        version: version.into(),
        duration_s: 12.5,
        width: 1280,
        height: 720,
        has_poster: true,
        has_storyboard: false,
        renditions: ["720p", "360p"]
            .iter()
            .map(|n| Rendition {
                name: n.to_string(),
                width: if *n == "720p" { 1280 } else { 640 },
                height: if *n == "720p" { 720 } else { 360 },
                bandwidth: 3_000_000,
                average_bandwidth: 2_500_000,
                codecs: "avc1.64001f,mp4a.40.2".into(),
                frame_rate: 29.97,
                playlist: format!("{n}/index.m3u8"),
            })
            .collect(),
        subtitles: vec![Subtitle {
            lang: "en".into(),
            label: "English".into(),
            path: "subs/en.vtt".into(),
        }],
        time_to_playable_s: Some(3.0),
        announce: None,
    }
}

/// Claims the video's job and publishes [`published`]`(version)`.
pub async fn publish(c: &Catalog, id: &str, version: &str) -> FinishOutcome {
    let job = c
        .jobs
        .claim_for(id, Duration::from_secs(30), 3)
        .await
        .unwrap()
        .unwrap();
    c.jobs.finish(&job, &published(version)).await.unwrap()
}

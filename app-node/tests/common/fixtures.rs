//! Catalog rows for tests that need videos without running ffmpeg: a queued
//! video, a claimed-then-published one with a two-rung ladder and an
//! English track, and a resumable upload half-way.

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

/// Adds a 100-byte resumable upload of `owner_id` holding its first 10
/// bytes; returns its id and the recorded chunk.
pub async fn add_half_upload(c: &Catalog, owner_id: i64) -> (String, reel_node::catalog::Chunk) {
    use reel_node::catalog::{Chunk, LockOutcome, NewUpload};
    let id = new_id();
    c.uploads
        .create_upload(&NewUpload {
            video: NewVideo {
                id: id.clone(),
                title: "Half uploaded".into(),
                source: "upload:h.mp4".into(),
                owner_id: Some(owner_id),
                visibility: reel_node::catalog::Visibility::Public,
            },
            owner_id,
            length: 100,
            metadata: String::new(),
            ttl: Duration::from_secs(3600),
        })
        .await
        .unwrap();
    let LockOutcome::Locked(l) = c
        .uploads
        .lock_upload(&id, 0, Duration::from_secs(60))
        .await
        .unwrap()
    else {
        panic!("no lock on a new upload")
    };
    let part = Chunk {
        start: 0,
        end: 10,
        key: format!("uploads/{id}/0-x"),
    };
    assert!(c
        .uploads
        .advance_upload(
            &l,
            &part,
            Duration::from_secs(3600),
            Duration::from_secs(86400)
        )
        .await
        .unwrap());
    (id, part)
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

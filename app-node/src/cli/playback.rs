//! `playback-url`: a signed link to a video, for the operator (private
//! videos play only through one).

use crate::catalog::{valid_id, VideoStatus};
use crate::config::Config;
use crate::http::VideoJson;

/// Prints the signed master playlist path of video `id` on stdout (its
/// watch and embed pages, and the expiry, on stderr). Exit 1 for an
/// unknown video, 2 without playback keys or with a bad lifetime.
pub async fn playback_url(cfg: Config, id: &str, ttl_s: Option<u64>) -> anyhow::Result<i32> {
    let keys = cfg.playback.keys();
    if keys.is_empty() {
        eprintln!("error[signed-playback-off]: set playback.keys (REEL_PLAYBACK__KEYS) first");
        return Ok(2);
    }
    let max = cfg.playback.max_token_ttl_s;
    let ttl = ttl_s.unwrap_or(cfg.playback.token_ttl_s);
    if ttl == 0 || ttl > max {
        eprintln!("error[bad-ttl]: --ttl-s must be between 1 and {max}");
        return Ok(2);
    }
    if !valid_id(id) {
        eprintln!("error[video-not-found]: no video has this id");
        return Ok(1);
    }
    let catalog = crate::catalog::open(&cfg.catalog_url(), &cfg.catalog_options()).await?;
    let Some(video) = catalog
        .videos
        .get(id)
        .await?
        .filter(|v| v.status != VideoStatus::Deleting)
    else {
        eprintln!("error[video-not-found]: no video has this id");
        return Ok(1);
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let expires_at = now + ttl;
    let token = keys.sign(id, expires_at).expect("keys are not empty");
    let url = VideoJson::signed(&video, Some(&token))
        .hls_url
        .unwrap_or_else(|| reel_playback::signed_path(&token, id, "master.m3u8"));
    println!("{url}");
    eprintln!("watch: /watch/{id}?token={token}");
    eprintln!("embed: /embed/{id}?token={token}");
    eprintln!(
        "expires: {} ({} visibility)",
        crate::http::rfc3339((expires_at * 1000) as i64),
        video.visibility.as_str()
    );
    Ok(0)
}

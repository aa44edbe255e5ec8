//! Optional outputs of a job: embedded subtitles. (The poster and the
//! storyboard come out of the ladder's own run; see
//! [`crate::media::transcode`].)
//!
//! Each is worth having but none is worth failing the video over, so errors
//! are logged and the item is left out.

use std::path::Path;

use crate::catalog::{ClaimedJob, Subtitle};
use crate::media::{self, MediaTools, ProbeInfo};
use crate::subtitles;

/// Extracts embedded text subtitles to sanitised WebVTT, gives each an HLS
/// playlist and lists them in the master playlist; failures only drop that
/// track.
pub async fn subtitles(
    tools: &MediaTools,
    source: &Path,
    info: &ProbeInfo,
    out: &Path,
    job: &ClaimedJob,
) -> Vec<Subtitle> {
    let mut subs = Vec::new();
    let text: Vec<_> = info
        .subtitle_streams
        .iter()
        .filter(|s| media::subtitles::is_text_subtitle(s))
        .collect();
    if text.is_empty() || tokio::fs::create_dir_all(out.join("subs")).await.is_err() {
        return subs;
    }
    for (i, s) in text.into_iter().enumerate() {
        let lang = s
            .language
            .as_deref()
            .and_then(subtitles::normalize_lang)
            .filter(|l| l != "und")
            .unwrap_or_else(|| format!("und-x{i}"));
        if subs.iter().any(|x: &Subtitle| x.lang == lang) {
            continue;
        }
        let path = subtitles::vtt_path(&lang);
        let dest = out.join(&path);
        let done = async {
            media::extract_subtitle(tools, source, s, &dest).await?;
            clean_track(&dest, &lang, info.duration_s, out).await
        };
        match done.await {
            Ok(()) => subs.push(Subtitle {
                label: subtitles::label_for(&lang),
                lang,
                path,
            }),
            Err(e) => tracing::warn!(job = %job.id, "subtitle stream {} skipped: {e}", s.index),
        }
    }
    if !subs.is_empty() {
        if let Err(e) = list_in_master(out, &subs).await {
            tracing::warn!(job = %job.id, "subtitles not listed in the master playlist: {e}");
            return Vec::new();
        }
    }
    subs
}

/// Runs ffmpeg's WebVTT through the same sanitiser as uploads (source
/// metadata is as untrusted as an upload) and writes its HLS playlist.
async fn clean_track(
    vtt: &Path,
    lang: &str,
    duration_s: f64,
    out: &Path,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let raw = tokio::fs::read(vtt).await?;
    let clean = subtitles::to_webvtt(&raw)?;
    media::hls::write_atomic(vtt, clean.as_bytes()).await?;
    let playlist = subtitles::media_playlist(&format!("{lang}.vtt"), duration_s);
    media::hls::write_atomic(
        &out.join(subtitles::playlist_path(lang)),
        playlist.as_bytes(),
    )
    .await?;
    Ok(())
}

async fn list_in_master(out: &Path, subs: &[Subtitle]) -> Result<(), media::MediaError> {
    let path = out.join(media::transcode::MASTER_NAME);
    let text = tokio::fs::read_to_string(&path)
        .await
        .map_err(|e| media::MediaError::io("reading the master playlist", e))?;
    let text = media::replace_subtitles(&text, &subtitles::renditions(subs));
    media::hls::write_atomic(&path, text.as_bytes()).await
}

//! `import`: queue a URL or file and, unless `--no-wait`, run or follow the
//! job with a progress bar until the video is ready or failed.

use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::catalog::{new_id, staged_key, JobSource, NewVideo, VideoStatus};
use crate::config::Config;
use crate::state::AppState;

fn bar() -> ProgressBar {
    let pb = ProgressBar::new(1000);
    pb.set_style(
        ProgressStyle::with_template("{msg:12} [{bar:40}] {percent:>3}% {elapsed}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb
}

/// Runs the `import` command; exit code 0 when the video is ready. With
/// `owner`, that user owns the video; without, it has none (admins alone
/// may edit it). It starts with `visibility`.
pub async fn import(
    cfg: Config,
    source: &str,
    title: &str,
    no_wait: bool,
    owner: Option<&str>,
    visibility: crate::catalog::Visibility,
) -> anyhow::Result<i32> {
    let title = match crate::catalog::clean_title(title) {
        Ok(t) => t,
        Err((code, msg)) => {
            eprintln!("error[{code}]: {msg}");
            return Ok(2);
        }
    };
    let state = AppState::open(cfg).await?;
    let owner_id = match owner {
        None => None,
        Some(name) => match state.catalog.accounts.user(name).await? {
            Some(u) => Some(u.id),
            None => {
                eprintln!("error[not-found]: no user named {name}");
                return Ok(2);
            }
        },
    };
    let id = new_id();
    let looks_like_url = source.contains("://");
    let (job_source, origin) = if looks_like_url {
        match state.downloader.check(source) {
            Ok(u) => (JobSource::Url(u.to_string()), u.to_string()),
            Err(e) => {
                eprintln!("error[{}]: {}", e.code(), e.user_message());
                return Ok(2);
            }
        }
    } else {
        let path = std::path::Path::new(source);
        if !path.is_file() {
            eprintln!("error[not-found]: {source} is not a readable file");
            return Ok(2);
        }
        let key = staged_key(&id);
        state.store.put_file(&key, path).await?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        (JobSource::Stored(key), format!("file:{name}"))
    };
    let video = state
        .catalog
        .videos
        .create(
            &NewVideo {
                id,
                title,
                source: origin,
                owner_id,
                visibility,
            },
            &job_source,
        )
        .await?;
    if no_wait {
        println!("{}", video.id);
        return Ok(0);
    }
    let pb = bar();
    let lease = std::time::Duration::from_secs(state.config.worker.lease_s);
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        crate::cli::serve::stop_signal().await;
        stop.cancel();
    });
    // Run the job here whenever it is runnable (first try and retries);
    // while another worker holds it, follow the catalog until it settles.
    loop {
        if shutdown.is_cancelled() {
            pb.abandon();
            eprintln!(
                "error[interrupted]: stopped; the video {} stays queued",
                video.id
            );
            return Ok(130);
        }
        let claimed = state
            .catalog
            .jobs
            .claim_for(&video.id, lease, state.config.worker.max_attempts)
            .await?;
        if let Some(job) = claimed {
            let pb2 = pb.clone();
            let cb: Arc<dyn Fn(VideoStatus, f64) + Send + Sync> = Arc::new(move |s, p| {
                pb2.set_message(s.as_str());
                pb2.set_position((p * 1000.0) as u64);
            });
            // The outcome lands in the catalog; it is read just below.
            let _ = crate::jobs::process_job(&state, job, shutdown.clone(), Some(cb)).await;
        }
        let Some(v) = state.catalog.videos.get(&video.id).await? else {
            pb.abandon();
            eprintln!("error[deleted]: the video was deleted while importing");
            return Ok(1);
        };
        pb.set_message(v.status.as_str());
        pb.set_position((v.progress * 1000.0) as u64);
        match v.status {
            VideoStatus::Ready => {
                pb.finish_with_message("ready");
                // Standard output keeps only the id, for scripts.
                if let Some(t) = v.time_to_playable_s {
                    eprintln!("playable after {t:.1} s of encoding");
                }
                println!("{}", v.id);
                return Ok(0);
            }
            VideoStatus::Failed => {
                pb.abandon_with_message("failed");
                eprintln!("error[failed]: {}", v.error.unwrap_or_default());
                return Ok(1);
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

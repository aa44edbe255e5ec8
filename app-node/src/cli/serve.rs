//! `serve` and `worker`: the long-running roles, with graceful shutdown.

use std::sync::atomic::Ordering;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::state::AppState;

/// Resolves on SIGTERM or SIGINT.
pub async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Holds an exclusive lock on the scratch folder itself for the life of the
/// process (the kernel drops it when the process dies, however it dies).
pub(super) fn lock_scratch(dir: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    std::fs::create_dir_all(dir)?;
    let f = std::fs::File::open(dir)?;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(f)
}

/// Removes what an earlier run of this node left in its scratch (it was
/// killed mid-job; its jobs are finished by whoever claims them next).
/// Nothing of this process runs yet, so all of it is stale.
async fn clear_scratch(dir: &std::path::Path) {
    let n = crate::tidy::remove_entries(dir, None).await;
    if n > 0 {
        tracing::info!("removed {n} stale scratch entries from {}", dir.display());
    }
}

/// Lifts the open-files limit to its hard maximum: every client connection
/// is a descriptor, and distributions often start services at 1024.
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write and read a struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Removes the scratch folders of other node names on this data_dir whose
/// process is gone (a node started on port 0 gets a new name each time).
/// A folder whose lock can be taken has no live owner; it is removed while
/// held, so no node can start on it half-way.
async fn clear_orphan_scratch(own: &std::path::Path) {
    let Some(parent) = own.parent() else { return };
    let Ok(mut rd) = tokio::fs::read_dir(parent).await else {
        return;
    };
    while let Ok(Some(e)) = rd.next_entry().await {
        let p = e.path();
        if p == own || !e.file_type().await.map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        // Taken non-blocking: a live node holds its own for its lifetime.
        let Ok(lock) = lock_scratch(&p) else { continue };
        match tokio::fs::remove_dir_all(&p).await {
            Ok(()) => tracing::info!("removed the scratch of a stopped node: {}", p.display()),
            Err(err) => tracing::warn!("stale scratch {} not removed: {err}", p.display()),
        }
        drop(lock);
    }
}

/// Runs HTTP (when `http` is true) and the worker (when enabled) until a
/// stop signal: readiness turns 503, the worker hands its job back, and
/// in-flight requests finish before exit.
pub async fn serve(mut cfg: Config, http: bool) -> anyhow::Result<i32> {
    let listener = if http {
        let l = tokio::net::TcpListener::bind(cfg.listen).await?;
        // Port 0 means "any": record the real one so the node name and the
        // printed address are true.
        cfg.listen = l.local_addr()?;
        Some(l)
    } else {
        None
    };
    let run_worker = cfg.worker.enabled || !http;
    // One process per scratch folder: a second one (same data_dir and node
    // name, e.g. `serve` beside `worker`) would wipe the first one's work.
    let _scratch_lock = match lock_scratch(&cfg.tmp_dir()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "error[scratch-in-use]: {} ({e}); give each process on this data_dir its own node_name",
                cfg.tmp_dir().display()
            );
            return Ok(2);
        }
    };
    clear_scratch(&cfg.tmp_dir()).await;
    clear_orphan_scratch(&cfg.tmp_dir()).await;
    raise_fd_limit();
    let state = AppState::open(cfg).await?;
    // `shutdown` stops the worker at once; `stop_accepting` closes the
    // listener only after the grace period, while readiness already says 503
    // so the balancer moves viewers away before any connection is refused.
    let shutdown = CancellationToken::new();
    let stop_accepting = CancellationToken::new();
    {
        let (state, shutdown, stop_accepting) =
            (state.clone(), shutdown.clone(), stop_accepting.clone());
        let grace = std::time::Duration::from_secs(state.config.http.shutdown_grace_s);
        tokio::spawn(async move {
            stop_signal().await;
            tracing::info!("stop signal: draining for {} s", grace.as_secs());
            state.draining.store(true, Ordering::SeqCst);
            shutdown.cancel();
            tokio::select! {
                _ = tokio::time::sleep(grace) => {}
                // A second signal skips the rest of the grace period.
                _ = stop_signal() => {}
            }
            stop_accepting.cancel();
        });
    }
    let worker =
        run_worker.then(|| tokio::spawn(crate::jobs::run_worker(state.clone(), shutdown.clone())));
    let sweeper = tokio::spawn(crate::housekeeping::run_sweeper(
        state.clone(),
        shutdown.clone(),
    ));
    let webhooks = tokio::spawn(crate::webhooks::run_sender(state.clone(), shutdown.clone()));
    if let Some(listener) = listener {
        let addr = listener.local_addr()?;
        // Scripts and tests read this line to find the port.
        println!(
            "reel-node listening on http://{addr} as {}",
            state.node_name
        );
        let limits = crate::http::server::ServerLimits::from_config(&state.config.http);
        let app = crate::http::app(state.clone());
        crate::http::server::serve(listener, app, limits, state.metrics.clone(), stop_accepting)
            .await;
    } else {
        println!("reel-node worker started as {}", state.node_name);
        shutdown.cancelled().await;
    }
    if let Some(w) = worker {
        let _ = w.await;
    }
    let _ = sweeper.await;
    let _ = webhooks.await;
    tracing::info!("stopped");
    Ok(0)
}

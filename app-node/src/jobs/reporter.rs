//! Progress from synchronous callbacks (ffmpeg, downloads) to the catalog,
//! at most once a second so a fast progress stream cannot flood it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::catalog::{ClaimedJob, Jobs, VideoStatus};

/// Handle the pipeline steps report into.
#[derive(Clone)]
pub struct Reporter {
    tx: Arc<watch::Sender<(VideoStatus, f64)>>,
}

impl Reporter {
    /// Starts the writer task; it ends when every `Reporter` clone is
    /// dropped. When the catalog refuses an update (the video row is gone,
    /// or the lease passed to another worker) it fires `lost` and stops, so
    /// the attempt ends at once instead of at the next heartbeat or after a
    /// whole transcode.
    pub fn start(
        jobs: Arc<dyn Jobs>,
        job: ClaimedJob,
        lost: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        let (tx, mut rx) = watch::channel((VideoStatus::Queued, 0.0));
        let task = tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let (status, p) = *rx.borrow_and_update();
                match jobs.progress(&job, status, p).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::info!(job = %job.id, "video deleted or lease lost; stopping");
                        lost.cancel();
                        return;
                    }
                    // A catalog blip is not a loss; the heartbeat decides.
                    Err(e) => tracing::warn!(job = %job.id, "progress not saved: {e}"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        (Reporter { tx: Arc::new(tx) }, task)
    }

    /// Records the stage and overall fraction.
    pub fn set(&self, status: VideoStatus, progress: f64) {
        self.tx.send_replace((status, progress));
    }
}

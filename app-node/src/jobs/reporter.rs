//! Progress from synchronous callbacks (ffmpeg, downloads) to the catalog,
//! at most once a second so a fast progress stream cannot flood it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::catalog::{ClaimedJob, Jobs, VideoStatus};

/// Handle the pipeline steps report into.
#[derive(Clone)]
pub struct Reporter {
    tx: Arc<watch::Sender<(VideoStatus, f64)>>,
}

impl Reporter {
    /// Starts the writer task; it ends when every `Reporter` clone is dropped.
    pub fn start(jobs: Arc<dyn Jobs>, job: ClaimedJob) -> (Self, JoinHandle<()>) {
        let (tx, mut rx) = watch::channel((VideoStatus::Queued, 0.0));
        let task = tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let (status, p) = *rx.borrow_and_update();
                if let Err(e) = jobs.progress(&job, status, p).await {
                    tracing::warn!(job = %job.id, "progress not saved: {e}");
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

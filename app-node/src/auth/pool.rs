//! Password checks on a bounded pool of their own threads.
//!
//! argon2 is slow on purpose. Run on tokio's blocking pool, a sign-in flood
//! would queue behind (and in front of) the file reads that serve media; here
//! it gets a fixed number of threads and a short queue, and beyond that the
//! caller is told to come back later.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};

use super::secrets::{hash_password, verify_password};

type Task = Box<dyn FnOnce() + Send>;

/// The queue of password checks is full.
#[derive(Debug, thiserror::Error)]
#[error("too many sign-ins are being checked; try again shortly")]
pub struct PoolBusy;

impl PoolBusy {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        "login-busy"
    }
}

/// A fixed set of threads that verify passwords.
pub struct PasswordPool {
    tx: SyncSender<Task>,
}

/// Hash checked when the user name is unknown, so that an unknown name
/// costs one argon2 verification like a known one. Made on first use (on a
/// pool thread) so nodes that never see a sign-in never pay for it.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        hash_password("decoy password, never a real one").unwrap_or_else(|_| String::new())
    })
}

impl PasswordPool {
    /// Starts `threads` checker threads with room for `queue` waiting checks.
    pub fn new(threads: usize, queue: usize) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel::<Task>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("reel-password-{i}"))
                .spawn(move || run(rx))?;
        }
        Ok(PasswordPool { tx })
    }

    /// Checks `password` against `stored`, or against a decoy when the user
    /// is unknown (`None`), which never matches.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, PoolBusy> {
        let (done, result) = tokio::sync::oneshot::channel();
        let task: Task = Box::new(move || {
            let ok = match &stored {
                Some(hash) => verify_password(&password, hash),
                None => {
                    let _ = verify_password(&password, decoy_hash());
                    false
                }
            };
            let _ = done.send(ok);
        });
        match self.tx.try_send(task) {
            Ok(()) => Ok(result.await.unwrap_or(false)),
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => Err(PoolBusy),
        }
    }
}

fn run(rx: Arc<Mutex<Receiver<Task>>>) {
    loop {
        // The lock is held only while taking one task off the queue.
        let task = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        match task {
            Ok(task) => task(),
            Err(_) => return, // pool dropped
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn checks_passwords_and_refuses_beyond_its_queue() {
        let pool = PasswordPool::new(1, 1).unwrap();
        let h = hash_password("correct horse").unwrap();
        assert!(pool
            .verify("correct horse".into(), Some(h.clone()))
            .await
            .unwrap());
        assert!(!pool.verify("wrong".into(), Some(h.clone())).await.unwrap());
        assert!(!pool.verify("correct horse".into(), None).await.unwrap());
        // One thread busy, one queued: further checks are refused at once.
        let many: Vec<_> = (0..6)
            .map(|_| pool.verify("x".into(), Some(h.clone())))
            .collect();
        let results = futures_util::future::join_all(many).await;
        assert!(results.iter().any(|r| r.is_err()), "{results:?}");
    }
}

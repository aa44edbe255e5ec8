//! The retry budget: retries may add at most a set share to the requests
//! of the last ten seconds (plus a small floor), so that when the nodes are
//! overloaded, retries cannot multiply the load that overloaded them.

use std::sync::Mutex;

use crate::select::backend::now_ms;

const WINDOW_S: usize = 10;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    second: u64,
    requests: u64,
    retries: u64,
}

/// Requests and retries over a sliding ten-second window.
#[derive(Debug)]
pub struct RetryBudget {
    buckets: Mutex<[Bucket; WINDOW_S]>,
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget {
            buckets: Mutex::new([Bucket::default(); WINDOW_S]),
        }
    }
}

impl RetryBudget {
    fn with_bucket<T>(
        &self,
        now_ms: u64,
        f: impl FnOnce(&mut [Bucket; WINDOW_S], usize) -> T,
    ) -> T {
        let second = now_ms / 1000;
        let idx = (second % WINDOW_S as u64) as usize;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets[idx].second != second {
            buckets[idx] = Bucket {
                second,
                ..Bucket::default()
            };
        }
        f(&mut buckets, idx)
    }

    /// Counts one request that reached selection.
    pub fn record_request(&self) {
        self.with_bucket(now_ms(), |b, i| b[i].requests += 1);
    }

    /// Takes one retry from the budget if `retries ≤ pct % of requests +
    /// min_per_s × 10` still holds over the window; false means the retry
    /// must not happen.
    pub fn try_retry(&self, pct: u32, min_per_s: u32) -> bool {
        self.try_retry_at(now_ms(), pct, min_per_s)
    }

    fn try_retry_at(&self, now_ms: u64, pct: u32, min_per_s: u32) -> bool {
        let second = now_ms / 1000;
        self.with_bucket(now_ms, |b, i| {
            let live = b
                .iter()
                .filter(|x| x.second + WINDOW_S as u64 > second && x.second <= second);
            let (requests, retries) =
                live.fold((0u64, 0u64), |(q, r), x| (q + x.requests, r + x.retries));
            let allowed = requests * u64::from(pct) / 100 + u64::from(min_per_s) * WINDOW_S as u64;
            if retries < allowed {
                b[i].retries += 1;
                true
            } else {
                false
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_retries_at_the_share() {
        let budget = RetryBudget::default();
        let t = 5_000_000;
        for _ in 0..1000 {
            budget.with_bucket(t, |b, i| b[i].requests += 1);
        }
        let granted = (0..1000).filter(|_| budget.try_retry_at(t, 20, 0)).count();
        assert_eq!(granted, 200);
        // The floor lets a quiet balancer still retry.
        let quiet = RetryBudget::default();
        let granted = (0..100).filter(|_| quiet.try_retry_at(t, 20, 1)).count();
        assert_eq!(granted, 10);
        // Old seconds leave the window.
        assert!(budget.try_retry_at(t + 11_000, 20, 1));
    }
}

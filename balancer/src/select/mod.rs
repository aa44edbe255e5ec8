//! The set of backends of one configuration and the choice of the next
//! one for a request.
//!
//! Selection is done here rather than with `pingora-load-balancing` because
//! the balancer needs per-backend in-flight limits, health thresholds kept
//! across reloads, and exclusion of already-tried backends on retry.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub mod backend;

use crate::config::{Config, Selection};
use crate::route;
use backend::{BackendState, Lease};

/// Why no backend could take a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// Every eligible backend is out of rotation.
    #[error("no healthy backend is available")]
    NoHealthy,
    /// Healthy backends exist but all are at their in-flight limit.
    #[error("every healthy backend is at its in-flight limit")]
    Saturated,
}

impl SelectError {
    /// Stable code, also the `reason` label of the shed metric.
    pub fn code(self) -> &'static str {
        match self {
            SelectError::NoHealthy => "no_healthy_backend",
            SelectError::Saturated => "backend_limit",
        }
    }
}

/// One configured backend: its weight in this configuration and its
/// long-lived state.
#[derive(Debug, Clone)]
pub struct Member {
    /// Weight from the configuration.
    pub weight: u32,
    /// Shared live state.
    pub state: Arc<BackendState>,
}

/// Backends of one configuration plus the selection cursor.
#[derive(Debug)]
pub struct Pool {
    members: Vec<Member>,
    selection: Selection,
    per_backend_limit: usize,
    /// Smooth weighted round-robin order (member indexes), computed once.
    schedule: Vec<usize>,
    cursor: AtomicUsize,
}

impl Pool {
    /// Builds the pool for `config`, reusing states from `previous` for
    /// addresses that remain so health and counters carry over a reload.
    pub fn new(config: &Config, previous: Option<&Pool>) -> Pool {
        let known: HashMap<SocketAddr, Arc<BackendState>> = previous
            .map(|p| {
                p.members
                    .iter()
                    .map(|m| (m.state.address(), Arc::clone(&m.state)))
                    .collect()
            })
            .unwrap_or_default();
        let members: Vec<Member> = config
            .backend_addrs()
            .into_iter()
            .zip(config.backend_names())
            .map(|((addr, weight), name)| {
                let state = known
                    .get(&addr)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(BackendState::new(addr)));
                state.set_name(name);
                Member { weight, state }
            })
            .collect();
        let weights: Vec<u32> = members.iter().map(|m| m.weight).collect();
        Pool {
            schedule: smooth_schedule(&weights),
            members,
            selection: config.selection,
            per_backend_limit: config.proxy.max_in_flight_per_backend,
            cursor: AtomicUsize::new(previous.map_or(0, |p| p.cursor.load(Ordering::Relaxed))),
        }
    }

    /// Backends in configuration order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Picks a backend for a request with the given path and reserves an
    /// in-flight slot on it. Backends in `exclude` (already tried) are
    /// skipped; unhealthy and full ones are passed over in order.
    pub fn pick(&self, path: &str, exclude: &[SocketAddr]) -> Result<Lease, SelectError> {
        if self.members.is_empty() {
            return Err(SelectError::NoHealthy);
        }
        let order = self.order(path);
        let mut saw_healthy = false;
        for idx in order {
            let state = &self.members[idx].state;
            if exclude.contains(&state.address()) || !state.is_healthy() {
                continue;
            }
            saw_healthy = true;
            if let Some(lease) = state.try_acquire(self.per_backend_limit) {
                return Ok(lease);
            }
        }
        Err(if saw_healthy {
            SelectError::Saturated
        } else {
            SelectError::NoHealthy
        })
    }

    /// Member indexes in preference order for this request.
    fn order(&self, path: &str) -> Vec<usize> {
        let n = self.members.len();
        match (self.selection, route::video_id(path)) {
            (Selection::ConsistentHash, Some(key)) => {
                let mut ranked: Vec<(f64, usize)> = self
                    .members
                    .iter()
                    .enumerate()
                    .map(|(i, m)| (route::rendezvous_score(key, m.state.label(), m.weight), i))
                    .collect();
                ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
                ranked.into_iter().map(|(_, i)| i).collect()
            }
            (Selection::Weighted, _) => {
                let len = self.schedule.len();
                let start = self.cursor.fetch_add(1, Ordering::Relaxed) % len;
                let mut order = Vec::with_capacity(n);
                for k in 0..len {
                    let idx = self.schedule[(start + k) % len];
                    if !order.contains(&idx) {
                        order.push(idx);
                        if order.len() == n {
                            break;
                        }
                    }
                }
                order
            }
            _ => {
                let start = self.cursor.fetch_add(1, Ordering::Relaxed) % n;
                (0..n).map(|k| (start + k) % n).collect()
            }
        }
    }
}

/// Smooth weighted round robin (as in nginx): spreads each backend's
/// turns evenly through the cycle instead of sending bursts.
fn smooth_schedule(weights: &[u32]) -> Vec<usize> {
    let total: i64 = weights.iter().map(|w| i64::from(*w)).sum();
    let mut current = vec![0i64; weights.len()];
    let mut out = Vec::with_capacity(total.max(0) as usize);
    for _ in 0..total {
        let mut best = 0;
        for (i, w) in weights.iter().enumerate() {
            current[i] += i64::from(*w);
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        out.push(best);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BackendConfig;

    fn config(selection: Selection, weights: &[u32]) -> Config {
        Config {
            selection,
            backends: weights
                .iter()
                .enumerate()
                .map(|(i, w)| BackendConfig {
                    weight: *w,
                    ..BackendConfig::new(format!("127.0.0.1:{}", 9000 + i))
                })
                .collect(),
            ..Config::default()
        }
    }

    fn share(pool: &Pool, path: &str, n: usize) -> Vec<usize> {
        let mut counts = vec![0; pool.members().len()];
        for _ in 0..n {
            let lease = pool.pick(path, &[]).unwrap();
            let i = pool
                .members()
                .iter()
                .position(|m| m.state.address() == lease.backend().address())
                .unwrap();
            counts[i] += 1;
        }
        counts
    }

    #[test]
    fn schedule_is_smooth() {
        assert_eq!(smooth_schedule(&[3, 1]), vec![0, 0, 1, 0]);
        assert_eq!(smooth_schedule(&[1, 1]), vec![0, 1]);
    }

    #[test]
    fn round_robin_and_weighted_split() {
        let p = Pool::new(&config(Selection::RoundRobin, &[3, 1]), None);
        assert_eq!(share(&p, "/", 100), vec![50, 50]);
        let p = Pool::new(&config(Selection::Weighted, &[3, 1]), None);
        assert_eq!(share(&p, "/", 100), vec![75, 25]);
    }

    #[test]
    fn hash_sticks_and_fails_over() {
        let p = Pool::new(&config(Selection::ConsistentHash, &[1, 1, 1]), None);
        let first = p
            .pick("/media/v1/seg_1.m4s", &[])
            .unwrap()
            .backend()
            .address();
        for i in 0..20 {
            let got = p.pick(&format!("/media/v1/seg_{i}.m4s"), &[]).unwrap();
            assert_eq!(got.backend().address(), first);
        }
        let other = p.pick("/media/v1/seg_1.m4s", &[first]).unwrap();
        assert_ne!(other.backend().address(), first);
    }

    #[test]
    fn limits_and_health_are_reported() {
        let mut c = config(Selection::RoundRobin, &[1]);
        c.proxy.max_in_flight_per_backend = 1;
        let p = Pool::new(&c, None);
        let held = p.pick("/", &[]).unwrap();
        assert_eq!(p.pick("/", &[]).unwrap_err(), SelectError::Saturated);
        drop(held);
        p.members()[0].state.record_check(false, 1, 1);
        assert_eq!(p.pick("/", &[]).unwrap_err(), SelectError::NoHealthy);
    }

    #[test]
    fn reload_keeps_state() {
        let p1 = Pool::new(&config(Selection::RoundRobin, &[1, 1]), None);
        p1.members()[0].state.mark_served();
        let p2 = Pool::new(&config(Selection::RoundRobin, &[1, 1, 1]), Some(&p1));
        assert_eq!(p2.members()[0].state.served(), 1);
        assert_eq!(p2.members()[2].state.served(), 0);
    }
}

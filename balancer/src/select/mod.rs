//! Backend selection: the backends of one configuration and the choice of
//! the node for a request.
//!
//! Only *eligible* nodes are chosen from: in rotation (active checks), not
//! ejected (passive checks) and not already tried by this request. So a
//! down or full node's share spreads evenly over the others instead of
//! landing on its neighbour. Recovered and new nodes ramp up slowly. When
//! too few nodes are eligible (for example every node fails readiness at
//! once because a shared database blinked), the panic threshold lets
//! traffic flow to all of them rather than refusing everything.
//!
//! Selection is done here rather than with `pingora-load-balancing` because
//! the balancer needs per-backend in-flight limits, health kept across
//! reloads, passive ejection, slow start and exclusion of tried backends.

pub mod backend;
mod hash;
mod order;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use backend::{now_ms, BackendState, Lease};

use crate::config::{Config, OutlierConfig, Selection};
use crate::refusal::Refusal;

/// One configured backend: its weight in this configuration and its
/// long-lived state.
#[derive(Debug, Clone)]
pub struct Member {
    /// Weight from the configuration.
    pub weight: u32,
    /// Shared live state.
    pub state: Arc<BackendState>,
}

/// How a proxied attempt on a backend ended, for passive checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The node answered (any status that is not a gateway failure).
    Answered,
    /// Reset, timeout or a 502/504 from the node. A node's 503 is load
    /// shedding, not sickness, and a 500 may be provoked by a client's
    /// input; neither is counted.
    Failed,
}

/// The backends of one configuration and the selection state.
#[derive(Debug)]
pub struct Selector {
    members: Vec<Member>,
    selection: Selection,
    per_backend_limit: usize,
    ramp_ms: u64,
    panic_threshold_pct: u32,
    outlier: OutlierConfig,
    cursor: AtomicUsize,
}

/// Whether a choice was made in panic mode (too few eligible nodes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Panicked(pub bool);

impl Selector {
    /// Builds the selector for `config`, reusing states from `previous` for
    /// addresses that remain so health and counters carry over a reload.
    /// Backends new to a running balancer start with the slow-start ramp.
    pub fn new(config: &Config, previous: Option<&Selector>) -> Selector {
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
                    .unwrap_or_else(|| Arc::new(BackendState::new(addr, previous.is_some())));
                state.set_name(name);
                Member { weight, state }
            })
            .collect();
        Selector {
            members,
            selection: config.selection,
            per_backend_limit: config.proxy.max_in_flight_per_backend,
            ramp_ms: config.health.slow_start_s.saturating_mul(1000),
            panic_threshold_pct: config.proxy.panic_threshold_pct,
            outlier: config.outlier.clone(),
            cursor: AtomicUsize::new(previous.map_or(0, |p| p.cursor.load(Ordering::Relaxed))),
        }
    }

    /// Backends in configuration order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Nodes that may be chosen right now, and whether that is every node
    /// because the eligible share fell below the panic threshold.
    fn candidates(&self, exclude: &[SocketAddr], now: u64) -> (Vec<usize>, Panicked) {
        let untried: Vec<usize> = (0..self.members.len())
            .filter(|&i| !exclude.contains(&self.members[i].state.address()))
            .collect();
        let eligible: Vec<usize> = untried
            .iter()
            .copied()
            .filter(|&i| {
                let s = &self.members[i].state;
                s.is_healthy() && !s.is_ejected(now)
            })
            .collect();
        let in_rotation = self
            .members
            .iter()
            .filter(|m| m.state.is_healthy() && !m.state.is_ejected(now))
            .count();
        let below = in_rotation * 100 < self.panic_threshold_pct as usize * self.members.len();
        if in_rotation == 0 || below {
            (untried, Panicked(true))
        } else {
            (eligible, Panicked(false))
        }
    }

    /// Picks a backend for a request and reserves an in-flight slot on it.
    ///
    /// `key` is the video id for consistent hashing. Backends in `exclude`
    /// (already tried by this request) are skipped. `share` (0..=1) is the
    /// part of each node's in-flight limit this request's class may use.
    pub fn pick(
        &self,
        key: Option<&str>,
        exclude: &[SocketAddr],
        share: f64,
    ) -> Result<(Lease, Panicked), Refusal> {
        let now = now_ms();
        let (candidates, panicked) = self.candidates(exclude, now);
        if candidates.is_empty() {
            return Err(Refusal::NoHealthy);
        }
        let factors: Vec<f64> = candidates
            .iter()
            .map(|&i| self.members[i].state.ramp_factor(now, self.ramp_ms))
            .collect();
        let input = order::Input {
            members: &self.members,
            candidates: &candidates,
            factors: &factors,
            cursor: self.cursor.fetch_add(1, Ordering::Relaxed),
        };
        let ranked = match (self.selection, key) {
            (Selection::ConsistentHash, Some(key)) => order::by_hash(&input, key),
            (Selection::ConsistentHash, None) | (Selection::RoundRobin, _) => {
                order::round_robin(&input)
            }
            (Selection::Weighted, _) => order::weighted(&input),
            (Selection::LeastInFlight, _) => order::least_in_flight(&input),
        };
        for pos in ranked {
            let limit =
                ((self.per_backend_limit as f64 * factors[pos] * share).ceil() as usize).max(1);
            let state = &self.members[candidates[pos]].state;
            if let Some(lease) = state.try_acquire(limit) {
                return Ok((lease, panicked));
            }
        }
        Err(Refusal::BackendLimit)
    }

    /// Whether some node could take a request whose class may use `share`
    /// of each node's limit, without reserving anything.
    pub fn has_room(&self, share: f64) -> bool {
        let now = now_ms();
        let (candidates, _) = self.candidates(&[], now);
        candidates.iter().any(|&i| {
            let state = &self.members[i].state;
            let factor = state.ramp_factor(now, self.ramp_ms);
            let limit = ((self.per_backend_limit as f64 * factor * share).ceil() as usize).max(1);
            state.in_flight() < limit
        })
    }

    /// Records how an attempt on `state` ended; ejects the node after
    /// `outlier.consecutive_failures` failures in a row, unless that would
    /// eject more than `outlier.max_ejected_pct` of the nodes.
    /// Returns true when this report ejected the node.
    pub fn report(&self, state: &BackendState, outcome: Outcome) -> bool {
        match outcome {
            Outcome::Answered => {
                state.record_success();
                false
            }
            Outcome::Failed => {
                let streak = state.record_failure();
                let limit = self.outlier.consecutive_failures;
                if limit == 0 || streak < limit {
                    return false;
                }
                let now = now_ms();
                let ejected = self
                    .members
                    .iter()
                    .filter(|m| m.state.is_ejected(now))
                    .count();
                let allowed = self.members.len() * self.outlier.max_ejected_pct as usize / 100;
                if ejected + 1 > allowed {
                    return false;
                }
                state.eject(now, self.outlier.eject_s.saturating_mul(1000))
            }
        }
    }
}

#[cfg(test)]
mod tests;

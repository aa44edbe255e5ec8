//! Per-client limits: concurrent connections (per address and in total)
//! and the request rate per address.
//!
//! Limits key on the client's address; an IPv6 client is keyed on its /64,
//! because one subscriber usually holds a whole /64 and could otherwise
//! rotate through addresses to escape its budget.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pingora_limits::rate::{Rate, PROPORTIONAL_RATE_ESTIMATE_CALC_FN};

use crate::config::LimitsConfig;
use crate::refusal::Refusal;

/// The key one client's budget is counted under.
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// Open viewer connections, per client and in total.
#[derive(Debug, Default)]
pub struct ConnectionLimiter {
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    total: AtomicUsize,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct ConnectionSlot {
    limiter: Arc<ConnectionLimiter>,
    key: Option<IpAddr>,
}

impl ConnectionLimiter {
    /// Open connections in total.
    pub fn open(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        // A panic while holding this lock cannot leave the counts
        // inconsistent (each update is one statement), so poison is ignored.
        self.per_ip.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a connection from `ip` unless a cap is reached. `exempt`
    /// (a trusted proxy carrying many viewers) skips the per-address cap
    /// but still counts toward the total.
    pub fn try_admit(
        self: &Arc<Self>,
        ip: Option<IpAddr>,
        exempt: bool,
        limits: &LimitsConfig,
    ) -> Result<ConnectionSlot, Refusal> {
        self.total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limits.max_connections).then_some(n + 1)
            })
            .map_err(|_| Refusal::ConnectionsTotal)?;
        // From here on the slot owns one total count, so every exit path
        // (including the refusal below) gives it back on drop.
        let mut slot = ConnectionSlot {
            limiter: Arc::clone(self),
            key: None,
        };
        if let (Some(ip), false) = (ip, exempt) {
            let key = limit_key(ip);
            let mut map = self.lock();
            let n = map.entry(key).or_insert(0);
            if *n >= limits.max_connections_per_ip {
                return Err(Refusal::ConnectionsPerIp);
            }
            *n += 1;
            slot.key = Some(key);
        }
        Ok(slot)
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            let mut map = self.limiter.lock();
            if let Some(n) = map.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&key);
                }
            }
        }
        self.limiter.total.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Requests per second per client address, estimated with pingora-limits'
/// sliding two-window counter (a count-min sketch: memory is fixed however
/// many addresses appear, and a collision can only overestimate).
pub struct RequestRate {
    rate: Rate,
}

impl std::fmt::Debug for RequestRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestRate").finish_non_exhaustive()
    }
}

impl Default for RequestRate {
    fn default() -> Self {
        // 4 hashes x 16384 slots x 2 windows x 8 bytes = 1 MiB; with that
        // width an innocent address shares all four counters with a
        // flooding one only by a rare accident.
        RequestRate {
            rate: Rate::new_with_estimator_config(Duration::from_secs(1), 4, 16_384),
        }
    }
}

impl RequestRate {
    /// Counts one request from `ip` and refuses it if the address's rate
    /// is above `per_s` (0: no limit). Refused requests count too, so a
    /// client that keeps hammering stays refused.
    pub fn check(&self, ip: Option<IpAddr>, per_s: u32) -> Result<(), Refusal> {
        let (Some(ip), true) = (ip, per_s > 0) else {
            return Ok(());
        };
        let key = limit_key(ip);
        self.rate.observe(&key, 1);
        let rate = self
            .rate
            .rate_with(&key, PROPORTIONAL_RATE_ESTIMATE_CALC_FN);
        if rate > f64::from(per_s) {
            return Err(Refusal::RateLimited);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn limits(per_ip: usize, total: usize) -> LimitsConfig {
        LimitsConfig {
            max_connections_per_ip: per_ip,
            max_connections: total,
            ..LimitsConfig::default()
        }
    }

    #[test]
    fn per_ip_and_total_caps() {
        let l = Arc::new(ConnectionLimiter::default());
        let cfg = limits(2, 4);
        let a1 = l.try_admit(ip("192.0.2.1"), false, &cfg).unwrap();
        let _a2 = l.try_admit(ip("192.0.2.1"), false, &cfg).unwrap();
        assert_eq!(
            l.try_admit(ip("192.0.2.1"), false, &cfg).unwrap_err(),
            Refusal::ConnectionsPerIp
        );
        assert_eq!(l.open(), 2, "a refused connection must not stay counted");
        let _b = l.try_admit(ip("192.0.2.2"), false, &cfg).unwrap();
        let _p = l.try_admit(ip("192.0.2.1"), true, &cfg).unwrap();
        assert_eq!(
            l.try_admit(ip("192.0.2.3"), false, &cfg).unwrap_err(),
            Refusal::ConnectionsTotal
        );
        drop(a1);
        assert_eq!(l.open(), 3);
        l.try_admit(ip("192.0.2.1"), false, &cfg).unwrap();
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        assert_eq!(
            limit_key("2001:db8:1:2:aaaa::1".parse().unwrap()),
            limit_key("2001:db8:1:2:bbbb::2".parse().unwrap())
        );
        assert_ne!(
            limit_key("2001:db8:1:3::1".parse().unwrap()),
            limit_key("2001:db8:1:2::1".parse().unwrap())
        );
        assert_eq!(
            limit_key("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn rate_refuses_a_burst_of_one_client_only() {
        let r = RequestRate::default();
        let refused = (0..50)
            .filter(|_| r.check(ip("192.0.2.1"), 10).is_err())
            .count();
        assert!(refused >= 39, "only {refused} refused");
        r.check(ip("192.0.2.2"), 10).unwrap();
        r.check(ip("192.0.2.1"), 0).unwrap();
        r.check(None, 10).unwrap();
    }
}

//! Sign-in attempt limits per client address and per user name.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Keys kept before stale ones are dropped; bounds memory against a flood
/// of made-up user names.
const PRUNE_AT: usize = 10_000;
/// Longest user name used as a key (longer ones are cut).
const MAX_KEY_CHARS: usize = 128;

/// Two keyed token buckets: one per client address, one per user name.
pub struct LoginThrottle {
    by_ip: DefaultKeyedRateLimiter<IpAddr>,
    by_user: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

impl LoginThrottle {
    /// Allows `per_ip` attempts a minute from one address and `per_user`
    /// a minute for one user name, each as a burst that refills evenly.
    pub fn new(per_ip: u32, per_user: u32) -> Self {
        LoginThrottle {
            by_ip: RateLimiter::keyed(per_minute(per_ip)),
            by_user: RateLimiter::keyed(per_minute(per_user)),
            clock: DefaultClock::default(),
        }
    }

    /// Counts an attempt from `ip`; `Err` carries how long to wait.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Duration> {
        if self.by_ip.len() > PRUNE_AT {
            self.by_ip.retain_recent();
        }
        self.by_ip
            .check_key(&ip)
            .map_err(|n| n.wait_time_from(self.clock.now()))
    }

    /// Counts an attempt for user `name` (case-insensitive).
    pub fn check_user(&self, name: &str) -> Result<(), Duration> {
        if self.by_user.len() > PRUNE_AT {
            self.by_user.retain_recent();
        }
        let key: String = name
            .trim()
            .to_lowercase()
            .chars()
            .take(MAX_KEY_CHARS)
            .collect();
        self.by_user
            .check_key(&key)
            .map_err(|n| n.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_each_address_and_each_name_separately() {
        let t = LoginThrottle::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(t.check_ip(a).is_ok());
        }
        let wait = t.check_ip(a).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(t.check_ip(b).is_ok());
        assert!(t.check_user("Admin").is_ok());
        assert!(t.check_user("admin ").is_ok());
        assert!(t.check_user("ADMIN").is_err());
        assert!(t.check_user("other").is_ok());
    }
}

//! Sign-in attempt limits per client address and per user name.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Keys kept before stale ones are dropped; bounds memory against a flood
/// of made-up user names.
const PRUNE_AT: usize = 10_000;
/// Longest user name used as a key (longer ones are cut).
const MAX_KEY_CHARS: usize = 128;

/// Two keyed token buckets: one per client network, one per user name as
/// tried from one client network.
///
/// The name's bucket is scoped to the client's network so that someone
/// guessing a user's password from elsewhere cannot lock the real user out
/// of their own account; guessing from many networks is still held back by
/// the per-network bucket and argon2's cost.
pub struct LoginThrottle {
    by_ip: DefaultKeyedRateLimiter<IpAddr>,
    by_user: DefaultKeyedRateLimiter<(String, IpAddr)>,
    clock: DefaultClock,
    checks: AtomicU64,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

/// The network a client address stands for: the address itself for IPv4,
/// its /64 for IPv6 (one host is commonly given a whole /64).
pub fn client_net(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let mut o = v6.octets();
            o[8..].fill(0);
            IpAddr::V6(o.into())
        }
    }
}

/// The wider network a user name's bucket is scoped to: /24 or /48.
fn name_scope(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let mut o = v4.octets();
            o[3] = 0;
            IpAddr::V4(o.into())
        }
        IpAddr::V6(v6) => {
            let mut o = v6.octets();
            o[6..].fill(0);
            IpAddr::V6(o.into())
        }
    }
}

impl LoginThrottle {
    /// Allows `per_ip` attempts a minute from one client network and
    /// `per_user` a minute for one user name from one wider network, each as
    /// a burst that refills evenly.
    pub fn new(per_ip: u32, per_user: u32) -> Self {
        LoginThrottle {
            by_ip: RateLimiter::keyed(per_minute(per_ip)),
            by_user: RateLimiter::keyed(per_minute(per_user)),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    /// Drops idle keys now and then once there are many, so a flood of
    /// made-up names or addresses cannot grow memory without bound, and the
    /// pruning itself stays rare.
    fn prune(&self) {
        let n = self.checks.fetch_add(1, Ordering::Relaxed);
        if n.is_multiple_of(1024) {
            if self.by_ip.len() > PRUNE_AT {
                self.by_ip.retain_recent();
            }
            if self.by_user.len() > PRUNE_AT {
                self.by_user.retain_recent();
            }
        }
    }

    /// Counts an attempt from `ip`; `Err` carries how long to wait.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Duration> {
        self.prune();
        self.by_ip
            .check_key(&client_net(ip))
            .map_err(|n| n.wait_time_from(self.clock.now()))
    }

    /// Counts an attempt for user `name` (case-insensitive) from `ip`.
    pub fn check_user(&self, name: &str, ip: IpAddr) -> Result<(), Duration> {
        self.prune();
        let name: String = name
            .trim()
            .to_lowercase()
            .chars()
            .take(MAX_KEY_CHARS)
            .collect();
        self.by_user
            .check_key(&(name, name_scope(ip)))
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
        assert!(t.check_user("Admin", a).is_ok());
        assert!(t.check_user("admin ", b).is_ok(), "same /24, same bucket");
        assert!(t.check_user("ADMIN", a).is_err());
        assert!(t.check_user("other", a).is_ok());
        // Guessing from elsewhere does not lock the user out at home.
        let home: IpAddr = "192.0.2.7".parse().unwrap();
        assert!(t.check_user("admin", home).is_ok());
    }

    #[test]
    fn an_ipv6_host_counts_as_its_slash_64() {
        let t = LoginThrottle::new(2, 100);
        for ip in ["2001:db8::1", "2001:db8::2:3"] {
            assert!(t.check_ip(ip.parse().unwrap()).is_ok());
        }
        assert!(t.check_ip("2001:db8::ffff".parse().unwrap()).is_err());
        assert!(t.check_ip("2001:db8:0:1::1".parse().unwrap()).is_ok());
    }
}

use super::*;
use crate::config::BackendConfig;

fn config(selection: Selection, weights: &[u32]) -> Config {
    let mut c = Config {
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
    };
    c.health.slow_start_s = 0;
    c
}

fn index_of(s: &Selector, lease: &Lease) -> usize {
    s.members()
        .iter()
        .position(|m| m.state.address() == lease.backend().address())
        .unwrap()
}

fn share(s: &Selector, key: Option<&str>, n: usize) -> Vec<usize> {
    let mut counts = vec![0; s.members().len()];
    for _ in 0..n {
        let (lease, _) = s.pick(key, &[], 1.0).unwrap();
        counts[index_of(s, &lease)] += 1;
    }
    counts
}

#[test]
fn round_robin_and_weighted_split() {
    let s = Selector::new(&config(Selection::RoundRobin, &[3, 1]), None);
    assert_eq!(share(&s, None, 100), vec![50, 50]);
    let s = Selector::new(&config(Selection::Weighted, &[3, 1]), None);
    let got = share(&s, None, 4000);
    assert!((2800..3200).contains(&got[0]), "{got:?}");
}

#[test]
fn a_down_nodes_share_spreads_evenly() {
    for selection in [
        Selection::RoundRobin,
        Selection::Weighted,
        Selection::LeastInFlight,
    ] {
        let s = Selector::new(&config(selection, &[1, 1, 1, 1]), None);
        s.members()[1].state.record_check(false, 1, 1);
        let got = share(&s, None, 3000);
        assert_eq!(got[1], 0, "{selection:?} {got:?}");
        for i in [0, 2, 3] {
            assert!((850..1150).contains(&got[i]), "{selection:?} {got:?}");
        }
    }
}

#[test]
fn hash_sticks_and_fails_over() {
    let s = Selector::new(&config(Selection::ConsistentHash, &[1, 1, 1]), None);
    let (first, _) = s.pick(Some("v1"), &[], 1.0).unwrap();
    let first = first.backend().address();
    for _ in 0..20 {
        let (got, _) = s.pick(Some("v1"), &[], 1.0).unwrap();
        assert_eq!(got.backend().address(), first);
    }
    let (other, _) = s.pick(Some("v1"), &[first], 1.0).unwrap();
    assert_ne!(other.backend().address(), first);
}

#[test]
fn least_in_flight_avoids_the_busy_node() {
    let s = Selector::new(&config(Selection::LeastInFlight, &[1, 1]), None);
    let held: Vec<_> = (0..10)
        .map(|_| s.members()[0].state.try_acquire(100).unwrap())
        .collect();
    let got = share(&s, None, 50);
    assert_eq!(got, vec![0, 50]);
    drop(held);
}

#[test]
fn limits_health_and_panic() {
    let mut c = config(Selection::RoundRobin, &[1]);
    c.proxy.max_in_flight_per_backend = 1;
    let s = Selector::new(&c, None);
    let held = s.pick(None, &[], 1.0).unwrap();
    assert_eq!(s.pick(None, &[], 1.0).unwrap_err(), Refusal::BackendLimit);
    drop(held);
    // The only node fails readiness: panic mode still sends traffic.
    s.members()[0].state.record_check(false, 1, 1);
    let (_, panicked) = s.pick(None, &[], 1.0).unwrap();
    assert_eq!(panicked, Panicked(true));
    // Unless it was already tried by this request.
    let addr = s.members()[0].state.address();
    assert_eq!(s.pick(None, &[addr], 1.0).unwrap_err(), Refusal::NoHealthy);
}

#[test]
fn panic_threshold_counts_the_share_in_rotation() {
    let mut c = config(Selection::RoundRobin, &[1, 1, 1, 1]);
    c.proxy.panic_threshold_pct = 50;
    let s = Selector::new(&c, None);
    for i in 0..2 {
        s.members()[i].state.record_check(false, 1, 1);
    }
    assert_eq!(s.pick(None, &[], 1.0).unwrap().1, Panicked(false));
    s.members()[2].state.record_check(false, 1, 1);
    let got = share(&s, None, 400);
    assert!(got.iter().all(|n| *n > 0), "{got:?}");
}

#[test]
fn consecutive_failures_eject_within_the_cap() {
    let mut c = config(Selection::RoundRobin, &[1, 1]);
    c.outlier.consecutive_failures = 3;
    c.outlier.max_ejected_pct = 50;
    let s = Selector::new(&c, None);
    let a = Arc::clone(&s.members()[0].state);
    let b = Arc::clone(&s.members()[1].state);
    assert!(!s.report(&a, Outcome::Failed));
    assert!(!s.report(&a, Outcome::Answered));
    assert!(!s.report(&a, Outcome::Failed));
    assert!(!s.report(&a, Outcome::Failed));
    assert!(s.report(&a, Outcome::Failed));
    assert_eq!(share(&s, None, 10), vec![0, 10]);
    // A second node would exceed the 50 % cap: it stays in.
    for _ in 0..3 {
        assert!(!s.report(&b, Outcome::Failed));
    }
    assert!(!b.is_ejected(now_ms()));
}

#[test]
fn a_ramping_node_takes_a_small_share() {
    let mut c = config(Selection::RoundRobin, &[1, 1]);
    c.health.slow_start_s = 60;
    let s = Selector::new(&c, None);
    s.members()[1].state.record_check(false, 1, 1);
    s.members()[1].state.record_check(true, 1, 1);
    let got = share(&s, None, 2000);
    assert!(got[1] < 250, "{got:?}");
}

#[test]
fn reload_keeps_state_and_ramps_new_nodes() {
    let s1 = Selector::new(&config(Selection::RoundRobin, &[1, 1]), None);
    s1.members()[0].state.mark_served();
    let mut c = config(Selection::RoundRobin, &[1, 1, 1]);
    c.health.slow_start_s = 60;
    let s2 = Selector::new(&c, Some(&s1));
    assert_eq!(s2.members()[0].state.served(), 1);
    assert_eq!(s2.members()[2].state.served(), 0);
    assert!(s2.members()[2].state.ramp_factor(now_ms(), 60_000) < 0.5);
    assert_eq!(s2.members()[0].state.ramp_factor(now_ms(), 60_000), 1.0);
}

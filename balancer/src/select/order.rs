//! Preference orders over the candidate nodes, one per selection mode.
//! Each returns positions into `Input::candidates`, best first; the caller
//! walks the order until a node has a free slot.

use rand::Rng;

use super::hash::rendezvous_score;
use super::Member;

/// What every ordering works from.
pub(super) struct Input<'a> {
    /// All members of the configuration.
    pub members: &'a [Member],
    /// Indexes into `members` that may be chosen.
    pub candidates: &'a [usize],
    /// Slow-start factor (0.1..=1) of each candidate, same positions.
    pub factors: &'a [f64],
    /// A counter advanced once per pick, for round robin.
    pub cursor: usize,
}

impl Input<'_> {
    fn member(&self, pos: usize) -> &Member {
        &self.members[self.candidates[pos]]
    }

    /// In-flight requests per unit of (ramped) weight: lower is less busy.
    fn load(&self, pos: usize) -> f64 {
        let m = self.member(pos);
        (m.state.in_flight() as f64 + 1.0) / (f64::from(m.weight) * self.factors[pos])
    }
}

/// Each candidate in turn. A ramping node at the front gives its turn away
/// with probability (1 - factor), so it takes that share of its turns.
pub(super) fn round_robin(input: &Input) -> Vec<usize> {
    let n = input.candidates.len();
    let start = input.cursor % n;
    let mut order: Vec<usize> = (0..n).map(|k| (start + k) % n).collect();
    if n > 1 && input.factors[order[0]] < 1.0 {
        let keep = rand::thread_rng().gen_bool(input.factors[order[0]].clamp(0.0, 1.0));
        if !keep {
            order.rotate_left(1);
        }
    }
    order
}

/// The first choice drawn at random in proportion to weight × ramp, the
/// rest in round-robin order as fallbacks. Random draws keep the shares
/// right whatever subset of nodes is eligible.
pub(super) fn weighted(input: &Input) -> Vec<usize> {
    let n = input.candidates.len();
    let shares: Vec<f64> = (0..n)
        .map(|p| f64::from(input.member(p).weight) * input.factors[p])
        .collect();
    let total: f64 = shares.iter().sum();
    let mut draw = rand::thread_rng().gen_range(0.0..total.max(f64::MIN_POSITIVE));
    let mut first = n - 1;
    for (p, s) in shares.iter().enumerate() {
        if draw < *s {
            first = p;
            break;
        }
        draw -= s;
    }
    let mut order = vec![first];
    order.extend((0..n).map(|k| (first + 1 + k) % n).filter(|&p| p != first));
    order
}

/// Highest rendezvous score for the key first: one video's requests stay
/// on one node, and when it leaves, its videos spread over all the others.
pub(super) fn by_hash(input: &Input, key: &str) -> Vec<usize> {
    let mut ranked: Vec<(f64, usize)> = (0..input.candidates.len())
        .map(|p| {
            let m = input.member(p);
            (rendezvous_score(key, m.state.label(), m.weight), p)
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranked.into_iter().map(|(_, p)| p).collect()
}

/// Power of two choices: the less loaded of two random candidates first,
/// then the rest from least to most loaded. Two random probes avoid the
/// herd that "always the least loaded" causes between load updates.
pub(super) fn least_in_flight(input: &Input) -> Vec<usize> {
    let n = input.candidates.len();
    if n == 1 {
        return vec![0];
    }
    let mut rng = rand::thread_rng();
    let a = rng.gen_range(0..n);
    let mut b = rng.gen_range(0..n - 1);
    if b >= a {
        b += 1;
    }
    // Equal loads (the common case when the cluster is quiet) are broken
    // in round-robin order rather than by the random draw, so a quiet
    // cluster still gets an even spread instead of a coin-flip one.
    let turn = |p: usize| (p + n - input.cursor % n) % n;
    let (la, lb) = (input.load(a), input.load(b));
    let (first, second) = if lb < la || (lb == la && turn(b) < turn(a)) {
        (b, a)
    } else {
        (a, b)
    };
    let mut rest: Vec<(f64, usize)> = (0..n)
        .filter(|&p| p != first && p != second)
        .map(|p| (input.load(p), p))
        .collect();
    rest.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut order = vec![first, second];
    order.extend(rest.into_iter().map(|(_, p)| p));
    order
}

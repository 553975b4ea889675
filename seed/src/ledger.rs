//! What each voter was told, for `--check-tally`: every vote's number, when
//! it was sent and answered, and whether vote acknowledged it. From that, the
//! range each option's count may take once every vote has been counted, as
//! a Jepsen checker compares what clients were told with the final state.
//!
//! The tally holds one row per voter, the voter's last vote to reach it, so:
//! - a voter with an acknowledged vote must be counted, for one of the
//!   choices that may have been its last: the vote acknowledged last, unless
//!   a later one was still in flight or its outcome is unknown;
//! - a vote that failed after reaching vote (a 5xx, a timeout, a broken
//!   connection) may still have landed, at any time: it widens the range;
//!   one that never reached vote (no connection, a failed TLS handshake)
//!   cannot have landed.
//!
//! Recorded only with `--check-tally`: 32 bytes per vote.

use crate::client::Failure;
use std::collections::BTreeMap;

/// What became of one vote, as seed saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// vote answered 2xx: the ballot is queued.
    Acknowledged,
    /// It may or may not have been queued.
    Unknown,
    /// It never reached vote.
    NotSent,
}

impl Fate {
    pub fn of(outcome: &Result<(), Failure>) -> Self {
        match outcome {
            Ok(()) => Fate::Acknowledged,
            Err(Failure::Connect | Failure::Tls) => Fate::NotSent,
            Err(_) => Fate::Unknown,
        }
    }
}

/// One vote: its number in the run (which says its voter and choice), and
/// when it was sent and answered, in µs since the ledger's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub number: u64,
    pub sent_us: u64,
    pub answered_us: u64,
    pub fate: Fate,
}

/// Which voter cast a vote: `Some(voter)` with cookies (seed's voters), or
/// `None` with `--fresh`, where vote gives every vote a new voter.
pub type VoterOf<'a> = &'a dyn Fn(u64) -> Option<u64>;

/// The range a count may take: `low..=high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Range {
    pub low: u64,
    pub high: u64,
}

impl Range {
    pub fn contains(&self, n: i64) -> bool {
        n >= 0 && (self.low..=self.high).contains(&(n as u64))
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.low == self.high {
            write!(f, "{}", self.low)
        } else {
            write!(f, "{} to {}", self.low, self.high)
        }
    }
}

/// How much each count should have grown by the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Expected {
    pub a: Range,
    pub b: Range,
    pub total: Range,
    /// Distinct voters with an acknowledged vote.
    pub acknowledged_voters: u64,
}

/// What the voters were told, from every task's entries.
pub fn expected(entries: &[Entry], voter_of: VoterOf, is_a: &dyn Fn(u64) -> bool) -> Expected {
    let mut voters: BTreeMap<(bool, u64), Vec<&Entry>> = BTreeMap::new();
    for (n, entry) in entries.iter().enumerate() {
        if entry.fate == Fate::NotSent {
            continue;
        }
        // A fresh vote is a voter of its own; keyed apart from seed's voters.
        let key = match voter_of(entry.number) {
            Some(voter) => (false, voter),
            None => (true, n as u64),
        };
        voters.entry(key).or_default().push(entry);
    }
    let zero = Range { low: 0, high: 0 };
    let mut expected = Expected {
        a: zero,
        b: zero,
        total: zero,
        acknowledged_voters: 0,
    };
    for votes in voters.values() {
        let acknowledged: Vec<&&Entry> = votes
            .iter()
            .filter(|v| v.fate == Fate::Acknowledged)
            .collect();
        // A vote may be the last to land unless an acknowledged vote was sent
        // after it had surely landed (acknowledged before that one was sent).
        let may_be_last = |v: &&Entry| {
            v.fate == Fate::Unknown
                || !acknowledged
                    .iter()
                    .any(|later| later.sent_us > v.answered_us)
        };
        let (mut for_a, mut for_b) = (false, false);
        for vote in votes.iter().filter(|v| may_be_last(v)) {
            if is_a(vote.number) {
                for_a = true;
            } else {
                for_b = true;
            }
        }
        let counted = !acknowledged.is_empty();
        expected.total.high += 1;
        if counted {
            expected.total.low += 1;
            expected.acknowledged_voters += 1;
        }
        expected.a.high += u64::from(for_a);
        expected.b.high += u64::from(for_b);
        if counted && for_a != for_b {
            expected.a.low += u64::from(for_a);
            expected.b.low += u64::from(for_b);
        }
    }
    expected
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(number: u64, sent_us: u64, answered_us: u64, fate: Fate) -> Entry {
        Entry {
            number,
            sent_us,
            answered_us,
            fate,
        }
    }

    fn even_is_a(n: u64) -> bool {
        n % 2 == 0
    }

    #[test]
    fn one_vote_per_voter_expects_exactly_the_acknowledged_ones() {
        let entries: Vec<Entry> = (0..10)
            .map(|n| entry(n, n * 10, n * 10 + 5, Fate::Acknowledged))
            .collect();
        let expected = expected(&entries, &|n| Some(n), &even_is_a);
        assert_eq!(expected.a, Range { low: 5, high: 5 });
        assert_eq!(expected.b, Range { low: 5, high: 5 });
        assert_eq!(expected.total, Range { low: 10, high: 10 });
    }

    #[test]
    fn a_voter_counts_once_for_its_last_acknowledged_choice() {
        // Voter 0 votes a (0), then b (1) after a was acknowledged, then a
        // again (2) that failed without reaching vote.
        let entries = [
            entry(0, 0, 5, Fate::Acknowledged),
            entry(1, 10, 15, Fate::Acknowledged),
            entry(2, 20, 25, Fate::NotSent),
        ];
        let expected = expected(&entries, &|_| Some(0), &even_is_a);
        assert_eq!(expected.a, Range { low: 0, high: 0 });
        assert_eq!(expected.b, Range { low: 1, high: 1 });
        assert_eq!(expected.total, Range { low: 1, high: 1 });
    }

    #[test]
    fn votes_in_flight_together_or_unanswered_widen_the_range() {
        // Voter 0: a and b in flight at once, both acknowledged: either may
        // have landed last. Voter 1: only a timeout, may be counted or not.
        let entries = [
            entry(0, 0, 20, Fate::Acknowledged),
            entry(1, 10, 30, Fate::Acknowledged),
            entry(3, 40, 50, Fate::Unknown),
        ];
        let expected = expected(&entries, &|n| Some(n / 2), &even_is_a);
        assert_eq!(expected.a, Range { low: 0, high: 1 });
        assert_eq!(expected.b, Range { low: 0, high: 2 });
        assert_eq!(expected.total, Range { low: 1, high: 2 });
        assert_eq!(expected.acknowledged_voters, 1);
        assert!(expected.total.contains(1) && !expected.total.contains(3));
    }

    #[test]
    fn each_fresh_vote_is_a_voter_of_its_own() {
        let entries = [
            entry(0, 0, 5, Fate::Acknowledged),
            entry(0, 6, 9, Fate::Acknowledged),
            entry(1, 7, 12, Fate::Unknown),
        ];
        let expected = expected(&entries, &|_| None, &even_is_a);
        assert_eq!(expected.a, Range { low: 2, high: 2 });
        assert_eq!(expected.b, Range { low: 0, high: 1 });
        assert_eq!(expected.total, Range { low: 2, high: 3 });
    }
}

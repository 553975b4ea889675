//! The order of a voter's votes: the stamp on each ballot, in microseconds
//! since the Unix epoch, that the worker compares to keep the last vote.
//!
//! A replica's clock alone cannot order one voter's votes: behind a load
//! balancer a voter's next vote may reach a replica whose clock is seconds
//! behind the one that took the vote before (NTP broken, or still settling
//! after a boot), and its earlier stamp would lose. So the voter carries
//! the order: every answer to a vote sets the `voter_stamp` cookie to the
//! stamp that vote got (voter.rs), and the next vote is stamped later than
//! that, whatever this replica's clock says: a hybrid logical clock held by
//! the voter's browser. The clock still gives the stamp when it is ahead,
//! so stamps stay close to the time the vote was cast (the worker's queue
//! lag reads them as such).
//!
//! Within one process stamps strictly increase even if the wall clock steps
//! back, so two votes through one replica are never tied either.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The highest stamp accepted from a cookie: far beyond any clock (about
/// 146,000 years), and far enough below `i64::MAX` that adding to it never
/// overflows.
pub const MAX_STAMP: i64 = 1 << 62;

#[derive(Debug, Default)]
pub struct Stamper {
    last: AtomicI64,
}

impl Stamper {
    /// A stamp later than `after` (the voter's previous vote, from its
    /// cookie) and, where the wall clock is later still, the clock's. The
    /// clock's side strictly increases within the process; a voter's cookie
    /// raises only that voter's stamp, never the process's, so one voter's
    /// far-off cookie cannot move anyone else's stamps.
    pub fn next(&self, after: Option<i64>) -> i64 {
        let clock = self.tick();
        match after {
            Some(previous) => clock.max(previous.clamp(0, MAX_STAMP) + 1),
            None => clock,
        }
    }

    /// The wall clock in microseconds, strictly increasing within the process.
    fn tick(&self) -> i64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        let previous = self
            .last
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(now.max(last + 1))
            })
            .unwrap_or(now);
        now.max(previous + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_strictly_increase() {
        let stamper = Stamper::default();
        let stamps: Vec<i64> = (0..1000).map(|_| stamper.next(None)).collect();
        assert!(stamps.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_stamp_follows_the_voters_previous_one_even_from_a_clock_behind_it() {
        let stamper = Stamper::default();
        let clock = stamper.next(None);
        // The voter's last vote went through a replica an hour ahead.
        let ahead = clock + 3_600_000_000;
        assert_eq!(stamper.next(Some(ahead)), ahead + 1);
        // A previous stamp behind the clock leaves the clock's, and the
        // other voters' stamps are the clock's still.
        let later = stamper.next(Some(clock - 5_000_000));
        assert!(later > clock && later < ahead, "{later}");
        assert!(stamper.next(None) < ahead);
        // An absurd cookie cannot overflow the stamp.
        assert_eq!(stamper.next(Some(i64::MAX)), MAX_STAMP + 1);
    }
}

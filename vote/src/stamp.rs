//! The cast time stamped on each ballot, in microseconds since the Unix epoch.
//!
//! Strictly increasing within the process even if the wall clock steps back,
//! so two votes of one visitor through the same replica are never tied.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Default)]
pub struct Stamper {
    last: AtomicI64,
}

impl Stamper {
    pub fn next(&self) -> i64 {
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
        let stamps: Vec<i64> = (0..1000).map(|_| stamper.next()).collect();
        assert!(stamps.windows(2).all(|w| w[0] < w[1]));
    }
}

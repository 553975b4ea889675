//! Exponential backoff for reconnecting to Redis and Postgres.
//!
//! Every retry loop in the app waits through one of these, so that a dependency
//! that is down is polled gently and one that comes back is found quickly.

use std::time::Duration;

/// Doubling delays from `initial` up to `max`, reset after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
    attempts: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            next: initial,
            attempts: 0,
        }
    }

    /// The delay the app uses for its dependencies: 100 ms doubling up to 5 s.
    pub fn for_dependencies() -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(5))
    }

    /// How many failures in a row this backoff has seen.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The delay to wait after one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.attempts += 1;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// Waits out the next delay.
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }

    /// Forgets past failures after a success.
    pub fn reset(&mut self) {
        self.next = self.initial;
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_reset_after_success() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let delays: Vec<_> = (0..4).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 350, 350]);
        assert_eq!(backoff.attempts(), 4);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(100));
    }
}

//! The Postgres names every service reads or writes.
//!
//! `votes (id VARCHAR(255) NOT NULL UNIQUE, vote VARCHAR(255) NOT NULL)` is the
//! original app's table and stays as it is, so the original worker and result
//! images keep working on it. The worker's migrations (`worker/src/migrate.rs`)
//! add `votes.ts`, the cast time, and `vote_counts (vote, count)`, the totals
//! per option kept by triggers, with a `NOTIFY vote_counts` when they change;
//! `result` reads them and LISTENs.

/// The channel `result` listens on; notified in the transaction that changes a total.
pub const TALLY_CHANNEL: &str = "vote_counts";

//! The Postgres schema as the services read it.
//!
//! `votes (id VARCHAR(255) NOT NULL UNIQUE, vote VARCHAR(255) NOT NULL)` is the
//! original app's table and stays as it is, so the original worker and result
//! images keep working on it. The worker's migrations (`worker::migrate`) add
//! `votes.ts`, the cast time, and `vote_counts`, the totals per option kept by
//! triggers, with a `NOTIFY vote_counts` when they change.
//!
//! Readers need only SELECT (and LISTEN): `result` follows `vote_counts` when it
//! is there, and counts `votes` as the original result did when it is not
//! (beside the original worker, or before our worker's first start).

use crate::tally::Tally;
use tokio_postgres::GenericClient;

/// The channel `result` listens on; notified in the transaction that changes a total.
pub const TALLY_CHANNEL: &str = "vote_counts";

/// Whether the totals table is there (the worker's migrations have run).
pub async fn counts_installed(client: &impl GenericClient) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .query_one("SELECT to_regclass('vote_counts') IS NOT NULL", &[])
        .await?
        .get(0))
}

/// Counts the `votes` table as the original result service does; zero when
/// there is no table yet.
pub async fn count_votes(client: &impl GenericClient) -> Result<Tally, tokio_postgres::Error> {
    let exists: bool = client
        .query_one("SELECT to_regclass('votes') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(Tally::default());
    }
    let rows = client
        .query("SELECT vote, count(id) FROM votes GROUP BY vote", &[])
        .await?;
    Ok(tally_from(&rows))
}

/// Reads the totals: two rows, however many voters there are.
pub async fn read_tally(client: &impl GenericClient) -> Result<Tally, tokio_postgres::Error> {
    let rows = client
        .query("SELECT vote, count FROM vote_counts", &[])
        .await?;
    Ok(tally_from(&rows))
}

fn tally_from(rows: &[tokio_postgres::Row]) -> Tally {
    let mut tally = Tally::default();
    for row in rows {
        let vote: &str = row.get(0);
        let count: i64 = row.get(1);
        match vote {
            "a" => tally.a = count,
            "b" => tally.b = count,
            _ => {}
        }
    }
    tally
}

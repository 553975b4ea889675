//! Reading the totals from Postgres, with SELECT only: from `vote_counts`
//! when the worker's migrations have made it, else by counting `votes` as the
//! original result service does.

use crate::tally::Tally;
use tokio_postgres::GenericClient;

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

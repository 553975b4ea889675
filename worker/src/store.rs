//! The Postgres side of the worker: one multi-row upsert per batch.
//!
//! The upsert is idempotent and ordered: replaying a batch changes nothing, and
//! a ballot only replaces a stored one with an older (or no) stamp, so the last
//! vote wins across workers, replays and crashes. Rows arrive sorted by voter
//! id, so concurrent workers lock them in one order and cannot deadlock.

use common::config::DatabaseUrl;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::time::Duration;
use wire::ballot::Ballot;

const UPSERT: &str = "
INSERT INTO votes (id, vote, ts)
SELECT * FROM UNNEST($1::varchar[], $2::varchar[], $3::int8[])
ON CONFLICT (id) DO UPDATE SET vote = EXCLUDED.vote, ts = EXCLUDED.ts
WHERE (votes.ts IS NULL OR EXCLUDED.ts IS NULL OR votes.ts <= EXCLUDED.ts)
  AND (votes.vote IS DISTINCT FROM EXCLUDED.vote OR votes.ts IS DISTINCT FROM EXCLUDED.ts)
";

/// A small pool: the worker stores one batch at a time, readiness needs one more.
pub fn pool(url: &DatabaseUrl) -> anyhow::Result<Pool> {
    let manager = Manager::from_config(
        url.config.clone(),
        url.connector(),
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Ok(Pool::builder(manager)
        .max_size(2)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(5)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .build()?)
}

/// Applies the schema migrations that are missing (a no-op when current).
pub async fn migrate(pool: &Pool) -> anyhow::Result<crate::migrate::Report> {
    let mut client = pool.get().await?;
    Ok(crate::migrate::run(&mut client).await?)
}

/// Stores a batch in one transaction; returns how many rows changed.
pub async fn store(pool: &Pool, ballots: &[Ballot]) -> anyhow::Result<u64> {
    if ballots.is_empty() {
        return Ok(0);
    }
    let ids: Vec<&str> = ballots.iter().map(|b| b.voter_id.as_str()).collect();
    let choices: Vec<&str> = ballots.iter().map(|b| b.choice.as_str()).collect();
    let stamps: Vec<Option<i64>> = ballots.iter().map(|b| b.cast_at).collect();
    let client = pool.get().await?;
    let statement = client.prepare_cached(UPSERT).await?;
    // A single statement is its own transaction: all rows commit, or none.
    let changed = client
        .execute(&statement, &[&ids, &choices, &stamps])
        .await?;
    Ok(changed)
}

/// `SELECT 1`, for readiness.
pub async fn ping(pool: &Pool) -> Result<(), String> {
    let check = async {
        let client = pool.get().await.map_err(|e| common::error_chain(&e))?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(|e| common::error_chain(&e))?;
        Ok(())
    };
    match tokio::time::timeout(Duration::from_secs(2), check).await {
        Ok(outcome) => outcome,
        Err(_) => Err("no answer within 2s".into()),
    }
}

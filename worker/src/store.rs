//! The Postgres side of the worker: one multi-row upsert per batch.
//!
//! The upsert is idempotent and ordered: replaying a batch changes nothing, and
//! a ballot only replaces a stored one with an older (or no) stamp, so the last
//! vote wins across workers, replays and crashes. Rows arrive sorted by voter
//! id, so concurrent workers lock them in one order and cannot deadlock.

use common::config::DatabaseUrl;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use wire::ballot::Ballot;

const UPSERT: &str = "
INSERT INTO votes (id, vote, ts)
SELECT * FROM UNNEST($1::varchar[], $2::varchar[], $3::int8[])
ON CONFLICT (id) DO UPDATE SET vote = EXCLUDED.vote, ts = EXCLUDED.ts
WHERE (votes.ts IS NULL OR EXCLUDED.ts IS NULL OR votes.ts <= EXCLUDED.ts)
  AND (votes.vote IS DISTINCT FROM EXCLUDED.vote OR votes.ts IS DISTINCT FROM EXCLUDED.ts)
";

/// Longest one batch's store may take, from taking a connection to the
/// commit's answer. With a synchronous standby a commit waits for it, so
/// this is generous; past it the connection is closed, never reused, and
/// the batch (still in Redis) is stored again, on whichever host is the
/// primary by then. Never a cancel request: Postgres answers a commit
/// cancelled while it waits for the standby as if it had succeeded, and the
/// worker would then let go of votes the standby may not have.
pub const STORE_LIMIT: Duration = Duration::from_secs(10);

/// A small pool: the worker stores one batch at a time, readiness needs one
/// more. Connections come from [`DatabaseUrl::connect`]: each host within
/// its limit, in order.
pub fn pool(url: &DatabaseUrl) -> anyhow::Result<Pool> {
    let manager = Manager::from_connect(
        url.config.clone(),
        Dial(url.clone()),
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Ok(Pool::builder(manager)
        .max_size(2)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(url.create_timeout()))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .build()?)
}

/// How the pool makes a connection.
struct Dial(DatabaseUrl);

/// A client and the task that drives its connection.
type Connected = (tokio_postgres::Client, tokio::task::JoinHandle<()>);

impl deadpool_postgres::Connect for Dial {
    fn connect(
        &self,
        _: &tokio_postgres::Config,
    ) -> Pin<Box<dyn Future<Output = Result<Connected, tokio_postgres::Error>> + Send + '_>> {
        Box::pin(async move {
            let (client, connection) = self.0.connect().await?;
            let driver = tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "a Postgres connection ended");
                }
            });
            Ok((client, driver))
        })
    }
}

/// Runs `work` on a pooled connection, all within `limit`. A connection
/// that overruns it is taken out of the pool and closed: it may be stalled,
/// and the next call must not queue behind it.
async fn bounded<T>(
    pool: &Pool,
    limit: Duration,
    work: impl AsyncFnOnce(&Object) -> Result<T, tokio_postgres::Error>,
) -> anyhow::Result<T> {
    let deadline = tokio::time::Instant::now() + limit;
    let client = tokio::time::timeout_at(deadline, pool.get())
        .await
        .map_err(|_| anyhow::anyhow!("no Postgres connection within {limit:?}"))??;
    let outcome = tokio::time::timeout_at(deadline, work(&client)).await;
    match outcome {
        Ok(answer) => Ok(answer?),
        Err(_) => {
            drop(Object::take(client));
            Err(anyhow::anyhow!(
                "Postgres did not answer within {limit:?}; the connection was closed"
            ))
        }
    }
}

/// Applies the schema migrations that are missing (a no-op when current).
pub async fn migrate(pool: &Pool) -> anyhow::Result<crate::migrate::Report> {
    let mut client = pool.get().await?;
    Ok(crate::migrate::run(&mut client).await?)
}

/// Stores a batch in one transaction, within [`STORE_LIMIT`]; returns how
/// many rows changed.
pub async fn store(pool: &Pool, ballots: &[Ballot]) -> anyhow::Result<u64> {
    if ballots.is_empty() {
        return Ok(0);
    }
    let ids: Vec<&str> = ballots.iter().map(|b| b.voter_id.as_str()).collect();
    let choices: Vec<&str> = ballots.iter().map(|b| b.choice.as_str()).collect();
    let stamps: Vec<Option<i64>> = ballots.iter().map(|b| b.cast_at).collect();
    bounded(pool, STORE_LIMIT, async |client| {
        let statement = client.prepare_cached(UPSERT).await?;
        // A single statement is its own transaction: all rows commit, or none.
        client.execute(&statement, &[&ids, &choices, &stamps]).await
    })
    .await
}

/// `SELECT 1` within 2 s, for readiness.
pub async fn ping(pool: &Pool) -> Result<(), String> {
    bounded(pool, Duration::from_secs(2), async |client| {
        client.simple_query("SELECT 1").await
    })
    .await
    .map(drop)
    .map_err(|e| format!("{e:#}"))
}

//! The worker driven by hand, for the tests of the worker and of what it
//! survives (faults, schema versions, a silent Postgres): messages pushed
//! onto its queue as vote writes them, waits until it has taken them all or
//! logged a line, and the tally it stored. Shared here rather than imported
//! from one test module into another.

use crate::harness::service::Service;
use crate::harness::{eventually, Stack};
use std::time::Duration;

/// Appends `messages` to the queue (`votes`), as vote does.
pub async fn push(stack: &Stack, messages: &[String]) {
    let mut redis = stack.redis.connection().await;
    let _: i64 = redis::cmd("RPUSH")
        .arg("votes")
        .arg(messages)
        .query_async(&mut redis)
        .await
        .unwrap();
}

/// A message as our vote service writes it, stamped `ts` (microseconds, near the Unix time).
pub fn stamped(voter: &str, vote: &str, ts: i64) -> String {
    serde_json::json!({ "voter_id": voter, "vote": vote, "ts": ts }).to_string()
}

/// A message as the original vote service writes it: no timestamp.
pub fn original(voter: &str, vote: &str) -> String {
    serde_json::json!({ "voter_id": voter, "vote": vote }).to_string()
}

/// Waits until the queue and every processing list are empty.
pub async fn drained(stack: &Stack) {
    let redis = stack.redis.connection().await;
    eventually(Duration::from_secs(60), "the queue to drain", || {
        let mut redis = redis.clone();
        async move { queue_empty(&mut redis).await?.then_some(()) }
    })
    .await;
}

/// Whether the queue (`votes`) and every processing list are empty: the
/// workers have stored all they will ever store. `None` when Redis does
/// not answer.
pub async fn queue_empty(redis: &mut redis::aio::MultiplexedConnection) -> Option<bool> {
    let queued: i64 = redis::cmd("LLEN")
        .arg("votes")
        .query_async(redis)
        .await
        .ok()?;
    let processing: Vec<String> = redis::cmd("KEYS")
        .arg("votes:processing:*")
        .query_async(redis)
        .await
        .ok()?;
    Some(queued == 0 && processing.is_empty())
}

/// The tally the worker stored: votes for a, votes for b.
pub async fn counts(stack: &Stack) -> (i64, i64) {
    let client = stack.pg.client().await;
    let tally = result::totals::read_tally(&client).await.unwrap();
    (tally.a, tally.b)
}

/// A worker that has brought the schema up to date.
pub async fn worker_with_schema(stack: &Stack) -> Service {
    let worker = stack.worker(&[]).await;
    logged(&worker, "schema current").await;
    worker
}

/// Waits (10 s at most) until `service` has logged `line`.
pub async fn logged(service: &Service, line: &str) {
    let what = format!("{} to log {line:?}", service.name);
    eventually(Duration::from_secs(10), &what, || async {
        service.log_text().contains(line).then_some(())
    })
    .await;
}

/// The table the original worker creates, with the rows it would write.
pub async fn original_worker_table(pg: &tokio_postgres::Client, rows: &[(&str, &str)]) {
    pg.batch_execute(
        "CREATE TABLE IF NOT EXISTS votes (id VARCHAR(255) NOT NULL UNIQUE, vote VARCHAR(255) NOT NULL)",
    )
    .await
    .unwrap();
    for (id, vote) in rows {
        pg.execute("INSERT INTO votes (id, vote) VALUES ($1, $2)", &[id, vote])
            .await
            .unwrap();
    }
}

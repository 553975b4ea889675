//! Group commit: the votes waiting for the replicas share one confirmation.
//!
//! `WAIT n` confirms every write its connection made before it, and Redis
//! serves a connection's commands in order: votes sent each as `RPUSH` then
//! `WAIT` on one connection would each wait a replica round trip behind the
//! one before. So one task per ballot box does the sending: it takes every
//! vote queued since its last batch (at most [`MAX_BATCH`]), sends them as one
//! `RPUSH` followed by one `WAIT`, in one pipeline on one connection, and
//! gives each visitor the batch's answer. A lone vote goes out at once, and
//! the next batch as soon as the last one's answer is in: nothing waits for
//! a timer.
//!
//! The pushes and their `WAIT` always travel in one call, so on one
//! connection: a `WAIT` on another one (a new connection after a reconnect)
//! would confirm nothing of theirs and still answer that the replicas agree.

use crate::ballot_box::{Replication, Unavailable};
use common::redis_link::RedisLink;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// The most votes in one batch (a few hundred bytes each in the pipeline).
const MAX_BATCH: usize = 512;

/// Votes queued for the next batch beyond which a new one waits its turn
/// (within its time limit).
const QUEUE: usize = 4 * MAX_BATCH;

/// A vote waiting for its batch, and where its answer goes.
struct Waiting {
    ballot: String,
    answer: oneshot::Sender<Result<(), Unavailable>>,
}

/// The way into the sending task; clones share it. The task ends when the
/// last clone is dropped.
#[derive(Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Waiting>,
    limit: Duration,
}

impl GroupCommit {
    /// Starts the sending task on the current runtime (the HTTP worker
    /// thread's own). `limit` bounds each batch's call to Redis.
    pub fn start(redis: RedisLink, replication: Replication, limit: Duration) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(send_batches(redis, replication, limit, waiting));
        Self { queue, limit }
    }

    /// Queues a ballot (its JSON) and waits for its batch's answer, all
    /// within the limit it was started with: `Ok` once the replicas asked
    /// for have confirmed it.
    pub async fn cast(&self, ballot: String) -> Result<(), Unavailable> {
        let limit = self.limit;
        let deadline = Instant::now() + limit;
        let (answer, answered) = oneshot::channel();
        let stopped = || Unavailable::Queue("the vote sender stopped".to_owned());
        let outcome = tokio::time::timeout_at(deadline, async {
            self.queue
                .send(Waiting { ballot, answer })
                .await
                .map_err(|_| stopped())?;
            answered.await.map_err(|_| stopped())?
        })
        .await;
        outcome.unwrap_or_else(|_| Err(Unavailable::Queue(format!("no answer within {limit:?}"))))
    }
}

/// Sends batch after batch until every [`GroupCommit`] is dropped.
async fn send_batches(
    redis: RedisLink,
    replication: Replication,
    limit: Duration,
    mut waiting: mpsc::Receiver<Waiting>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // A visitor who stopped waiting was told the vote may not have been
        // recorded; leaving it unsent keeps the last thing they heard true.
        batch.retain(|vote: &Waiting| !vote.answer.is_closed());
        if batch.is_empty() {
            continue;
        }
        let outcome = send(&redis, replication, limit, &batch).await;
        for vote in batch.drain(..) {
            // The visitor may have gone meanwhile: nobody to tell.
            let _ = vote.answer.send(outcome.clone());
        }
    }
}

/// One `RPUSH` of the whole batch, in arrival order, then `WAIT`: one
/// pipeline, one call, one connection.
async fn send(
    redis: &RedisLink,
    Replication { replicas, timeout }: Replication,
    limit: Duration,
    batch: &[Waiting],
) -> Result<(), Unavailable> {
    let mut pipe = redis::pipe();
    pipe.cmd("RPUSH").arg(wire::queue::VOTES);
    for vote in batch {
        pipe.arg(&vote.ballot);
    }
    pipe.ignore()
        .cmd("WAIT")
        .arg(replicas)
        .arg(timeout.as_millis() as u64);
    let (confirmed,) = redis
        .call(limit, |mut connection| async move {
            pipe.query_async::<(i64,)>(&mut connection).await
        })
        .await
        .map_err(|e| Unavailable::Queue(e.to_string()))?;
    if confirmed < i64::from(replicas) {
        return Err(Unavailable::NotReplicated {
            confirmed,
            wanted: replicas,
            timeout,
        });
    }
    Ok(())
}

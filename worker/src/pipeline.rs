//! The worker's loop: claim a batch, store it, acknowledge it; block on Redis
//! when the queue is empty, back off when a dependency fails, and on a stop
//! give back whatever batch could not be finished.
//!
//! While Postgres stores a batch, the next one is claimed from Redis behind
//! it and parsed, so Redis round trips and parsing overlap the commit. Stores stay one at a time, in queue order. The claimed-ahead batch
//! is only a shortcut: after any failure it is forgotten, and the next step
//! claims the whole processing list again (a replay is harmless).
//!
//! A batch Postgres keeps refusing (not an outage) is split after a few tries,
//! and the votes it refuses are set aside (see [`crate::refusal`]).
//!
//! Metrics recorded here: `worker_batches_total`, `worker_batch_size`,
//! `votes_stored_total`, `worker_claim_to_commit_seconds`,
//! `dead_letters_total`, `worker_votes_rejected_total`, `worker_batch_splits_total`,
//! `worker_errors_total{stage}`.

use crate::batch::{self, SortedBatch};
use crate::claim::Queue;
use crate::refusal::{self, Rejected, TRIES_BEFORE_SPLIT};
use crate::store;
use anyhow::Context;
use common::backoff::Backoff;
use deadpool_postgres::Pool;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long one blocking wait on an empty queue lasts before the loop looks
/// at its stop token again.
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// `# HELP` of the metrics recorded here.
pub fn describe_metrics() {
    metrics::describe_counter!(
        "worker_batches_total",
        metrics::Unit::Count,
        "Batches claimed from the queue and committed to Postgres."
    );
    metrics::describe_histogram!(
        "worker_batch_size",
        metrics::Unit::Count,
        "Messages in each committed batch."
    );
    metrics::describe_counter!(
        "votes_stored_total",
        metrics::Unit::Count,
        "Votes written to Postgres (after last-vote-wins within each batch)."
    );
    metrics::describe_counter!(
        "dead_letters_total",
        metrics::Unit::Count,
        "Messages that were not a ballot, set aside in the Redis list votes:dead."
    );
    metrics::describe_counter!(
        "worker_votes_rejected_total",
        metrics::Unit::Count,
        "Ballots Postgres refused, set aside in the Redis list votes:rejected."
    );
    metrics::describe_histogram!(
        "worker_claim_to_commit_seconds",
        metrics::Unit::Seconds,
        "Time from claiming a batch to its commit."
    );
    metrics::describe_counter!(
        "worker_batch_splits_total",
        metrics::Unit::Count,
        "Batches split in two to find the ballot Postgres refused."
    );
    metrics::describe_counter!(
        "worker_errors_total",
        metrics::Unit::Count,
        "Failed attempts, by stage (claim, store, acknowledge); the batch is retried."
    );
}

/// What one step of the loop did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The queue was empty.
    Idle,
    /// A batch was committed to Postgres and let go of in Redis.
    Stored {
        /// Messages in the batch, poison included.
        messages: usize,
        /// Distinct voters written.
        ballots: usize,
        /// Messages moved to the dead-letter list.
        poison: usize,
        /// Votes Postgres refused, moved to `votes:rejected`.
        rejected: usize,
    },
}

#[derive(Debug)]
pub struct Worker {
    queue: Queue,
    pool: Pool,
    batch_size: usize,
    schema_ready: AtomicBool,
    /// Tries in a row that Postgres refused the current batch.
    refusals: AtomicU32,
    /// The batch claimed behind the last stored one: exactly what the
    /// processing list holds once that one was acknowledged. `None` when not
    /// known (at start, after a failure): the whole list is claimed then.
    claimed_ahead: std::sync::Mutex<Option<SortedBatch>>,
    /// Whether the last step succeeded; only then is a batch claimed ahead,
    /// so an outage does not pull the queue into the processing list.
    healthy: AtomicBool,
}

impl Worker {
    pub fn new(queue: Queue, pool: Pool, batch_size: usize) -> Self {
        Self {
            queue,
            pool,
            batch_size,
            schema_ready: AtomicBool::new(false),
            refusals: AtomicU32::new(0),
            claimed_ahead: std::sync::Mutex::new(None),
            healthy: AtomicBool::new(true),
        }
    }

    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// One step: claim up to a batch (unless it was claimed ahead), store it
    /// while claiming the next, acknowledge it. On error the batch stays
    /// claimed and the next step retries it.
    pub async fn process_batch(&self) -> anyhow::Result<Outcome> {
        let outcome = self.step().await;
        self.healthy.store(outcome.is_ok(), Ordering::Relaxed);
        outcome
    }

    async fn step(&self) -> anyhow::Result<Outcome> {
        let sorted = match self.take_claimed_ahead() {
            Some(sorted) => sorted,
            None => batch::sort(
                &self
                    .queue
                    .claim(0, self.batch_size)
                    .await
                    .context("claiming votes from Redis")
                    .inspect_err(|_| count_error("claim"))?,
            ),
        };
        if sorted.messages == 0 {
            return Ok(Outcome::Idle);
        }
        let claimed_at = Instant::now();
        // The next batch is claimed and sorted while this one is stored.
        let claim_next = async {
            if self.healthy.load(Ordering::Relaxed) {
                let next = self.queue.claim(sorted.messages, self.batch_size).await;
                Some(next.map(|messages| batch::sort(&messages)))
            } else {
                None
            }
        };
        let (stored, next) = tokio::join!(self.store_or_split(&sorted.ballots), claim_next);
        let rejected = stored?;
        self.queue
            .acknowledge(sorted.messages, &sorted.poison, &rejected)
            .await
            .context("acknowledging the stored batch in Redis")
            .inspect_err(|_| count_error("acknowledge"))?;
        match next {
            Some(Ok(next)) if next.messages > 0 => self.claim_ahead(next),
            Some(Err(e)) => {
                count_error("claim");
                tracing::warn!(
                    error = format!("{e:#}"),
                    "claiming the next batch failed; it is claimed again"
                );
            }
            _ => {}
        }
        for poison in &sorted.poison {
            tracing::warn!(
                reason = %poison.reason,
                message = %String::from_utf8_lossy(&poison.message[..poison.message.len().min(200)]),
                "moved a message that is not a vote to {}",
                wire::queue::DEAD_LETTERS
            );
        }
        for vote in &rejected {
            tracing::warn!(
                voter_id = %vote.ballot.voter_id,
                vote = %vote.ballot.choice,
                sqlstate = %vote.refusal.sqlstate,
                reason = %vote.refusal.reason,
                "Postgres refused this vote; moved it to {}",
                wire::queue::REJECTED
            );
        }
        let stored = sorted.ballots.len() - rejected.len();
        metrics::counter!("worker_batches_total").increment(1);
        metrics::histogram!("worker_batch_size").record(sorted.messages as f64);
        metrics::counter!("votes_stored_total").increment(stored as u64);
        metrics::counter!("dead_letters_total").increment(sorted.poison.len() as u64);
        metrics::counter!("worker_votes_rejected_total").increment(rejected.len() as u64);
        metrics::histogram!("worker_claim_to_commit_seconds")
            .record(claimed_at.elapsed().as_secs_f64());
        Ok(Outcome::Stored {
            messages: sorted.messages,
            ballots: stored,
            poison: sorted.poison.len(),
            rejected: rejected.len(),
        })
    }

    fn take_claimed_ahead(&self) -> Option<SortedBatch> {
        self.claimed_ahead
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    fn claim_ahead(&self, batch: SortedBatch) {
        *self
            .claimed_ahead
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(batch);
    }

    /// Stores the batch whole; once Postgres has refused it
    /// `TRIES_BEFORE_SPLIT` times in a row, stores what it accepts and returns
    /// the votes it refuses. Any other failure is an error (retried later).
    async fn store_or_split(
        &self,
        ballots: &[wire::ballot::Ballot],
    ) -> anyhow::Result<Vec<Rejected>> {
        let Err(error) = self.store(ballots).await else {
            self.refusals.store(0, Ordering::Relaxed);
            return Ok(Vec::new());
        };
        count_error("store");
        let Some(refused) = refusal::refusal(&error) else {
            return Err(error);
        };
        let tries = self.refusals.fetch_add(1, Ordering::Relaxed) + 1;
        if tries < TRIES_BEFORE_SPLIT {
            return Err(error.context(format!(
                "Postgres refused the batch ({}, SQLSTATE {}); try {tries} of {TRIES_BEFORE_SPLIT} before it is split",
                refused.reason, refused.sqlstate
            )));
        }
        self.refusals.store(0, Ordering::Relaxed);
        metrics::counter!("worker_batch_splits_total").increment(1);
        tracing::warn!(
            votes = ballots.len(),
            sqlstate = %refused.sqlstate,
            reason = %refused.reason,
            "Postgres refused the batch {tries} times; splitting it to store what it accepts"
        );
        refusal::store_what_is_accepted(&self.pool, ballots)
            .await
            .inspect_err(|_| count_error("store"))
    }

    /// Brings the schema up to date; later stores skip it until one fails.
    pub async fn migrate(&self) -> anyhow::Result<crate::migrate::Report> {
        let report = store::migrate(&self.pool).await?;
        self.schema_ready.store(true, Ordering::Relaxed);
        Ok(report)
    }

    async fn store(&self, ballots: &[wire::ballot::Ballot]) -> anyhow::Result<()> {
        if !self.schema_ready.load(Ordering::Relaxed) {
            self.migrate()
                .await
                .context("migrating the schema in Postgres")?;
        }
        store::store(&self.pool, ballots)
            .await
            .context("storing the batch in Postgres")
            .inspect_err(|_| self.schema_ready.store(false, Ordering::Relaxed))?;
        Ok(())
    }

    /// Drains the queue until `stop`; then gives back an unfinished batch.
    pub async fn run(&self, stop: CancellationToken) {
        let mut backoff = Backoff::for_dependencies();
        while !stop.is_cancelled() {
            match self.process_batch().await {
                Ok(Outcome::Idle) => {
                    backoff.reset();
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        waited = self.queue.wait_for_vote(IDLE_WAIT) => {
                            if let Err(e) = waited {
                                tracing::warn!(error = format!("{e:#}"), "waiting for votes failed; retrying");
                                self.pause(&mut backoff, &stop).await;
                            }
                        }
                    }
                }
                Ok(Outcome::Stored { .. }) => backoff.reset(),
                Err(e) => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        attempt = backoff.attempts() + 1,
                        "batch not stored yet; it stays claimed and will be retried"
                    );
                    self.pause(&mut backoff, &stop).await;
                }
            }
        }
        match self.queue.release().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(votes = n, "gave the unfinished batch back to the queue"),
            Err(e) => tracing::warn!(
                error = format!("{e:#}"),
                "could not give the batch back; another worker will recover it"
            ),
        }
    }

    async fn pause(&self, backoff: &mut Backoff, stop: &CancellationToken) {
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = backoff.wait() => {}
        }
    }
}

fn count_error(stage: &'static str) {
    metrics::counter!("worker_errors_total", "stage" => stage).increment(1);
}

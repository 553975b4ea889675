//! The worker's loop: claim a batch, store it, acknowledge it; block on Redis
//! when the queue is empty, back off when a dependency fails, and on a stop
//! give back whatever batch could not be finished.
//!
//! Postgres is kept busy: while it stores a batch, the Redis side lets go of
//! the batch stored before (its acknowledgement) and then claims and parses
//! the next one behind it, so no Redis round trip sits between two stores.
//! Stores stay one at a time, in queue order, and a batch leaves Redis only
//! after its commit. The claimed-ahead batch is only a shortcut: after any
//! failure it is forgotten, and the next step claims the whole processing
//! list again (a replay is harmless: the upsert keeps the newest vote).
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
    /// A batch was committed to Postgres (it leaves Redis during the next step).
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

/// The loop's state. The loop alone owns it: readiness and the heartbeat
/// have their own handles on the queue and the pool (see `startup`), so
/// nothing here is shared and nothing needs a lock.
#[derive(Debug)]
pub struct Worker {
    queue: Queue,
    batch_size: usize,
    /// The Postgres side, apart so that it runs beside the Redis side.
    storage: Storage,
    /// The batch claimed behind the last stored one: exactly what the
    /// processing list holds once that one was acknowledged. `None` when not
    /// known (at start, after a failure): the whole list is claimed then.
    claimed_ahead: Option<SortedBatch>,
    /// The batch stored last, still at the head of the processing list: let
    /// go of while the next one is stored, or before the next claim.
    stored_unacknowledged: Option<Committed>,
    /// Whether the last step succeeded; only then is a batch claimed ahead,
    /// so an outage does not pull the queue into the processing list.
    healthy: bool,
}

/// The Postgres side of the loop: what it knows of the schema and of the
/// refusals of the batch it is storing.
#[derive(Debug)]
struct Storage {
    pool: Pool,
    schema_ready: bool,
    /// Tries in a row that Postgres refused the current batch.
    refusals: u32,
}

/// A committed batch that Redis still holds: what its acknowledgement does.
#[derive(Debug)]
struct Committed {
    messages: usize,
    poison: Vec<crate::batch::Poison>,
    rejected: Vec<Rejected>,
}

impl Worker {
    pub fn new(queue: Queue, pool: Pool, batch_size: usize) -> Self {
        Self {
            queue,
            batch_size,
            storage: Storage {
                pool,
                schema_ready: false,
                refusals: 0,
            },
            claimed_ahead: None,
            stored_unacknowledged: None,
            healthy: true,
        }
    }

    /// One step: claim up to a batch (unless it was claimed ahead), store it
    /// while letting go of the one stored before and claiming the next. On
    /// error the batch stays claimed and the next step retries it.
    pub async fn process_batch(&mut self) -> anyhow::Result<Outcome> {
        let outcome = self.step().await;
        self.healthy = outcome.is_ok();
        outcome
    }

    async fn step(&mut self) -> anyhow::Result<Outcome> {
        let mut previous = self.stored_unacknowledged.take();
        let sorted = match self.claimed_ahead.take() {
            Some(sorted) => sorted,
            None => {
                // Nothing claimed behind the last stored batch: let go of it
                // first, so the claim starts from what is left.
                if let Some(stored) = previous.take() {
                    stored.acknowledge(&self.queue).await?;
                }
                batch::sort(
                    &self
                        .queue
                        .claim(0, self.batch_size)
                        .await
                        .context("claiming votes from Redis")
                        .inspect_err(|_| count_error("claim"))?,
                )
            }
        };
        if sorted.messages == 0 {
            return Ok(Outcome::Idle);
        }
        let claimed_at = Instant::now();
        // While this batch is stored: the one before leaves Redis, then the
        // next is claimed behind this one (the list then holds exactly it).
        let (queue, batch_size, healthy) = (&self.queue, self.batch_size, self.healthy);
        let redis_side = async {
            if let Some(stored) = &previous {
                stored.acknowledge(queue).await?;
            }
            if !healthy {
                return Ok(None);
            }
            let next = queue.claim(sorted.messages, batch_size).await;
            Ok::<_, anyhow::Error>(Some(next.map(|messages| batch::sort(&messages))))
        };
        let (stored, next) = tokio::join!(self.storage.store_or_split(&sorted.ballots), redis_side);
        // A failed acknowledgement leaves the list longer than this worker
        // counts: the next step claims all of it again.
        let next = next?;
        let rejected = stored?;
        match next {
            Some(Ok(next)) if next.messages > 0 => self.claimed_ahead = Some(next),
            Some(Err(e)) => {
                count_error("claim");
                tracing::warn!(
                    error = format!("{e:#}"),
                    "claiming the next batch failed; it is claimed again"
                );
            }
            _ => {}
        }
        let stored = sorted.ballots.len() - rejected.len();
        metrics::counter!("worker_batches_total").increment(1);
        metrics::histogram!("worker_batch_size").record(sorted.messages as f64);
        metrics::counter!("votes_stored_total").increment(stored as u64);
        metrics::counter!("dead_letters_total").increment(sorted.poison.len() as u64);
        metrics::counter!("worker_votes_rejected_total").increment(rejected.len() as u64);
        metrics::histogram!("worker_claim_to_commit_seconds")
            .record(claimed_at.elapsed().as_secs_f64());
        let outcome = Outcome::Stored {
            messages: sorted.messages,
            ballots: stored,
            poison: sorted.poison.len(),
            rejected: rejected.len(),
        };
        self.stored_unacknowledged = Some(Committed {
            messages: sorted.messages,
            poison: sorted.poison,
            rejected,
        });
        Ok(outcome)
    }

    /// Brings the schema up to date; later stores skip it until one fails.
    pub async fn migrate(&mut self) -> anyhow::Result<crate::migrate::Report> {
        self.storage.migrate().await
    }

    /// Drains the queue until `stop`; then gives back an unfinished batch.
    pub async fn run(&mut self, stop: CancellationToken) {
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
                                pause(&mut backoff, &stop).await;
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
                    pause(&mut backoff, &stop).await;
                }
            }
        }
        if let Some(stored) = self.stored_unacknowledged.take() {
            if let Err(e) = stored.acknowledge(&self.queue).await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "could not let go of the last stored batch; it is stored again later"
                );
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
}

impl Committed {
    /// Lets go of this batch in Redis (see [`Queue::acknowledge`]).
    async fn acknowledge(&self, queue: &Queue) -> anyhow::Result<()> {
        queue
            .acknowledge(self.messages, &self.poison, &self.rejected)
            .await
            .context("acknowledging the stored batch in Redis")
            .inspect_err(|_| count_error("acknowledge"))?;
        for poison in &self.poison {
            tracing::warn!(
                reason = %poison.reason,
                message = %String::from_utf8_lossy(&poison.message[..poison.message.len().min(200)]),
                "moved a message that is not a vote to {}",
                wire::queue::DEAD_LETTERS
            );
        }
        for vote in &self.rejected {
            tracing::warn!(
                voter_id = %vote.ballot.voter_id,
                vote = %vote.ballot.choice,
                sqlstate = %vote.refusal.sqlstate,
                reason = %vote.refusal.reason,
                "Postgres refused this vote; moved it to {}",
                wire::queue::REJECTED
            );
        }
        Ok(())
    }
}

impl Storage {
    /// Stores the batch whole; once Postgres has refused it
    /// `TRIES_BEFORE_SPLIT` times in a row, stores what it accepts and returns
    /// the votes it refuses. Any other failure is an error (retried later).
    async fn store_or_split(
        &mut self,
        ballots: &[wire::ballot::Ballot],
    ) -> anyhow::Result<Vec<Rejected>> {
        let Err(error) = self.store(ballots).await else {
            self.refusals = 0;
            return Ok(Vec::new());
        };
        count_error("store");
        let Some(refused) = refusal::refusal(&error) else {
            return Err(error);
        };
        self.refusals += 1;
        let tries = self.refusals;
        if tries < TRIES_BEFORE_SPLIT {
            return Err(error.context(format!(
                "Postgres refused the batch ({}, SQLSTATE {}); try {tries} of {TRIES_BEFORE_SPLIT} before it is split",
                refused.reason, refused.sqlstate
            )));
        }
        self.refusals = 0;
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

    async fn migrate(&mut self) -> anyhow::Result<crate::migrate::Report> {
        let report = store::migrate(&self.pool).await?;
        self.schema_ready = true;
        Ok(report)
    }

    async fn store(&mut self, ballots: &[wire::ballot::Ballot]) -> anyhow::Result<()> {
        if !self.schema_ready {
            self.migrate()
                .await
                .context("migrating the schema in Postgres")?;
        }
        store::store(&self.pool, ballots)
            .await
            .context("storing the batch in Postgres")
            .inspect_err(|_| self.schema_ready = false)?;
        Ok(())
    }
}

async fn pause(backoff: &mut Backoff, stop: &CancellationToken) {
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = backoff.wait() => {}
    }
}

fn count_error(stage: &'static str) {
    metrics::counter!("worker_errors_total", "stage" => stage).increment(1);
}

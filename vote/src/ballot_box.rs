//! Where a vote goes: RPUSH onto the Redis list `votes`.
//!
//! Each HTTP worker thread has its own multiplexed connection, driven on that
//! thread (see `startup`): the thread's concurrent votes are pipelined on it,
//! and no vote wakes another thread. It reconnects by itself after Redis
//! comes back, or after Redis stops answering (see `common::redis_link`). A
//! request never waits more than `SEND_TIMEOUT` for Redis: the visitor gets a
//! clear "may not have been recorded; please vote again" instead of a hang
//! (Redis may have taken a vote whose answer did not come back).
//!
//! With `REDIS_MIN_REPLICAS`, a vote is acknowledged only once that many
//! replicas confirm they have it (`WAIT`): a failover to one of them cannot
//! lose it. The votes waiting at the same time share one `WAIT` (see
//! `group_commit`). A vote the replicas do not confirm in time is answered
//! "may not have been recorded; please vote again" (503): the master has it,
//! and if no failover comes it is counted; the visitor's next vote replaces
//! it either way (the last vote wins).

use crate::group_commit::GroupCommit;
use common::config::RedisUrl;
use common::redis_link::RedisLink;
use std::time::Duration;
use wire::ballot::Ballot;

const SEND_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct BallotBox {
    redis: RedisLink,
    /// With `REDIS_MIN_REPLICAS` above 0: the task that sends votes in
    /// batches, each confirmed by one `WAIT`.
    confirmed: Option<GroupCommit>,
}

impl std::fmt::Debug for BallotBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BallotBox").finish_non_exhaustive()
    }
}

/// How many Redis replicas must have a vote before it is acknowledged
/// (`REDIS_MIN_REPLICAS`; 0: the master's word is enough), and how long a
/// vote waits for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replication {
    pub replicas: u32,
    pub timeout: Duration,
}

pub const DEFAULT_REPLICA_TIMEOUT_MS: u64 = 200;
/// Half of SEND_TIMEOUT: a vote may wait for the batch before its own, then
/// for its own, and still gets its answer.
pub const MAX_REPLICA_TIMEOUT_MS: u64 = 1000;

/// The vote was not acknowledged (Redis may have it all the same).
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unavailable {
    /// Redis did not acknowledge it in time. It may have it all the same
    /// (the command may already be in its socket buffer).
    #[error("Redis did not accept the vote: {0}")]
    Queue(String),
    /// The master has it, but fewer replicas than asked for confirmed it in
    /// time: a failover now could lose it, so it is not acknowledged. (If no
    /// failover comes, it is counted; a vote cast again replaces it.)
    #[error("Redis has the vote, but {confirmed} of the {wanted} replicas asked for confirmed it within {timeout:?}")]
    NotReplicated {
        confirmed: i64,
        wanted: u32,
        timeout: Duration,
    },
}

impl BallotBox {
    /// Connects lazily: the service starts, and serves its page, with Redis
    /// down. With replicas to wait for, starts the batch sender on the
    /// current runtime (so call it on the thread that serves the votes).
    pub fn connect(url: &RedisUrl, replication: Replication) -> anyhow::Result<Self> {
        let redis = link(url)?;
        let confirmed = (replication.replicas > 0)
            .then(|| GroupCommit::start(redis.clone(), replication, SEND_TIMEOUT));
        Ok(Self { redis, confirmed })
    }

    /// Checks the URL without connecting or starting anything.
    pub fn check(url: &RedisUrl) -> anyhow::Result<()> {
        link(url).map(drop)
    }

    /// Queues one ballot; `Ok` means Redis has it (and, when asked for, as
    /// many replicas, confirmed with the batch it went in; without, one
    /// `RPUSH` of its own, pipelined with the thread's other votes).
    pub async fn cast(&self, ballot: &Ballot) -> Result<(), Unavailable> {
        if let Some(confirmed) = &self.confirmed {
            return confirmed.cast(ballot.to_json()).await;
        }
        let json = ballot.to_json();
        // Sized for its three arguments: `redis::cmd` grew its buffers twice.
        let mut push = redis::Cmd::with_capacity(3, 16 + json.len());
        push.arg("RPUSH").arg(wire::queue::VOTES).arg(json);
        self.redis
            .call(SEND_TIMEOUT, |mut redis| async move {
                push.query_async::<i64>(&mut redis).await
            })
            .await
            .map(drop)
            .map_err(|e| Unavailable::Queue(e.to_string()))
    }

    /// Opens the connection now, in the background, so that the first
    /// visitor of a new pod does not wait for it (nor risk the send timeout).
    pub fn warm_up(&self) {
        let ballot_box = self.clone();
        tokio::spawn(async move {
            match ballot_box.ping().await {
                Ok(()) => tracing::info!("connected to Redis"),
                Err(e) => tracing::warn!(
                    error = %e,
                    "Redis does not answer yet; votes get 503 until it does"
                ),
            }
        });
    }

    /// PING, for readiness.
    pub async fn ping(&self) -> Result<(), String> {
        self.redis.ping(Duration::from_secs(1)).await
    }
}

fn link(url: &RedisUrl) -> anyhow::Result<RedisLink> {
    Ok(RedisLink::new(url, "vote", Duration::from_secs(1))?)
}

//! Where a vote goes: RPUSH onto the Redis list `votes`.
//!
//! Each HTTP worker thread has its own multiplexed connection, driven on that
//! thread (see `startup`): the thread's concurrent votes are pipelined on it,
//! and no vote wakes another thread. It reconnects by itself after Redis
//! comes back, or after Redis stops answering (see `common::redis_link`). A
//! request never waits more than `SEND_TIMEOUT` for Redis: the visitor gets a
//! clear "not recorded" instead of a hang.

use common::config::RedisUrl;
use common::redis_link::RedisLink;
use std::time::Duration;
use wire::ballot::Ballot;

const SEND_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct BallotBox {
    redis: RedisLink,
}

impl std::fmt::Debug for BallotBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BallotBox").finish_non_exhaustive()
    }
}

/// Redis did not take the vote; nothing was queued.
#[derive(Debug, thiserror::Error)]
#[error("Redis did not accept the vote: {0}")]
pub struct Unavailable(String);

impl BallotBox {
    /// Connects lazily: the service starts, and serves its page, with Redis down.
    pub fn connect(url: &RedisUrl) -> anyhow::Result<Self> {
        let redis = RedisLink::new(url, "vote", Duration::from_secs(1))?;
        Ok(Self { redis })
    }

    /// Queues one ballot; `Ok` means Redis has it.
    pub async fn cast(&self, ballot: &Ballot) -> Result<(), Unavailable> {
        let mut command = redis::cmd("RPUSH");
        command.arg(wire::queue::VOTES).arg(ballot.to_json());
        self.redis
            .call(SEND_TIMEOUT, |mut redis| async move {
                command.query_async::<i64>(&mut redis).await
            })
            .await
            .map(drop)
            .map_err(|e| Unavailable(e.to_string()))
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

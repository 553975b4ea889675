//! Where a vote goes: RPUSH onto the Redis list `votes`.
//!
//! Each HTTP worker thread has its own multiplexed connection, driven on that
//! thread (see `startup`): the thread's concurrent votes are pipelined on it,
//! and no vote wakes another thread. It reconnects by itself after Redis
//! comes back. A
//! request never waits more than `SEND_TIMEOUT` for Redis: the visitor gets a
//! clear "not recorded" instead of a hang.

use common::config::RedisUrl;
use redis::aio::ConnectionManager;
use std::time::Duration;
use wire::ballot::Ballot;

const SEND_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct BallotBox {
    redis: ConnectionManager,
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
        let redis = url.connection(Duration::from_secs(1), Some(SEND_TIMEOUT))?;
        Ok(Self { redis })
    }

    /// Queues one ballot; `Ok` means Redis has it.
    pub async fn cast(&self, ballot: &Ballot) -> Result<(), Unavailable> {
        let mut redis = self.redis.clone();
        let mut command = redis::cmd("RPUSH");
        command.arg(wire::queue::VOTES).arg(ballot.to_json());
        let push = command.query_async::<i64>(&mut redis);
        match tokio::time::timeout(SEND_TIMEOUT, push).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Unavailable(e.to_string())),
            Err(_) => Err(Unavailable(format!("no answer within {SEND_TIMEOUT:?}"))),
        }
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
        common::http::ping_redis(&mut self.redis.clone()).await
    }
}

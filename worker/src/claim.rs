//! The Redis side of the worker: a reliable queue on top of the list `votes`.
//!
//! A worker moves up to a batch from the head of `votes` into its own
//! processing list in one atomic script, and takes a batch off that list only
//! after Postgres has committed it. (While one batch is stored, the next is
//! claimed behind it in the same list.) A worker that restarts under the same id
//! finds its batch still there; one that never comes back stops refreshing its
//! heartbeat, and once that key expires any other worker puts the batch back at
//! the head of `votes`, in its original order.
//!
//! Every write the worker makes is a script flagged `allow-oom`: a Redis at
//! its `maxmemory` with `noeviction` (what the manifests set) refuses
//! `LMOVE`, `MULTI` with `RPUSH` and unflagged scripts that write, which is
//! exactly when the queue must drain; vote's `RPUSH` is still refused there
//! (503), so the worker only ever frees memory.

use crate::batch::Poison;
use crate::keys::WorkerKeys;
use crate::refusal::Rejected;
use common::config::RedisUrl;
use common::redis_link::RedisLink;
use redis::{AsyncCommands, Script};
use std::sync::LazyLock;
use std::time::Duration;
use wire::queue::{DEAD_LETTERS, PROCESSING_PREFIX, REJECTED, VOTES};

/// Claims more votes behind the `ARGV[1]` items of the processing list this
/// worker already holds: tops the list up to `ARGV[1] + ARGV[2]` items from
/// the head of the queue and returns what lies past the held ones. With
/// nothing held (`0`) that is the whole list: what an earlier run of this
/// worker left, then the new. Returns nil, claiming nothing, when the list
/// does not hold exactly `ARGV[1]` items: another worker recovered it (this
/// one's heartbeat had lapsed), and claiming behind it would put unclaimed
/// votes where the held batch's acknowledgement removes them.
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"#!lua flags=allow-oom
local held = tonumber(ARGV[1])
local length = redis.call('LLEN', KEYS[2])
if held > 0 and length ~= held then
  return false
end
local want = held + tonumber(ARGV[2]) - length
if want > 0 then
  local items = redis.call('LRANGE', KEYS[1], 0, want - 1)
  local n = #items
  if n > 0 then
    redis.call('LTRIM', KEYS[1], n, -1)
    for i = 1, n, 500 do
      redis.call('RPUSH', KEYS[2], unpack(items, i, math.min(i + 499, n)))
    end
  end
end
return redis.call('LRANGE', KEYS[2], held, -1)
",
    )
});

/// Puts a processing list back at the head of the queue, oldest first, unless
/// its worker's heartbeat is alive (`ARGV[1]` = `force` skips that check).
static REQUEUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"#!lua flags=allow-oom
if ARGV[1] ~= 'force' and redis.call('EXISTS', KEYS[3]) == 1 then
  return -1
end
local items = redis.call('LRANGE', KEYS[1], 0, -1)
for i = #items, 1, -1 do
  redis.call('LPUSH', KEYS[2], items[i])
end
redis.call('DEL', KEYS[1])
return #items
",
    )
});

/// Refreshes the heartbeat and returns what it held before, so a worker can
/// tell when another live process uses the same id.
static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"#!lua flags=allow-oom
local before = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return before
",
    )
});

/// Lets go of a committed batch, atomically: trims the first `ARGV[1]`
/// items off the processing list (`KEYS[1]`), appends the `ARGV[2]`
/// messages after it to the dead letters (`KEYS[2]`) and the rest to the
/// rejected votes (`KEYS[3]`).
static ACKNOWLEDGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"#!lua flags=allow-oom
local poison = tonumber(ARGV[2])
for i = 3, 2 + poison do
  redis.call('RPUSH', KEYS[2], ARGV[i])
end
for i = 3 + poison, #ARGV do
  redis.call('RPUSH', KEYS[3], ARGV[i])
end
redis.call('LTRIM', KEYS[1], tonumber(ARGV[1]), -1)
return 1
",
    )
});

/// One worker's handle on the queue.
#[derive(Clone)]
pub struct Queue {
    keys: WorkerKeys,
    /// Claims, acknowledgements and the blocking wait.
    redis: RedisLink,
    /// Heartbeats, recovery and probes, so they never queue behind a blocking wait.
    control: RedisLink,
    /// A random token per process, written into the heartbeat.
    token: String,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// Longest a connection attempt to Redis may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest a single Redis call may take before it counts as a failure.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

impl Queue {
    pub fn new(url: &RedisUrl, worker_id: &str) -> anyhow::Result<Self> {
        Ok(Self {
            keys: WorkerKeys::new(worker_id),
            redis: RedisLink::new(url, &format!("worker-{worker_id}"), CONNECT_TIMEOUT)?,
            control: RedisLink::new(url, &format!("worker-{worker_id}-control"), CONNECT_TIMEOUT)?,
            token: format!("{:016x}", rand::random::<u64>()),
        })
    }

    pub fn keys(&self) -> &WorkerKeys {
        &self.keys
    }

    /// Claims up to `max` votes behind the first `held` items of this
    /// worker's processing list, and returns the items past those `held`,
    /// oldest first. `claim(0, max)` returns the whole list (possibly left
    /// over from an earlier run of this worker). Fails, claiming nothing,
    /// when the list no longer holds exactly `held` items.
    pub async fn claim(&self, held: usize, max: usize) -> anyhow::Result<Vec<Vec<u8>>> {
        let mut call = CLAIM.prepare_invoke();
        call.key(VOTES)
            .key(&self.keys.processing)
            .arg(held)
            .arg(max);
        let claimed: Option<Vec<Vec<u8>>> = self
            .redis
            .call(CALL_TIMEOUT, |mut redis| async move {
                call.invoke_async(&mut redis).await
            })
            .await?;
        claimed.ok_or_else(|| {
            anyhow::anyhow!("the {held} votes being stored were taken back (by another worker?)")
        })
    }

    /// Blocks up to `timeout` for a vote and moves it into the processing list.
    /// Returns whether one arrived.
    pub async fn wait_for_vote(&self, timeout: Duration) -> anyhow::Result<bool> {
        let processing = &self.keys.processing;
        let moved: Option<Vec<u8>> = self
            .redis
            .call(timeout + CALL_TIMEOUT, |mut redis| async move {
                redis
                    .blmove(
                        VOTES,
                        processing,
                        redis::Direction::Left,
                        redis::Direction::Right,
                        timeout.as_secs_f64(),
                    )
                    .await
            })
            .await?;
        Ok(moved.is_some())
    }

    /// Lets go of a committed batch, the first `messages` items of the
    /// processing list (a batch claimed behind it stays): poison goes to the
    /// dead-letter list, votes Postgres refused to the rejected list, and the
    /// batch leaves the processing list, atomically.
    pub async fn acknowledge(
        &self,
        messages: usize,
        poison: &[Poison],
        rejected: &[Rejected],
    ) -> anyhow::Result<()> {
        let mut call = ACKNOWLEDGE.prepare_invoke();
        call.key(&self.keys.processing)
            .key(DEAD_LETTERS)
            .key(REJECTED)
            .arg(messages)
            .arg(poison.len());
        for item in poison {
            call.arg(&item.message);
        }
        for vote in rejected {
            call.arg(vote.to_json());
        }
        self.redis
            .call(CALL_TIMEOUT, |mut redis| async move {
                call.invoke_async::<i64>(&mut redis).await
            })
            .await?;
        Ok(())
    }

    /// Gives the current batch back to the queue (on a stop that cannot finish it).
    pub async fn release(&self) -> anyhow::Result<i64> {
        self.requeue(&self.keys, true).await
    }

    async fn requeue(&self, keys: &WorkerKeys, force: bool) -> anyhow::Result<i64> {
        let mut call = REQUEUE.prepare_invoke();
        call.key(&keys.processing)
            .key(VOTES)
            .key(&keys.heartbeat)
            .arg(if force { "force" } else { "" });
        Ok(self
            .control
            .call(CALL_TIMEOUT, |mut redis| async move {
                call.invoke_async(&mut redis).await
            })
            .await?)
    }

    /// Refreshes this worker's heartbeat for `ttl`; warns when another live
    /// process had written it (two workers with one `WORKER_ID`).
    pub async fn heartbeat(&self, ttl: Duration) -> anyhow::Result<()> {
        let mut call = HEARTBEAT.prepare_invoke();
        call.key(&self.keys.heartbeat)
            .arg(&self.token)
            .arg(ttl.as_millis() as u64);
        let before: Option<String> = self
            .control
            .call(CALL_TIMEOUT, |mut redis| async move {
                call.invoke_async(&mut redis).await
            })
            .await?;
        if let Some(other) = before.filter(|t| *t != self.token) {
            tracing::warn!(
                worker_id = %self.keys.worker_id,
                other_token = %other,
                "another process wrote this heartbeat: is WORKER_ID shared? (once after a restart is fine)"
            );
        }
        Ok(())
    }

    /// Removes the heartbeat on a clean stop, so nobody waits for it to expire.
    pub async fn retire(&self) -> anyhow::Result<()> {
        let heartbeat = &self.keys.heartbeat;
        self.control
            .call(CALL_TIMEOUT, |mut redis| async move {
                redis.del::<_, ()>(heartbeat).await
            })
            .await?;
        Ok(())
    }

    /// Puts back the batches of workers whose heartbeat has expired; returns
    /// how many votes went back on the queue.
    pub async fn recover_orphans(&self) -> anyhow::Result<i64> {
        let pattern = format!("{PROCESSING_PREFIX}*");
        let keys: Vec<String> = self
            .control
            .call(CALL_TIMEOUT, |mut redis| async move {
                let mut keys = Vec::new();
                let mut iter = redis.scan_match::<_, String>(&pattern).await?;
                while let Some(key) = iter.next_item().await {
                    keys.push(key?);
                }
                Ok(keys)
            })
            .await?;
        let mut recovered = 0;
        for key in keys {
            let Some(orphan) = WorkerKeys::from_processing_key(&key) else {
                continue;
            };
            if orphan.worker_id == self.keys.worker_id {
                continue;
            }
            let moved = self.requeue(&orphan, false).await?;
            if moved > 0 {
                tracing::warn!(
                    dead_worker = %orphan.worker_id,
                    votes = moved,
                    "recovered the batch of a worker whose heartbeat expired"
                );
                recovered += moved;
            }
        }
        Ok(recovered)
    }

    /// How many votes wait in the queue, and when the one at its head (the
    /// next to be claimed, the oldest waiting) was cast, in microseconds since
    /// the Unix epoch: `None` when the queue is empty or its head carries no
    /// stamp (not a ballot, or from a vote service that does not stamp). One
    /// round trip: `LLEN` and `LINDEX` pipelined.
    pub async fn waiting(&self) -> anyhow::Result<(i64, Option<i64>)> {
        let (depth, head): (i64, Option<Vec<u8>>) = self
            .control
            .call(CALL_TIMEOUT, |mut redis| async move {
                redis::pipe()
                    .llen(VOTES)
                    .lindex(VOTES, 0)
                    .query_async(&mut redis)
                    .await
            })
            .await?;
        let cast_at = head
            .and_then(|message| wire::ballot::Ballot::from_json(&message).ok())
            .and_then(|ballot| ballot.cast_at);
        Ok((depth, cast_at))
    }

    /// PING, for readiness.
    pub async fn ping(&self) -> Result<(), String> {
        self.control.ping(Duration::from_secs(1)).await
    }
}

//! A Redis connection that starts over when Redis stops answering, and never
//! lets a command sent before the new start run after it.
//!
//! The redis crate's own reconnecting connection dials again only when the
//! server closes the socket. A server that vanished without a reset (its pod
//! deleted behind a Service, its node gone, a partition) leaves every later
//! call on a socket nobody answers until the kernel gives up, about fifteen
//! minutes later. Here each call has a time limit, and a call that overruns it
//! (or finds the connection broken) retires the connection: the next call
//! dials afresh.
//!
//! A retired connection may only be stalled, not dead, and its commands could
//! still reach Redis after newer ones sent on the new connection: a visitor's
//! earlier vote landing after their later one, or a worker's late
//! acknowledgement trimming votes claimed since. So every connection is named
//! (`CLIENT SETNAME`) and, before a new one serves any call, it closes the
//! retired ones on the server (`CLIENT KILL ID`): whatever they sent has run
//! by then, or never will. A server that does not know them (a new pod) has
//! nothing to close. Where Redis refuses `CLIENT` (a restricted ACL, a proxy
//! that does not pass it on), the reconnection works without that fence, and
//! a warning says so.
//!
//! With Sentinels (`REDIS_SENTINELS`), each dial asks them for the current
//! master: a connection that fails, or that a demoted master answers with
//! `READONLY`, is retired, and the next call reaches the new master.

use crate::config::RedisUrl;
use redis::aio::MultiplexedConnection;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// A call that did not get its answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Redis answered with an error, or the connection failed.
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    /// No answer within the call's limit; the connection was retired.
    #[error("no answer within {0:?}")]
    Silent(Duration),
}

/// A shared handle: clones use the same connection.
#[derive(Clone)]
pub struct RedisLink {
    shared: Arc<Shared>,
}

/// Where a new connection goes: the one server of `REDIS_URL`, or the
/// master the Sentinels name at that moment.
enum Source {
    Direct(redis::Client),
    Sentinel(tokio::sync::Mutex<redis::sentinel::SentinelClient>),
}

struct Shared {
    source: Source,
    connect_timeout: Duration,
    /// What `CLIENT LIST` shows for this link's connections: `<role>-<random>-<n>`.
    name_prefix: String,
    next_connection: AtomicU64,
    live: Mutex<Option<Live>>,
    /// Names of retired connections not yet closed on the server.
    retired: Mutex<Vec<String>>,
    /// Held while dialing, so one caller dials at a time.
    dialing: tokio::sync::Mutex<()>,
    /// Set once `CLIENT` was refused, so the warning is said once.
    unfenced_warned: AtomicBool,
}

#[derive(Clone)]
struct Live {
    connection: MultiplexedConnection,
    /// Shared: the live connection is cloned for every call.
    name: Arc<str>,
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLink")
            .field("name_prefix", &self.shared.name_prefix)
            .finish_non_exhaustive()
    }
}

impl RedisLink {
    /// A link for `role` (shown in `CLIENT LIST`). Dials on its first call:
    /// a service starts, and serves what it can, with Redis down.
    pub fn new(url: &RedisUrl, role: &str, connect_timeout: Duration) -> redis::RedisResult<Self> {
        Ok(Self {
            shared: Arc::new(Shared {
                source: match url.sentinel_client()? {
                    Some(sentinel) => Source::Sentinel(tokio::sync::Mutex::new(sentinel)),
                    None => Source::Direct(url.client()?),
                },
                connect_timeout,
                name_prefix: format!("{role}-{:08x}", rand::random::<u32>()),
                next_connection: AtomicU64::new(1),
                live: Mutex::new(None),
                retired: Mutex::new(Vec::new()),
                dialing: tokio::sync::Mutex::new(()),
                unfenced_warned: AtomicBool::new(false),
            }),
        })
    }

    /// Runs `command` on the connection, dialing first if there is none, all
    /// within `limit`. On a timeout or a broken connection the connection is
    /// retired; the next call dials again.
    pub async fn call<T, F, Fut>(&self, limit: Duration, command: F) -> Result<T, CallError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let deadline = Instant::now() + limit;
        let live = match self.shared.current() {
            Some(live) => live,
            None => match tokio::time::timeout_at(deadline, self.dial()).await {
                Ok(dialed) => dialed?,
                Err(_) => return Err(CallError::Silent(limit)),
            },
        };
        match tokio::time::timeout_at(deadline, command(live.connection)).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => {
                // READONLY: a master demoted to replica by a failover (the
                // next dial asks the Sentinels for the new one).
                if error.is_unrecoverable_error()
                    || error.is_io_error()
                    || error.is_timeout()
                    || error.code() == Some("READONLY")
                {
                    self.shared.retire(&live.name);
                }
                Err(error.into())
            }
            Err(_) => {
                self.shared.retire(&live.name);
                Err(CallError::Silent(limit))
            }
        }
    }

    /// `PING` within `limit`, for readiness: `Err` says why not.
    pub async fn ping(&self, limit: Duration) -> Result<(), String> {
        self.call(limit, |mut redis| async move {
            redis::cmd("PING").query_async::<String>(&mut redis).await
        })
        .await
        .map(drop)
        .map_err(|e| e.to_string())
    }

    /// Dials a new connection, names it and closes the retired ones on the
    /// server before anything is sent on it.
    async fn dial(&self) -> redis::RedisResult<Live> {
        let _dialing = self.shared.dialing.lock().await;
        if let Some(live) = self.shared.current() {
            return Ok(live);
        }
        // Nothing retires while there is no live connection, so this stays
        // the whole list until the new connection is live.
        let retired = self.shared.lock_retired().clone();
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.shared.connect_timeout))
            .set_response_timeout(None);
        let client = match &self.shared.source {
            Source::Direct(client) => client.clone(),
            // Asked at each dial: after a failover, the new master.
            Source::Sentinel(sentinel) => sentinel.lock().await.async_get_client().await?,
        };
        let mut connection = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let n = self.shared.next_connection.fetch_add(1, Ordering::Relaxed);
        let name: Arc<str> = format!("{}-{n}", self.shared.name_prefix).into();
        match self.fence(&mut connection, &name, &retired).await {
            Ok(()) => {}
            Err(error) if refused_by_server(&error) => self.warn_unfenced(&error),
            Err(error) => return Err(error),
        }
        self.shared
            .lock_retired()
            .retain(|name| !retired.contains(name));
        let live = Live { connection, name };
        *self.shared.lock_live() = Some(live.clone());
        Ok(live)
    }

    /// Names `connection` and kills the connections named in `retired`.
    async fn fence(
        &self,
        connection: &mut MultiplexedConnection,
        name: &str,
        retired: &[String],
    ) -> redis::RedisResult<()> {
        redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg(name)
            .query_async::<()>(connection)
            .await?;
        if retired.is_empty() {
            return Ok(());
        }
        let clients: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query_async(connection)
            .await?;
        for id in clients_named(&clients, retired) {
            // "No such client": it ended between the list and the kill.
            let _ = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("ID")
                .arg(id)
                .query_async::<i64>(connection)
                .await;
            tracing::info!(
                client_id = id,
                "closed a stalled Redis connection on the server"
            );
        }
        Ok(())
    }

    fn warn_unfenced(&self, error: &redis::RedisError) {
        if !self.shared.unfenced_warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                error = %error,
                "Redis refused CLIENT KILL (an ACL or a proxy?): a stalled connection stays open on the server"
            );
        }
    }
}

impl Shared {
    fn lock_live(&self) -> std::sync::MutexGuard<'_, Option<Live>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn current(&self) -> Option<Live> {
        self.lock_live().clone()
    }

    fn lock_retired(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.retired.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops the connection named `name` if it is still the live one, and
    /// marks it for closing on the server by the next dial.
    fn retire(&self, name: &str) {
        let mut live = self.lock_live();
        if live.as_ref().is_some_and(|l| &*l.name == name) {
            *live = None;
            self.lock_retired().push(name.to_owned());
        }
    }
}

/// The ids of the clients in a `CLIENT LIST` reply whose name is in `names`.
fn clients_named(list: &str, names: &[String]) -> Vec<i64> {
    list.lines()
        .filter_map(|line| {
            let mut id = None;
            let mut named = false;
            for field in line.split(' ') {
                if let Some(value) = field.strip_prefix("id=") {
                    id = value.parse().ok();
                } else if let Some(value) = field.strip_prefix("name=") {
                    named = names.iter().any(|n| n == value);
                }
            }
            id.filter(|_| named)
        })
        .collect()
}

/// Whether Redis answered with an error (a restricted ACL, a proxy that
/// does not pass `CLIENT` on), rather than failing to answer.
fn refused_by_server(error: &redis::RedisError) -> bool {
    error.code().is_some()
}

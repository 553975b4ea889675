//! Following the totals: one Postgres session that LISTENs on `vote_counts`,
//! re-reads the two totals when notified, and publishes them to every viewer.
//! Until the worker's migrations have made `vote_counts` (or beside the
//! original worker, which never does), it counts `votes` every second instead.
//! It needs only SELECT and LISTEN.
//!
//! On a standby (no LISTEN there) it reads the totals every second instead,
//! and follows notifications once the standby is promoted.
//!
//! Bursts of notifications are coalesced into one read. When the session
//! breaks, viewers are told the results are unavailable and the task
//! reconnects with backoff; the first read after reconnecting catches up.
//!
//! Metrics recorded here: `result_tally_reads_total`, `result_updates_pushed_total`.

use crate::tally::Tally;
use bytes::Bytes;
use common::backoff::Backoff;
use common::config::DatabaseUrl;
use common::poll::PollOptions;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_postgres::AsyncMessage;
use tokio_util::sync::CancellationToken;

/// Shortest time between two reads, so a flood of commits costs at most
/// twenty reads per second; a quiet poll's first change is read at once.
const COALESCE: Duration = Duration::from_millis(50);

/// The feed is published again unchanged this often, so that every stream
/// wakes and can tell its viewer the connection is still open (events.rs
/// sends a keep-alive comment then), with one timer for all viewers.
pub const QUIET_TICK: Duration = Duration::from_secs(15);

/// How often the totals are read where no notification comes: while
/// `vote_counts` does not exist yet, or on a standby.
const POLL: Duration = Duration::from_secs(1);

/// While no notification comes, a round trip this often shows that the
/// session still answers: a server stopped without closing (or cut off)
/// would otherwise leave viewers on stale totals, as a `LISTEN` that hears
/// nothing looks like a quiet poll.
const LIVENESS_PERIOD: Duration = Duration::from_secs(5);

/// Longest any query of the session may take before the session is
/// dropped and made again (the next host of `DATABASE_URL` gets its turn).
const QUERY_LIMIT: Duration = Duration::from_secs(3);

/// What viewers are shown now, with its Server-Sent Event pre-rendered once.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub state: State,
    /// The `text/event-stream` frame for this state, shared by all viewers.
    pub event: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Current(Tally),
    /// Postgres cannot be reached (or has not been yet).
    Unavailable(String),
}

impl Snapshot {
    pub fn new(state: State, options: &PollOptions) -> Arc<Self> {
        let event = match &state {
            State::Current(tally) => format!(
                "event: tally\ndata: {}\n\n",
                serde_json::to_string(&tally.report(options)).unwrap_or_default()
            ),
            State::Unavailable(_) => format!(
                "event: unavailable\ndata: {}\n\n",
                serde_json::json!({ "error": UNAVAILABLE })
            ),
        };
        Arc::new(Self {
            state,
            event: Bytes::from(event),
        })
    }
}

/// What people are told while Postgres is down (the cause goes to the log).
pub const UNAVAILABLE: &str =
    "Results are unavailable: the database cannot be reached. They will reappear on their own.";

pub type Feed = watch::Receiver<Arc<Snapshot>>;

/// `# HELP` of the metrics recorded here.
pub fn describe_metrics() {
    metrics::describe_counter!(
        "result_tally_reads_total",
        metrics::Unit::Count,
        "Reads of the totals from Postgres (one per coalesced burst of changes)."
    );
    metrics::describe_counter!(
        "result_updates_pushed_total",
        metrics::Unit::Count,
        "Changed totals published to the live viewers."
    );
}

/// Starts following the totals until `stop` (the end of the drain, so that
/// pages served while draining still show them); returns the feed viewers
/// subscribe to, which ends then, and every open stream with it.
pub fn follow(database: DatabaseUrl, options: PollOptions, stop: CancellationToken) -> Feed {
    let initial = Snapshot::new(State::Unavailable("not connected yet".into()), &options);
    let (publish, feed) = watch::channel(initial);
    let ticking = publish.clone();
    let quiet = stop.clone();
    tokio::spawn(async move {
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + QUIET_TICK, QUIET_TICK);
        loop {
            tokio::select! {
                _ = quiet.cancelled() => return,
                _ = tick.tick() => ticking.send_modify(|_| {}),
            }
        }
    });
    tokio::spawn(async move {
        let mut backoff = Backoff::for_dependencies();
        loop {
            let outcome = tokio::select! {
                _ = stop.cancelled() => return,
                Err(outcome) = session(&database, &options, &publish, &mut backoff) => outcome,
            };
            let reason = format!("{outcome:#}");
            tracing::warn!(error = %reason, attempt = backoff.attempts() + 1, "lost Postgres; results unavailable until it is back");
            publish.send_if_modified(|current| {
                if matches!(current.state, State::Unavailable(_)) {
                    return false;
                }
                *current = Snapshot::new(State::Unavailable(reason.clone()), &options);
                true
            });
            tokio::select! { _ = stop.cancelled() => return, _ = backoff.wait() => {} }
        }
    });
    feed
}

/// Whether the server is a standby (in recovery).
async fn in_recovery(client: &tokio_postgres::Client) -> anyhow::Result<bool> {
    let row = bounded(client.query_one("SELECT pg_is_in_recovery()", &[])).await?;
    Ok(row.try_get(0)?)
}

/// `query` within [`QUERY_LIMIT`]: past it the session is given up.
async fn bounded<T>(
    query: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(QUERY_LIMIT, query).await {
        Ok(answer) => Ok(answer?),
        Err(_) => Err(anyhow::anyhow!(
            "Postgres did not answer within {QUERY_LIMIT:?}"
        )),
    }
}

/// The task that drives the session's connection; it ends with the
/// session, however the session ends.
struct Driver(tokio::task::JoinHandle<anyhow::Error>);

impl Drop for Driver {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Driver {
    /// Why the connection ended, once it has.
    async fn ended(&mut self) -> anyhow::Error {
        (&mut self.0)
            .await
            .unwrap_or_else(|e| anyhow::anyhow!("the Postgres connection task failed: {e}"))
    }
}

/// One connected session; it ends only with the error that ended it.
async fn session(
    database: &DatabaseUrl,
    options: &PollOptions,
    publish: &watch::Sender<Arc<Snapshot>>,
    backoff: &mut Backoff,
) -> anyhow::Result<std::convert::Infallible> {
    use anyhow::Context;
    let limit = database.create_timeout();
    let (client, mut connection) = tokio::time::timeout(limit, database.connect())
        .await
        .map_err(|_| anyhow::anyhow!("no Postgres host answered within {limit:?}"))?
        .context("connecting to Postgres")?;
    let (notified, mut notifications) = mpsc::unbounded_channel::<()>();
    let mut driver = Driver(tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => {
                    let _ = notified.send(());
                }
                Ok(_) => {}
                Err(e) => return anyhow::Error::new(e).context("the Postgres connection failed"),
            }
        }
        anyhow::anyhow!("Postgres closed the connection")
    }));
    let listen = format!("LISTEN {}", wire::schema::TALLY_CHANNEL);
    // A standby (DATABASE_URL may list several hosts, and result takes any)
    // cannot LISTEN, and no NOTIFY reaches it: there the totals are read
    // every second until it is promoted.
    let mut standby = in_recovery(&client)
        .await
        .context("asking whether Postgres is a standby")?;
    if standby {
        tracing::info!("connected to a Postgres standby; reading the totals every {POLL:?}");
    } else {
        bounded(client.batch_execute(&listen))
            .await
            .context("listening for new votes")?;
        tracing::info!("connected to Postgres");
    }
    let mut first = true;
    let mut following_counts = false;
    loop {
        let read = async {
            if !following_counts {
                following_counts = bounded(crate::totals::counts_installed(&client)).await?;
                if following_counts {
                    tracing::info!("following the totals in vote_counts");
                } else if first {
                    tracing::warn!(
                        "vote_counts is missing (run `worker migrate`); counting votes every {POLL:?}"
                    );
                }
            }
            if following_counts {
                bounded(crate::totals::read_tally(&client)).await
            } else {
                bounded(crate::totals::count_votes(&client)).await
            }
        };
        let tally = read.await.context("reading the totals")?;
        metrics::counter!("result_tally_reads_total").increment(1);
        if first {
            backoff.reset();
            first = false;
        }
        let changed = publish.send_if_modified(|current| {
            if current.state == State::Current(tally) {
                return false;
            }
            *current = Snapshot::new(State::Current(tally), options);
            true
        });
        if changed {
            metrics::counter!("result_updates_pushed_total").increment(1);
        }
        if standby {
            tokio::time::sleep(POLL).await;
            if in_recovery(&client)
                .await
                .context("asking whether Postgres is still a standby")?
            {
                continue;
            }
            bounded(client.batch_execute(&listen))
                .await
                .context("listening for new votes")?;
            tracing::info!("the standby was promoted; following its notifications");
            standby = false;
            continue;
        }
        if !following_counts {
            // No triggers, no notifications: poll, as the original result does.
            tokio::time::sleep(POLL).await;
            continue;
        }
        // Reads are at least COALESCE apart: notifications that arrive in
        // the meantime are answered by one read, the first one at once.
        tokio::time::sleep(COALESCE).await;
        loop {
            match tokio::time::timeout(LIVENESS_PERIOD, notifications.recv()).await {
                Ok(Some(())) => break,
                Ok(None) => return Err(driver.ended().await),
                Err(_) => {
                    bounded(client.simple_query("SELECT 1"))
                        .await
                        .context("checking that Postgres still answers")?;
                }
            }
        }
        while notifications.try_recv().is_ok() {}
    }
}

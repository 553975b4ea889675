//! Losing a database server while votes flow, with real servers on loopback.
//!
//! Redis: a master, two replicas and a Sentinel; the master is killed and the
//! Sentinel promotes a replica. vote and the worker find the new master
//! through the Sentinel; with `REDIS_MIN_REPLICAS=1` (each vote confirmed by a
//! replica before it is acknowledged) no acknowledged vote is lost.
//!
//! Postgres: the primary is killed and its streaming standby is promoted in its
//! place (`pg_ctl promote`, standing in for a failover manager) while votes
//! flow. The worker finds the new primary among `DATABASE_URL`'s hosts (it
//! asks for a read-write server), result follows (it takes any server, and
//! reads a standby by polling), and with synchronous commit no acknowledged
//! vote is lost.
//!
//! Without the confirmation (a replica's, or synchronous commit), a kill may
//! lose what the lost server held alone; how much is a figure, printed. What
//! the design still guarantees is asserted: once the pipeline takes and shows
//! votes again, every vote acknowledged from then on is stored.

use crate::harness::load::{Load, Outcome};
use crate::harness::postgres::Postgres;
use crate::harness::redis_server::{RedisServer, MASTER_NAME};
use crate::harness::service::Service;
use crate::harness::{eventually, get_json, Stack};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// The votes acknowledged once result showed new votes again (the
/// failover over): how many, and how many of them are not stored.
struct AfterTheFailover {
    acknowledged: usize,
    lost: usize,
}

impl AfterTheFailover {
    /// Of `outcome`'s votes, those acknowledged after the mark `recovered`.
    fn of<'s>(
        outcome: &Outcome,
        recovered: &HashSet<String>,
        stored: impl Fn(&str) -> Option<&'s str>,
    ) -> Self {
        let (acknowledged, lost) = outcome.lost_after(recovered, stored);
        Self { acknowledged, lost }
    }

    /// What holds even without confirmation (`without`): the run went on
    /// past the failover (300 votes at least), and none of those is lost.
    fn assert_none_lost(&self, without: &str) {
        assert!(
            self.acknowledged >= 300,
            "{} acknowledged after",
            self.acknowledged
        );
        assert_eq!(
            self.lost, 0,
            "votes acknowledged after the failover lost without {without}"
        );
    }
}

/// What a run measured after the primary was killed.
struct Failover {
    acknowledged: usize,
    lost: usize,
    after: AfterTheFailover,
    stored_again: Duration,
    result_moved: Duration,
}

/// A primary streaming to a standby, and the services on both: vote, a
/// worker and a result given both hosts (primary first), and a result on
/// the standby alone.
struct PrimaryAndStandby {
    stack: Stack,
    standby: Postgres,
    vote: Service,
    _worker: Service,
    result: Service,
    on_standby: Service,
}

impl PrimaryAndStandby {
    /// The stack's Postgres streams to a new standby (synchronously or not),
    /// then the services start.
    async fn start(name: &str, synchronous: bool) -> Self {
        let stack = Stack::start(name);
        let standby = Postgres::standby_of(&stack.pg, &stack.dir);
        let primary = stack.pg.client().await;
        if synchronous {
            for sql in [
                "ALTER SYSTEM SET synchronous_standby_names = '*'",
                "SELECT pg_reload_conf()",
            ] {
                primary.batch_execute(sql).await.unwrap();
            }
        }
        let state = if synchronous { "sync" } else { "async" };
        eventually(
            Duration::from_secs(20),
            &format!("the standby to stream ({state})"),
            || async {
                let sql = "SELECT 1 FROM pg_stat_replication \
                           WHERE state = 'streaming' AND sync_state = $1";
                primary.query_opt(sql, &[&state]).await.ok()?.map(|_| ())
            },
        )
        .await;
        Self::with_services(stack, standby).await
    }

    async fn with_services(stack: Stack, standby: Postgres) -> Self {
        let hosts = format!(
            "postgres://postgres:postgres@127.0.0.1:{},127.0.0.1:{}/postgres",
            stack.pg.port, standby.port
        );
        let vote = stack.vote(&[]).await;
        let worker = stack
            .worker(&[("DATABASE_URL", &hosts)])
            .await
            .ready()
            .await;
        let result = stack
            .result(&[("DATABASE_URL", &hosts)])
            .await
            .ready()
            .await;
        // A result on the standby alone: no LISTEN there, so it reads the totals
        // every second, and follows notifications once the standby is promoted.
        let standby_url = format!(
            "postgres://postgres:postgres@127.0.0.1:{}/postgres",
            standby.port
        );
        let on_standby = stack.result(&[("DATABASE_URL", &standby_url)]).await;
        Self {
            stack,
            standby,
            vote,
            _worker: worker,
            result,
            on_standby,
        }
    }

    /// Kills the primary and promotes the standby: the new primary, and how
    /// long after the kill a vote was stored on it and result showed one.
    async fn fail_over(&mut self) -> (tokio_postgres::Client, Duration, Duration) {
        let api = self.result.url("/api/results");
        let shown_before = shown(&api).await.unwrap_or(0);
        self.stack.pg.crash();
        let lost_at = Instant::now();
        self.standby.promote();
        let new_primary = self.standby.client().await;
        let at_promotion = stored_count(&new_primary).await.unwrap_or(0);
        let stored_again = eventually(
            Duration::from_secs(60),
            "a vote stored on the promoted standby",
            || async {
                (stored_count(&new_primary).await? > at_promotion).then(|| lost_at.elapsed())
            },
        )
        .await;
        let result_moved = eventually(
            Duration::from_secs(60),
            "result to show votes stored after the failover",
            || async {
                let total = shown(&api).await?;
                (total > shown_before.max(at_promotion)).then(|| lost_at.elapsed())
            },
        )
        .await;
        (new_primary, stored_again, result_moved)
    }

    /// The result on the standby saw it promoted.
    fn standby_result_followed(&self) {
        for line in [
            "connected to a Postgres standby",
            "the standby was promoted; following its notifications",
        ] {
            assert!(
                self.on_standby.log_text().contains(line),
                "the result on the standby did not log {line:?}:\n{}",
                self.on_standby.log_text()
            );
        }
    }

    /// Every acknowledged vote the worker could still store is in: the queue
    /// is empty and what is stored stops changing. Returns what is stored.
    async fn settled(
        &self,
        new_primary: &tokio_postgres::Client,
        prefix: &str,
        outcome: &Outcome,
    ) -> HashMap<String, String> {
        let drained = crate::harness::within(Duration::from_secs(30), || async {
            let stored = prefixed_votes(new_primary, prefix).await?;
            (self.stack.queued().await == 0 && missing(outcome, &stored) == 0).then_some(())
        })
        .await;
        if drained.is_none() {
            // Settled but short: what the failover lost (only without
            // synchronous commit may this be more than zero).
            crate::harness::eventually(Duration::from_secs(30), "the queue to drain", || async {
                (self.stack.queued().await == 0).then_some(())
            })
            .await;
        }
        prefixed_votes(new_primary, prefix)
            .await
            .expect("read the promoted standby")
    }

    /// The result that followed the standby from the start shows what the
    /// promoted standby stores.
    async fn standby_result_shows(&self, new_primary: &tokio_postgres::Client) {
        let on_standby_api = self.on_standby.url("/api/results");
        eventually(
            Duration::from_secs(10),
            "the result on the standby to show every stored vote",
            || async {
                let total = shown(&on_standby_api).await?;
                (total == stored_count(new_primary).await?).then_some(())
            },
        )
        .await;
    }
}

/// The total a result's `/api/results` shows.
async fn shown(api: &str) -> Option<i64> {
    get_json(api).await.and_then(|t| t["total"].as_i64())
}

/// How many rows the votes table holds.
async fn stored_count(client: &tokio_postgres::Client) -> Option<i64> {
    let row = client
        .query_one("SELECT count(*) FROM votes", &[])
        .await
        .ok()?;
    row.try_get::<_, i64>(0).ok()
}

/// The stored votes of this run's voters (`prefix`), voter -> choice.
async fn prefixed_votes(
    client: &tokio_postgres::Client,
    prefix: &str,
) -> Option<HashMap<String, String>> {
    let rows = client
        .query(
            "SELECT id, vote FROM votes WHERE id LIKE $1 || '%'",
            &[&prefix],
        )
        .await
        .ok()?;
    Some(
        rows.iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
            .collect::<HashMap<_, _>>(),
    )
}

/// How many acknowledged votes `stored` lacks or holds otherwise.
fn missing(outcome: &Outcome, stored: &HashMap<String, String>) -> usize {
    outcome.lost(|id| stored.get(id).map(String::as_str)).len()
}

/// Votes flow through vote -> Redis -> worker -> Postgres (primary and
/// standby, listed in that order); the primary is killed and the standby
/// promoted; the run ends when every acknowledged vote that can be stored is.
async fn lose_the_primary(name: &str, synchronous: bool) -> Failover {
    let mut run = PrimaryAndStandby::start(name, synchronous).await;
    let prefix = format!("{name}-");
    let load = Load::start(&run.vote.url("/"), name, 2);
    load.flowing(300, "before the primary is lost", String::new)
        .await;
    let (new_primary, stored_again, result_moved) = run.fail_over().await;
    let recovered = load.acknowledged_voters();
    load.flowing(300, "after the promotion", String::new).await;
    run.standby_result_followed();
    let outcome = load.finish().await;
    let stored = run.settled(&new_primary, &prefix, &outcome).await;
    run.standby_result_shows(&new_primary).await;
    let after = AfterTheFailover::of(&outcome, &recovered, |id| {
        stored.get(id).map(String::as_str)
    });
    Failover {
        acknowledged: outcome.acknowledged.len(),
        lost: missing(&outcome, &stored),
        after,
        stored_again,
        result_moved,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_synchronous_commit_a_promoted_standby_loses_no_acknowledged_vote() {
    let run = lose_the_primary("pgsync", true).await;
    eprintln!(
        "failover: Postgres primary killed, standby promoted (synchronous commit): \
         {} votes acknowledged, {} lost; votes stored again after {:.1} s, \
         result moving again after {:.1} s",
        run.acknowledged,
        run.lost,
        run.stored_again.as_secs_f64(),
        run.result_moved.as_secs_f64()
    );
    assert_eq!(
        run.lost, 0,
        "acknowledged votes lost with synchronous commit"
    );
}

/// Asynchronous streaming: what the primary committed and had not streamed
/// yet dies with it, and how much that is depends on the instant of the kill
/// (a figure, printed). What holds whatever the instant: a vote acknowledged
/// once result shows votes stored on the promoted standby went to Redis after
/// the kill, so the worker can only have stored it there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_synchronous_commit_a_primary_kill_loses_no_vote_acknowledged_after_the_failover() {
    let run = lose_the_primary("pgasync", false).await;
    eprintln!(
        "failover: Postgres primary killed, standby promoted (asynchronous): \
         {} votes acknowledged, {} lost (committed on the primary, not yet streamed); \
         stored again after {:.1} s, result moving again after {:.1} s; \
         of {} acknowledged after that, {} lost",
        run.acknowledged,
        run.lost,
        run.stored_again.as_secs_f64(),
        run.result_moved.as_secs_f64(),
        run.after.acknowledged,
        run.after.lost
    );
    run.after.assert_none_lost("synchronous commit");
}

/// What a run measured after the Redis master was killed.
struct RedisFailover {
    acknowledged: usize,
    lost: usize,
    after: AfterTheFailover,
    accepted_again: Duration,
    result_moved: Duration,
}

/// `SENTINEL MASTER mymaster` as field -> value.
async fn sentinel_view(sentinel: &RedisServer) -> Option<HashMap<String, String>> {
    let mut connection = redis::Client::open(sentinel.url())
        .ok()?
        .get_multiplexed_async_connection()
        .await
        .ok()?;
    let fields: Vec<String> = redis::cmd("SENTINEL")
        .arg("MASTER")
        .arg(MASTER_NAME)
        .query_async(&mut connection)
        .await
        .ok()?;
    Some(
        fields
            .chunks(2)
            .filter_map(|pair| Some((pair.first()?.clone(), pair.get(1)?.clone())))
            .collect(),
    )
}

/// A master with two replicas and a Sentinel, and the services: vote and
/// the worker find the master through the Sentinel, vote asking
/// `min_replicas` replicas to confirm each vote.
struct SentinelledRedis {
    stack: Stack,
    _replicas: Vec<RedisServer>,
    sentinel: RedisServer,
    vote: Service,
    _worker: Service,
    result: Service,
}

impl SentinelledRedis {
    async fn start(name: &str, min_replicas: &str) -> Self {
        let stack = Stack::start(name);
        let replicas: Vec<RedisServer> = (1..=2)
            .map(|n| RedisServer::replica_of(&stack.redis, &stack.dir, n))
            .collect();
        let sentinel = RedisServer::sentinel_of(&stack.redis, &stack.dir);
        eventually(
            Duration::from_secs(30),
            "the Sentinel to see the master and both replicas",
            || async {
                let view = sentinel_view(&sentinel).await?;
                (view.get("num-slaves").map(String::as_str) == Some("2")).then_some(())
            },
        )
        .await;
        let sentinels = sentinel.address();
        let via_sentinel = [
            ("REDIS_SENTINELS", sentinels.as_str()),
            ("REDIS_MASTER_NAME", MASTER_NAME),
        ];
        let mut vote_env = via_sentinel.to_vec();
        vote_env.push(("REDIS_MIN_REPLICAS", min_replicas));
        let vote = stack.vote(&vote_env).await.ready().await;
        let worker = stack.worker(&via_sentinel).await.ready().await;
        let result = stack.result(&[]).await.ready().await;
        Self {
            stack,
            _replicas: replicas,
            sentinel,
            vote,
            _worker: worker,
            result,
        }
    }

    /// Kills the master (`kill -9`): how long until votes are acknowledged
    /// again (50 more) and result's total grows again.
    async fn fail_over(&mut self, load: &Load) -> (Duration, Duration) {
        let api = self.result.url("/api/results");
        self.stack.redis.crash();
        let lost_at = Instant::now();
        let acknowledged_at_kill = load.acknowledged();
        let accepted_again = eventually(
            Duration::from_secs(60),
            "votes acknowledged again after the failover",
            || async {
                (load.acknowledged() >= acknowledged_at_kill + 50).then(|| lost_at.elapsed())
            },
        )
        .await;
        // Then result's total grows again: the worker moves votes from the new
        // master (an upper bound: it may have reached it before vote did).
        let shown_then = shown(&api).await.unwrap_or(0);
        let result_moved = eventually(
            Duration::from_secs(60),
            "result to show more votes after the failover",
            || async { (shown(&api).await? > shown_then).then(|| lost_at.elapsed()) },
        )
        .await;
        (accepted_again, result_moved)
    }

    /// All acknowledged votes stored, or (only without replica confirmation)
    /// settled short: the master the Sentinel names holds no queued or
    /// claimed vote. Returns the stored votes.
    async fn settled(&self, outcome: &Outcome) -> BTreeMap<String, String> {
        let missing = |stored: &BTreeMap<String, String>| {
            outcome.lost(|id| stored.get(id).map(String::as_str)).len()
        };
        let all_in = crate::harness::within(Duration::from_secs(30), || async {
            (missing(&self.stack.stored_votes().await) == 0).then_some(())
        })
        .await;
        if all_in.is_none() {
            crate::harness::eventually(
                Duration::from_secs(30),
                "the new master's queue to drain",
                || async { self.new_master_drained().await?.then_some(()) },
            )
            .await;
        }
        self.stack.stored_votes().await
    }

    /// Whether the master the Sentinel names holds no queued vote and no
    /// claimed batch: the worker has stored all it will ever store.
    async fn new_master_drained(&self) -> Option<bool> {
        let view = sentinel_view(&self.sentinel).await?;
        let url = format!("redis://{}:{}/0", view.get("ip")?, view.get("port")?);
        let mut master = redis::Client::open(url)
            .ok()?
            .get_multiplexed_async_connection()
            .await
            .ok()?;
        crate::harness::worker::queue_empty(&mut master).await
    }
}

/// Votes flow; the master is killed; the Sentinel promotes a replica and
/// points the other at it; the run ends when the stored votes settle.
async fn lose_the_redis_master(name: &str, min_replicas: &str) -> RedisFailover {
    let mut run = SentinelledRedis::start(name, min_replicas).await;
    let load = Load::start(&run.vote.url("/"), name, 2);
    load.flowing(300, "before the master is lost", String::new)
        .await;
    let (accepted_again, result_moved) = run.fail_over(&load).await;
    let recovered = load.acknowledged_voters();
    load.flowing(300, "after the failover", String::new).await;
    let outcome = load.finish().await;
    let stored = run.settled(&outcome).await;
    let after = AfterTheFailover::of(&outcome, &recovered, |id| {
        stored.get(id).map(String::as_str)
    });
    RedisFailover {
        acknowledged: outcome.acknowledged.len(),
        lost: outcome.lost(|id| stored.get(id).map(String::as_str)).len(),
        after,
        accepted_again,
        result_moved,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_replica_confirming_each_vote_a_redis_failover_loses_none() {
    let run = lose_the_redis_master("redis-wait", "1").await;
    eprintln!(
        "failover: Redis master killed, a replica promoted by Sentinel (REDIS_MIN_REPLICAS=1): \
         {} votes acknowledged, {} lost; votes accepted again after {:.1} s, result moving \
         again by {:.1} s",
        run.acknowledged,
        run.lost,
        run.accepted_again.as_secs_f64(),
        run.result_moved.as_secs_f64()
    );
    assert_eq!(
        run.lost, 0,
        "acknowledged votes lost with REDIS_MIN_REPLICAS=1"
    );
}

/// No replica confirmation: what the master held and had not replicated
/// yet dies with it, and how much that is depends on the instant of the kill
/// (a figure, printed). What holds whatever the instant: a vote acknowledged
/// once result shows votes moved from the promoted replica was pushed after
/// the old master died, so it can only be on the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_replica_confirmation_a_redis_master_kill_loses_no_vote_acknowledged_after_the_failover(
) {
    let run = lose_the_redis_master("redis-nowait", "0").await;
    eprintln!(
        "failover: Redis master killed, a replica promoted by Sentinel (REDIS_MIN_REPLICAS=0): \
         {} votes acknowledged, {} lost (on the master, not yet replicated); votes accepted \
         again after {:.1} s, result moving again by {:.1} s; of {} acknowledged after that, \
         {} lost",
        run.acknowledged,
        run.lost,
        run.accepted_again.as_secs_f64(),
        run.result_moved.as_secs_f64(),
        run.after.acknowledged,
        run.after.lost
    );
    run.after.assert_none_lost("replica confirmation");
}

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
//! vote is lost. Without it, what a kill loses is printed, not asserted.

use crate::harness::load::Load;
use crate::harness::postgres::Postgres;
use crate::harness::redis_server::{RedisServer, MASTER_NAME};
use crate::harness::{eventually, get_json, Stack};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What a run measured after the primary was killed.
struct Failover {
    acknowledged: usize,
    lost: usize,
    stored_again: Duration,
    result_moved: Duration,
}

/// Votes flow through vote -> Redis -> worker -> Postgres (primary and
/// standby, listed in that order); the primary is killed and the standby
/// promoted; the run ends when every acknowledged vote that can be stored is.
async fn lose_the_primary(name: &str, synchronous: bool) -> Failover {
    let mut stack = Stack::start(name);
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
            let sql =
                "SELECT 1 FROM pg_stat_replication WHERE state = 'streaming' AND sync_state = $1";
            primary.query_opt(sql, &[&state]).await.ok()?.map(|_| ())
        },
    )
    .await;
    let hosts = format!(
        "postgres://postgres:postgres@127.0.0.1:{},127.0.0.1:{}/postgres",
        stack.pg.port, standby.port
    );
    let vote = stack.vote(&[]).await;
    let _worker = stack
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
    let prefix = format!("{name}-");
    let load = Load::start(&vote.url("/"), name, 2);
    load.flowing(300, "before the primary is lost", String::new)
        .await;

    let shown = |result_url: String| async move {
        get_json(&result_url)
            .await
            .and_then(|t| t["total"].as_i64())
    };
    let api = result.url("/api/results");
    let shown_before = shown(api.clone()).await.unwrap_or(0);
    stack.pg.crash();
    let lost_at = Instant::now();
    standby.promote();
    let new_primary = standby.client().await;
    let stored_count = || async {
        let row = new_primary
            .query_one("SELECT count(*) FROM votes", &[])
            .await
            .ok()?;
        row.try_get::<_, i64>(0).ok()
    };
    let at_promotion = stored_count().await.unwrap_or(0);
    let stored_again = eventually(
        Duration::from_secs(60),
        "a vote stored on the promoted standby",
        || async { (stored_count().await? > at_promotion).then(|| lost_at.elapsed()) },
    )
    .await;
    let result_moved = eventually(
        Duration::from_secs(60),
        "result to show votes stored after the failover",
        || async {
            let total = shown(api.clone()).await?;
            (total > shown_before.max(at_promotion)).then(|| lost_at.elapsed())
        },
    )
    .await;
    load.flowing(300, "after the promotion", String::new).await;
    for line in [
        "connected to a Postgres standby",
        "the standby was promoted; following its notifications",
    ] {
        assert!(
            on_standby.log_text().contains(line),
            "the result on the standby did not log {line:?}:\n{}",
            on_standby.log_text()
        );
    }
    let outcome = load.finish().await;

    // Every acknowledged vote the worker could still store is in: the queue
    // is empty and what is stored stops changing.
    let stored_votes = || async {
        let rows = new_primary
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
    };
    let acknowledged = outcome.acknowledged.len();
    let all_in = |stored: &HashMap<String, String>| {
        outcome.lost(|id| stored.get(id).map(String::as_str)).len()
    };
    let drained = crate::harness::within(Duration::from_secs(30), || async {
        let stored = stored_votes().await?;
        (stack.queued().await == 0 && all_in(&stored) == 0).then_some(())
    })
    .await;
    if drained.is_none() {
        // Settled but short: what the failover lost (only without
        // synchronous commit may this be more than zero).
        crate::harness::eventually(Duration::from_secs(30), "the queue to drain", || async {
            (stack.queued().await == 0).then_some(())
        })
        .await;
    }
    let stored = stored_votes().await.expect("read the promoted standby");
    // The result that followed the standby from the start shows the same.
    let on_standby_api = on_standby.url("/api/results");
    eventually(
        Duration::from_secs(10),
        "the result on the standby to show every stored vote",
        || async {
            let total = shown(on_standby_api.clone()).await?;
            (total == stored_count().await?).then_some(())
        },
    )
    .await;
    Failover {
        acknowledged,
        lost: all_in(&stored),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_synchronous_commit_what_a_primary_kill_loses_is_printed() {
    let run = lose_the_primary("pgasync", false).await;
    eprintln!(
        "failover: Postgres primary killed, standby promoted (asynchronous): \
         {} votes acknowledged, {} lost (committed on the primary, not yet streamed); \
         stored again after {:.1} s, result moving again after {:.1} s",
        run.acknowledged,
        run.lost,
        run.stored_again.as_secs_f64(),
        run.result_moved.as_secs_f64()
    );
}

/// What a run measured after the Redis master was killed.
struct RedisFailover {
    acknowledged: usize,
    lost: usize,
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

/// A master, two replicas and a Sentinel; vote and the worker find the
/// master through the Sentinel, vote asking `min_replicas` replicas to
/// confirm each vote. Votes flow; the master is killed (`kill -9`); the
/// Sentinel promotes a replica and points the other at it.
async fn lose_the_redis_master(name: &str, min_replicas: &str) -> RedisFailover {
    let mut stack = Stack::start(name);
    let _replicas: Vec<RedisServer> = (1..=2)
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
    let _worker = stack.worker(&via_sentinel).await.ready().await;
    let result = stack.result(&[]).await.ready().await;
    let load = Load::start(&vote.url("/"), name, 2);
    load.flowing(300, "before the master is lost", String::new)
        .await;

    let api = result.url("/api/results");
    let total = || async { get_json(&api).await.and_then(|t| t["total"].as_i64()) };
    stack.redis.crash();
    let lost_at = Instant::now();
    let acknowledged_at_kill = load.acknowledged();
    let accepted_again = eventually(
        Duration::from_secs(60),
        "votes acknowledged again after the failover",
        || async { (load.acknowledged() >= acknowledged_at_kill + 50).then(|| lost_at.elapsed()) },
    )
    .await;
    // Then result's total grows again: the worker moves votes from the new
    // master (an upper bound: it may have reached it before vote did).
    let shown_then = total().await.unwrap_or(0);
    let result_moved = eventually(
        Duration::from_secs(60),
        "result to show more votes after the failover",
        || async { (total().await? > shown_then).then(|| lost_at.elapsed()) },
    )
    .await;
    load.flowing(300, "after the failover", String::new).await;
    let outcome = load.finish().await;

    let missing = |stored: &std::collections::BTreeMap<String, String>| {
        outcome.lost(|id| stored.get(id).map(String::as_str)).len()
    };
    // All in, or (only without replica confirmation) settled short.
    let all_in = crate::harness::within(Duration::from_secs(30), || async {
        (missing(&stack.stored_votes().await) == 0).then_some(())
    })
    .await;
    if all_in.is_none() {
        let last = std::cell::Cell::new(stack.stored_votes().await.len());
        crate::harness::eventually(
            Duration::from_secs(30),
            "the stored votes to settle",
            || async {
                // Letting time pass on purpose: settled is "no change in 2 s".
                tokio::time::sleep(Duration::from_secs(2)).await;
                let now = stack.stored_votes().await.len();
                (now == last.replace(now)).then_some(())
            },
        )
        .await;
    }
    RedisFailover {
        acknowledged: outcome.acknowledged.len(),
        lost: missing(&stack.stored_votes().await),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_replica_confirmation_what_a_redis_master_kill_loses_is_printed() {
    let run = lose_the_redis_master("redis-nowait", "0").await;
    eprintln!(
        "failover: Redis master killed, a replica promoted by Sentinel (REDIS_MIN_REPLICAS=0): \
         {} votes acknowledged, {} lost (on the master, not yet replicated); votes accepted \
         again after {:.1} s, result moving again by {:.1} s",
        run.acknowledged,
        run.lost,
        run.accepted_again.as_secs_f64(),
        run.result_moved.as_secs_f64()
    );
}

//! vote with `REDIS_MIN_REPLICAS=1` against a real master and replica on
//! loopback: votes waiting at the same time share one `WAIT` (group commit),
//! a lone vote gets its own at once, and no vote is answered 200 unless the
//! replica confirmed it, even when the replica dies in the middle of a batch.
//!
//! How many `WAIT`s vote sent is read from the master's own count
//! (`INFO commandstats`), not from vote.

use crate::harness::load::{vote_as, Load};
use crate::harness::redis_server::RedisServer;
use crate::harness::service::Service;
use crate::harness::{eventually, http_client, TestDir};
use std::collections::HashMap;
use std::time::Duration;

/// `INFO section` of `server`.
async fn info(server: &RedisServer, section: &str) -> Option<String> {
    let mut redis = redis::Client::open(server.url())
        .ok()?
        .get_multiplexed_async_connection()
        .await
        .ok()?;
    redis::cmd("INFO")
        .arg(section)
        .query_async(&mut redis)
        .await
        .ok()
}

/// The value of `field:` in an `INFO` reply.
fn field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .map(str::trim)
}

/// How many times the master ran `command` (lower case), from its commandstats.
async fn calls(master: &RedisServer, command: &str) -> u64 {
    let stats = info(master, "commandstats")
        .await
        .expect("INFO commandstats");
    field(&stats, &format!("cmdstat_{command}"))
        .and_then(|stat| stat.strip_prefix("calls=")?.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

/// Waits until the replica streams from the master, and has finished the
/// append-only file it starts after its first sync (until then its writes
/// are not yet in a file it would load again).
async fn in_sync(master: &RedisServer, replica: &RedisServer) {
    eventually(
        Duration::from_secs(30),
        "the replica to stream from the master",
        || async {
            let on_master = info(master, "replication").await?;
            field(&on_master, "slave0")?
                .contains("state=online")
                .then_some(())?;
            let replication = info(replica, "replication").await?;
            let persistence = info(replica, "persistence").await?;
            let synced = field(&replication, "master_link_status") == Some("up")
                && field(&persistence, "aof_rewrite_in_progress") == Some("0")
                && field(&persistence, "aof_rewrite_scheduled") == Some("0")
                && field(&persistence, "loading") == Some("0");
            synced.then_some(())
        },
    )
    .await;
}

/// A master, one replica and vote asking it to confirm each vote.
async fn master_replica_vote(name: &str, persistent: bool) -> Replicated {
    let dir = TestDir::new(name);
    let master = RedisServer::start(&dir, false);
    let replica = if persistent {
        RedisServer::persistent_replica_of(&master, &dir, 1)
    } else {
        RedisServer::replica_of(&master, &dir, 1)
    };
    in_sync(&master, &replica).await;
    let env = [
        ("REDIS_URL".to_owned(), master.url()),
        ("REDIS_MIN_REPLICAS".to_owned(), "1".to_owned()),
    ];
    let vote = Service::spawn("vote", &dir, &env).healthy().await;
    Replicated {
        vote,
        replica,
        master,
        _dir: dir,
    }
}

struct Replicated {
    // Fields drop in order: the servers first, then their directory.
    vote: Service,
    replica: RedisServer,
    master: RedisServer,
    _dir: TestDir,
}

/// The `votes` list of `server` as voter id -> vote (the last one wins).
async fn queued_votes(server: &RedisServer) -> HashMap<String, String> {
    let mut redis = server.connection().await;
    let ballots: Vec<String> = redis::cmd("LRANGE")
        .arg("votes")
        .arg(0)
        .arg(-1)
        .query_async(&mut redis)
        .await
        .expect("LRANGE votes");
    ballots
        .iter()
        .map(|json| {
            let ballot: serde_json::Value = serde_json::from_str(json).expect("a ballot");
            let text = |key: &str| ballot[key].as_str().expect("a text field").to_owned();
            (text("voter_id"), text("vote"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_vote_is_answered_200_unless_the_replica_confirmed_it_even_when_it_dies_mid_batch() {
    let mut run = master_replica_vote("group-commit-replica-dies", true).await;
    let load = Load::start(&run.vote.url("/"), "gc", 50);
    load.flowing(500, "with the replica up", String::new).await;
    run.replica.crash();
    // The batches waiting for it, and every one after, are refused.
    eventually(
        Duration::from_secs(30),
        "votes refused after the replica died",
        || async { (load.answered().saturating_sub(load.acknowledged()) >= 100).then_some(()) },
    )
    .await;
    let outcome = load.finish().await;
    // What the replica wrote before it died: what a failover to it keeps.
    run.replica.start_again_alone();
    let on_replica = queued_votes(&run.replica).await;
    let missing = outcome.lost(|id| on_replica.get(id).map(String::as_str));
    eprintln!(
        "group commit: {} votes answered 200, {} refused ({:?}), {} on the replica, \
         {} WAIT calls on the master",
        outcome.acknowledged.len(),
        outcome.failed(),
        outcome.failures,
        on_replica.len(),
        calls(&run.master, "wait").await
    );
    assert!(
        missing.is_empty(),
        "{} of {} votes answered 200 are not on the replica, e.g. {:?}",
        missing.len(),
        outcome.acknowledged.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );
    assert_eq!(
        outcome.failures.keys().collect::<Vec<_>>(),
        ["HTTP 503"],
        "votes the replica did not confirm are answered 503, nothing else"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_vote_gets_a_wait_of_its_own_and_is_on_the_replica_when_answered() {
    let run = master_replica_vote("group-commit-sparse", false).await;
    let client = http_client(false);
    let mut replica = run.replica.connection().await;
    let waits_before = calls(&run.master, "wait").await;
    let votes = 20;
    for n in 1..=votes {
        vote_as(&client, &run.vote.url("/"), &format!("sparse-{n}"), "a")
            .await
            .unwrap();
        // Confirmed, so already on the replica: no batch waits for company.
        let on_replica: i64 = redis::cmd("LLEN")
            .arg("votes")
            .query_async(&mut replica)
            .await
            .unwrap();
        assert_eq!(on_replica, n, "vote {n} answered 200 is not on the replica");
    }
    assert_eq!(
        calls(&run.master, "wait").await - waits_before,
        votes as u64,
        "one WAIT per vote when votes come one at a time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn votes_cast_at_the_same_time_share_their_waits() {
    let run = master_replica_vote("group-commit-concurrent", false).await;
    let url = run.vote.url("/");
    let waits_before = calls(&run.master, "wait").await;
    let (voters, rounds) = (200, 5);
    let mut lanes = tokio::task::JoinSet::new();
    for voter in 0..voters {
        let url = url.clone();
        lanes.spawn(async move {
            let client = http_client(false);
            for round in 0..rounds {
                vote_as(&client, &url, &format!("together-{voter}-{round}"), "b").await?;
            }
            Ok::<(), String>(())
        });
    }
    while let Some(lane) = lanes.join_next().await {
        lane.unwrap().unwrap();
    }
    let votes = (voters * rounds) as u64;
    let waits = calls(&run.master, "wait").await - waits_before;
    eprintln!("group commit: {votes} votes from {voters} voters at once, {waits} WAIT calls");
    assert!(
        waits < votes,
        "{waits} WAITs for {votes} concurrent votes: no batching"
    );
    assert_eq!(queued_votes(&run.replica).await.len() as u64, votes);
}

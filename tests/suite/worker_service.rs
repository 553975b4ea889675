//! The worker: one row per voter, the last vote wins, poison is set aside, it
//! waits for its databases, and it keeps the original table working.

use crate::harness::worker::{
    counts, drained, logged, original, original_worker_table, push, stamped, worker_with_schema,
};
use crate::harness::{metric, Stack};
use std::time::Duration;

async fn dead_letters(stack: &Stack) -> Vec<String> {
    stack.list("votes:dead").await
}

#[tokio::test]
async fn the_worker_stores_one_row_per_voter_and_the_last_vote_wins() {
    let stack = Stack::start("worker-last-wins");
    let _worker = stack.worker(&[]).await;
    push(
        &stack,
        &[
            stamped("x", "a", 100),
            stamped("y", "b", 101),
            stamped("x", "b", 102),
            original("z", "a"),
            original("z", "b"),
        ],
    )
    .await;
    drained(&stack).await;
    let stored = stack.stored_votes().await;
    assert_eq!(stored.len(), 3, "{stored:?}");
    assert_eq!(stored["x"], "b");
    assert_eq!(stored["y"], "b");
    assert_eq!(stored["z"], "b");
    assert_eq!(counts(&stack).await, (0, 3));

    // An older vote arriving late (a replay, another worker) changes nothing.
    push(&stack, &[stamped("x", "a", 50)]).await;
    drained(&stack).await;
    assert_eq!(stack.stored_votes().await["x"], "b");
    assert_eq!(counts(&stack).await, (0, 3));
}

#[tokio::test]
async fn poison_goes_to_the_dead_letter_list_and_the_rest_is_stored_verbatim() {
    let stack = Stack::start("worker-poison");
    let worker = stack.worker(&[]).await;
    let sql = "x'); DROP TABLE votes;--";
    let html = "<b onmouseover=alert(1)>";
    let poison = [
        "not json at all".to_owned(),
        r#"{"voter_id":"p1","vote":"c"}"#.to_owned(),
        r#"{"voter_id":"","vote":"a"}"#.to_owned(),
        original(&"v".repeat(256), "a"),
        r#"{"vote":"a"}"#.to_owned(),
        "x".repeat(5000),
    ];
    let mut messages = poison.to_vec();
    messages.push(original(sql, "a"));
    messages.push(original(html, "b"));
    messages.push(original("plain", "a"));
    push(&stack, &messages).await;
    drained(&stack).await;
    let stored = stack.stored_votes().await;
    assert_eq!(stored.len(), 3, "{stored:?}");
    assert_eq!(stored[sql], "a");
    assert_eq!(stored[html], "b");
    assert_eq!(dead_letters(&stack).await, poison.to_vec());
    let log = worker.log_text();
    assert_eq!(
        log.matches("moved a message that is not a vote").count(),
        poison.len(),
        "{log}"
    );
}

/// Two kinds of refusal an operator might add: a constraint (no voter
/// `banned-*`), and a trigger (none `audit-*`).
async fn refuse_banned_and_audited_voters(stack: &Stack) {
    let pg = stack.pg.client().await;
    pg.batch_execute(
        "ALTER TABLE votes ADD CONSTRAINT no_banned_voters CHECK (id NOT LIKE 'banned-%');
         CREATE FUNCTION refuse_audited() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.id LIKE 'audit-%' THEN RAISE EXCEPTION 'voter % is under audit', NEW.id; END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER refuse_audited BEFORE INSERT OR UPDATE ON votes
             FOR EACH ROW EXECUTE FUNCTION refuse_audited();",
    )
    .await
    .unwrap();
}

/// What `votes:rejected` holds: (voter, SQLSTATE, reason) of each entry.
async fn rejected_votes(stack: &Stack) -> Vec<(String, String, String)> {
    let entries = stack.list("votes:rejected").await;
    entries
        .iter()
        .map(|entry| {
            let entry: serde_json::Value = serde_json::from_str(entry).unwrap();
            let message: serde_json::Value =
                serde_json::from_str(entry["message"].as_str().unwrap()).unwrap();
            (
                message["voter_id"].as_str().unwrap().to_owned(),
                entry["sqlstate"].as_str().unwrap().to_owned(),
                entry["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn votes_postgres_refuses_are_set_aside_with_the_reason_and_the_rest_is_stored() {
    let stack = Stack::start("worker-refused");
    let worker = worker_with_schema(&stack).await;
    refuse_banned_and_audited_voters(&stack).await;
    let refused = ["banned-1", "audit-7", "banned-2"];
    let mut messages: Vec<String> = (0..500)
        .map(|i| stamped(&format!("ok-{i:03}"), if i % 2 == 0 { "a" } else { "b" }, i))
        .collect();
    for (i, voter) in refused.iter().enumerate() {
        messages.insert(100 * (i + 1), stamped(voter, "a", 1000));
    }
    push(&stack, &messages).await;
    drained(&stack).await;

    assert_eq!(stack.stored_votes().await.len(), 500);
    assert_eq!(counts(&stack).await, (250, 250));
    let mut rejected = rejected_votes(&stack).await;
    rejected.sort();
    assert_eq!(rejected.len(), 3, "{rejected:?}");
    assert_eq!(rejected[0].0, "audit-7");
    assert_eq!(rejected[0].1, "P0001");
    assert!(rejected[0].2.contains("under audit"), "{rejected:?}");
    for (voter, sqlstate, reason) in &rejected[1..] {
        assert!(voter.starts_with("banned-"), "{rejected:?}");
        assert_eq!(sqlstate, "23514");
        assert!(reason.contains("no_banned_voters"), "{rejected:?}");
    }
    assert_eq!(metric(&worker, "worker_votes_rejected_total").await, 3.0);
    assert!(metric(&worker, "worker_batch_splits_total").await >= 1.0);
    assert_eq!(metric(&worker, "votes_stored_total").await, 500.0);
    let log = worker.log_text();
    assert_eq!(
        log.matches("Postgres refused this vote").count(),
        3,
        "{log}"
    );
    assert!(log.contains("before it is split"), "{log}");
}

#[tokio::test]
async fn the_worker_started_before_its_databases_waits_for_them() {
    let mut stack = Stack::start("worker-waits");
    stack.redis.stop();
    stack.pg.stop();
    let worker = stack.worker(&[]).await;
    let ready = crate::harness::get_json(&worker.url("/readyz"))
        .await
        .unwrap();
    assert!(
        ready["dependencies"]["redis"]
            .as_str()
            .unwrap()
            .starts_with("unavailable"),
        "{ready}"
    );
    logged(&worker, "waiting for Redis").await;
    stack.redis.start_again();
    push(&stack, &[original("early", "a")]).await;
    logged(&worker, "waiting for Postgres").await;
    assert_eq!(
        stack.queued().await,
        1,
        "nothing is taken before Postgres is there"
    );
    stack.pg.start_again();
    drained(&stack).await;
    assert_eq!(stack.stored_votes().await["early"], "a");
    let ready = crate::harness::get_json(&worker.url("/readyz"))
        .await
        .unwrap();
    assert_eq!(
        (
            ready["dependencies"]["redis"].as_str(),
            ready["dependencies"]["postgres"].as_str()
        ),
        (Some("ok"), Some("ok"))
    );
}

#[tokio::test]
async fn a_table_made_by_the_original_worker_keeps_working_with_ours() {
    let stack = Stack::start("worker-original-table");
    let pg = stack.pg.client().await;
    original_worker_table(&pg, &[("old1", "a"), ("old2", "b"), ("old3", "b")]).await;
    let _worker = stack.worker(&[]).await;
    push(&stack, &[stamped("new1", "a", 1), stamped("old2", "a", 2)]).await;
    drained(&stack).await;
    assert_eq!(counts(&stack).await, (3, 1), "totals back-filled and kept");

    // The original worker's statements, still next to ours.
    pg.batch_execute(
        "INSERT INTO votes (id, vote) VALUES ('orig', 'b');
         UPDATE votes SET vote = 'b' WHERE id = 'old1';",
    )
    .await
    .unwrap();
    assert_eq!(counts(&stack).await, (2, 3));
    // The original result service's query.
    let rows = pg
        .query(
            "SELECT vote, COUNT(id) AS count FROM votes GROUP BY vote ORDER BY vote",
            &[],
        )
        .await
        .unwrap();
    let original_tally: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(original_tally, vec![("a".into(), 2), ("b".into(), 3)]);
}

#[tokio::test]
async fn one_step_drains_at_most_a_batch_and_an_empty_queue_is_idle() {
    use worker::pipeline::{Outcome, Worker};
    let stack = Stack::start("worker-step");
    let messages: Vec<String> = (0..2500)
        .map(|i| stamped(&format!("v{i}"), "a", i))
        .collect();
    push(&stack, &messages).await;
    let redis_url = common::config::RedisUrl::parse(&stack.redis.url()).unwrap();
    let database_url = common::config::DatabaseUrl::parse(&stack.pg.url()).unwrap();
    let queue = worker::claim::Queue::new(&redis_url, "step").unwrap();
    queue.heartbeat(Duration::from_secs(10)).await.unwrap();
    let processing = queue.keys().processing.clone();
    let mut worker = Worker::new(queue, worker::store::pool(&database_url).unwrap(), 1000);
    let mut sizes = Vec::new();
    let mut held = Vec::new();
    loop {
        let outcome = worker.process_batch().await.unwrap();
        held.push(stack.list(&processing).await.len());
        match outcome {
            Outcome::Idle => break,
            Outcome::Stored {
                messages,
                ballots,
                poison,
                rejected,
            } => {
                assert_eq!((messages, poison, rejected), (ballots, 0, 0));
                sizes.push(messages);
            }
        }
    }
    assert_eq!(sizes, vec![1000, 1000, 500]);
    // A stored batch leaves Redis while the next one is stored (behind
    // which the one after is claimed), and the last when the queue is empty.
    assert_eq!(held, vec![2000, 1500, 500, 0]);
    assert_eq!(stack.stored_votes().await.len(), 2500);
    assert_eq!(counts(&stack).await, (2500, 0));
}

#[tokio::test]
async fn a_batch_claimed_behind_a_recovered_one_is_refused_and_nothing_is_lost() {
    let stack = Stack::start("worker-claim-ahead");
    let messages: Vec<String> = (0..30).map(|i| stamped(&format!("v{i}"), "a", i)).collect();
    push(&stack, &messages).await;
    let redis_url = common::config::RedisUrl::parse(&stack.redis.url()).unwrap();
    let queue = worker::claim::Queue::new(&redis_url, "ahead").unwrap();
    let processing = queue.keys().processing.clone();
    let current = queue.claim(0, 10).await.unwrap();
    assert_eq!(current.len(), 10);
    // Claiming behind the held batch: the next 10, the list now 20 long.
    let next = queue.claim(10, 10).await.unwrap();
    assert_eq!(next.len(), 10);
    assert_eq!(String::from_utf8_lossy(&next[0]), messages[10]);
    assert_eq!(stack.list(&processing).await.len(), 20);
    // The current batch stored: its acknowledgement leaves the next one.
    queue.acknowledge(10, &[], &[]).await.unwrap();
    assert_eq!(stack.list(&processing).await, messages[10..20].to_vec());
    // Another worker recovers the list (as when this one's heartbeat lapsed):
    // a claim behind the 10 this worker thinks it holds must claim nothing,
    // and their acknowledgement must not remove anything.
    queue.release().await.unwrap();
    let refused = queue.claim(10, 10).await.unwrap_err().to_string();
    assert!(
        refused.contains("the 10 votes being stored were taken back"),
        "{refused}"
    );
    queue.acknowledge(10, &[], &[]).await.unwrap();
    assert!(stack.list(&processing).await.is_empty());
    assert_eq!(stack.list("votes").await, messages[10..].to_vec());
}

/// `used_memory` of the stack's Redis, from `INFO memory`.
async fn used_memory(stack: &Stack) -> u64 {
    let mut redis = stack.redis.connection().await;
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut redis)
        .await
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|value| value.trim().parse().ok())
        .expect("INFO memory has used_memory")
}

#[tokio::test]
async fn a_redis_full_to_its_maxmemory_refuses_votes_and_the_worker_still_drains_it() {
    let stack = Stack::migrated("worker-redis-full").await;
    let vote = stack.vote(&[]).await;
    // Long voter ids: a queue that takes memory to notice.
    let voters = 2000;
    let messages: Vec<String> = (0..voters)
        .map(|i| stamped(&format!("{i:0>200}"), "a", i))
        .collect();
    push(&stack, &messages).await;
    // Over its limit now, with noeviction (what the manifests set).
    let limit = used_memory(&stack).await - 200_000;
    let mut redis = stack.redis.connection().await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(limit)
        .arg("maxmemory-policy")
        .arg("noeviction")
        .query_async(&mut redis)
        .await
        .unwrap();

    let refused =
        crate::harness::cast(&crate::harness::http_client(false), &vote.url("/"), "b").await;
    assert_eq!(refused.status(), 503, "a vote into a full Redis");
    assert_eq!(
        stack.queued().await,
        voters,
        "the refused vote queued nothing"
    );

    let _worker = stack.worker(&[]).await;
    drained(&stack).await;
    assert_eq!(counts(&stack).await, (voters, 0));
}

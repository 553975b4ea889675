//! The schema's versions: the worker migrates (at start and as `worker
//! migrate`), an earlier release's database is upgraded, workers starting
//! together migrate once, and `result` reads with SELECT and LISTEN only.

use crate::harness::worker::{
    drained, logged, original_worker_table, push, stamped, worker_with_schema,
};
use crate::harness::{binaries, eventually, tally_until, Stack};
use std::time::Duration;

/// What `worker migrate` prints and its exit code.
async fn migrate(stack: &Stack) -> (i32, String) {
    let url = stack.pg.url();
    let out = binaries::run("worker", &["migrate"], &[("DATABASE_URL", &url)]).await;
    (
        out.code.unwrap_or(-1),
        format!("{}{}", out.stdout, out.stderr),
    )
}

/// The versions recorded in the database.
async fn versions(stack: &Stack) -> Vec<i32> {
    let client = stack.pg.client().await;
    client
        .query(
            &format!(
                "SELECT version FROM {} ORDER BY version",
                worker::migrate::VERSION_TABLE
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

fn every_version() -> Vec<i32> {
    worker::migrate::MIGRATIONS
        .iter()
        .map(|m| m.version)
        .collect()
}

async fn tally(stack: &Stack) -> (i64, i64) {
    crate::harness::worker::counts(stack).await
}

#[tokio::test]
async fn a_database_of_the_release_before_versions_is_upgraded_and_keeps_its_totals() {
    let stack = Stack::start("schema-upgrade");
    let pg = stack.pg.client().await;
    pg.batch_execute(include_str!("../fixtures/schema-before-versions.sql"))
        .await
        .unwrap();
    pg.batch_execute(
        "INSERT INTO votes (id, vote, ts) VALUES ('old1', 'a', 1), ('old2', 'b', 2), ('old3', 'b', 3);
         INSERT INTO votes (id, vote) VALUES ('orig', 'a');",
    )
    .await
    .unwrap();
    assert_eq!(tally(&stack).await, (2, 2));

    let (code, text) = migrate(&stack).await;
    assert_eq!(code, 0, "{text}");
    let latest = worker::migrate::latest();
    assert!(
        text.contains(&format!("schema migrated from version 0 to {latest}")),
        "{text}"
    );
    assert_eq!(versions(&stack).await, every_version());
    assert_eq!(tally(&stack).await, (2, 2), "totals recounted, not doubled");
    let triggers: i64 = pg
        .query_one(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'votes'::regclass AND NOT tgisinternal",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(triggers, 4, "each trigger once");

    // The upgraded database counts as before, once per vote.
    let _worker = stack.worker(&[]).await;
    push(
        &stack,
        &[stamped("new1", "a", 10), stamped("old2", "a", 11)],
    )
    .await;
    drained(&stack).await;
    assert_eq!(tally(&stack).await, (4, 1));

    let (code, text) = migrate(&stack).await;
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("schema already at version {latest}")),
        "{text}"
    );
}

#[tokio::test]
async fn two_workers_starting_together_apply_each_migration_once() {
    let stack = Stack::start("schema-two-workers");
    let env = stack.env(&[]);
    let (first, second) = tokio::join!(
        crate::harness::service::Service::spawn("worker", &stack.dir, &env).healthy(),
        crate::harness::service::Service::spawn("worker", &stack.dir, &env).healthy(),
    );
    logged(&first, "schema current").await;
    logged(&second, "schema current").await;
    let applied = first.log_text().matches("applied schema migration").count()
        + second
            .log_text()
            .matches("applied schema migration")
            .count();
    assert_eq!(applied, worker::migrate::MIGRATIONS.len());
    assert_eq!(versions(&stack).await, every_version());
    push(&stack, &[stamped("x", "b", 1)]).await;
    drained(&stack).await;
    assert_eq!(tally(&stack).await, (0, 1));
}

#[tokio::test]
async fn migrate_refuses_a_bad_database_url_with_exit_2() {
    let out = binaries::run(
        "worker",
        &["migrate"],
        &[("DATABASE_URL", "postgres://user:hunter2@/nohost")],
    )
    .await;
    let stderr = out.stderr;
    assert_eq!(out.code, Some(2), "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "password shown: {stderr}");
}

#[tokio::test]
async fn result_works_with_a_role_that_may_only_select() {
    let stack = Stack::start("schema-select-only");
    let _worker = worker_with_schema(&stack).await;
    let pg = stack.pg.client().await;
    pg.batch_execute(
        "CREATE ROLE viewer LOGIN;
         GRANT SELECT ON votes, vote_counts TO viewer;",
    )
    .await
    .unwrap();
    let viewer_url = format!("postgres://viewer@127.0.0.1:{}/postgres", stack.pg.port);
    let result = stack
        .result(&[("DATABASE_URL", &viewer_url)])
        .await
        .ready()
        .await;
    push(&stack, &[stamped("p", "a", 1), stamped("q", "b", 2)]).await;
    let api = result.url("/api/results");
    tally_until(&api, 1, 1, Duration::from_secs(10)).await;
    push(&stack, &[stamped("r", "a", 3)]).await;
    tally_until(&api, 2, 1, Duration::from_secs(10)).await;
    let log = result.log_text();
    assert!(log.contains("following the totals in vote_counts"), "{log}");
    assert!(!log.contains("permission denied"), "{log}");
}

#[tokio::test]
async fn beside_the_original_worker_result_counts_the_votes_table() {
    let stack = Stack::start("schema-original-worker");
    let result = stack.result(&[]).await.ready().await;
    let api = result.url("/api/results");
    tally_until(&api, 0, 0, Duration::from_secs(10)).await;
    let pg = stack.pg.client().await;
    // The original worker never makes vote_counts.
    original_worker_table(&pg, &[("o1", "a"), ("o2", "b"), ("o3", "b")]).await;
    tally_until(&api, 1, 2, Duration::from_secs(10)).await;
    pg.batch_execute("UPDATE votes SET vote = 'a' WHERE id = 'o2'")
        .await
        .unwrap();
    tally_until(&api, 2, 1, Duration::from_secs(10)).await;
    eventually(Duration::from_secs(5), "the fallback's warning", || async {
        result
            .log_text()
            .contains("vote_counts is missing")
            .then_some(())
    })
    .await;
    let has_counts: bool = pg
        .query_one("SELECT to_regclass('vote_counts') IS NOT NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!has_counts, "result must not create tables");
}

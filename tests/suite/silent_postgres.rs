//! A Postgres that stops answering without closing anything (every process
//! of it stopped with SIGSTOP: the kernel still accepts connections and
//! acknowledges what is sent, as for a frozen or cut-off host), with a
//! second server after it in `DATABASE_URL`. The worker must give up the
//! stalled store within its limit and store on the next host; result must
//! notice its silent `LISTEN` session within seconds and follow the next
//! host. Both servers here take writes, so where each vote went shows who
//! moved.

use crate::harness::postgres::Postgres;
use crate::harness::worker::{counts, push, stamped};
use crate::harness::{eventually, get_json, Stack, TestDir};
use std::time::{Duration, Instant};

/// A second server with the current schema, and a `DATABASE_URL` listing
/// the stack's server first, then it.
async fn second_server(stack: &Stack, name: &str) -> (TestDir, Postgres, String) {
    let dir = TestDir::new(name);
    let next = Postgres::start(&dir);
    let mut client = next.client().await;
    worker::migrate::run(&mut client)
        .await
        .expect("migrate the second server");
    let url = format!(
        "postgres://postgres:postgres@127.0.0.1:{},127.0.0.1:{}/postgres",
        stack.pg.port, next.port
    );
    (dir, next, url)
}

/// How many rows the `votes` table of `pg` holds.
async fn rows(pg: &Postgres) -> i64 {
    let client = pg.client().await;
    client
        .query_one("SELECT count(*) FROM votes", &[])
        .await
        .expect("count the votes")
        .get(0)
}

#[tokio::test]
async fn a_worker_whose_postgres_stops_answering_stores_on_the_next_host() {
    let mut stack = Stack::migrated("silent-postgres-worker").await;
    let (_dir, next, url) = second_server(&stack, "silent-postgres-worker-next").await;
    let _worker = stack.worker(&[("DATABASE_URL", &url)]).await;
    push(&stack, &[stamped("before", "a", 1)]).await;
    eventually(Duration::from_secs(20), "the first vote stored", || async {
        (counts(&stack).await == (1, 0)).then_some(())
    })
    .await;

    stack.pg.freeze();
    let frozen = Instant::now();
    let later: Vec<String> = (0..5)
        .map(|i| stamped(&format!("after{i}"), "b", 10 + i))
        .collect();
    push(&stack, &later).await;
    eventually(
        Duration::from_secs(60),
        "the votes stored on the next host while the first is silent",
        || async { (rows(&next).await == 5).then_some(()) },
    )
    .await;
    eprintln!(
        "silent postgres: the worker stored on the next host {:.1} s after the first stopped answering",
        frozen.elapsed().as_secs_f64()
    );
    stack.pg.thaw();
}

#[tokio::test]
async fn result_whose_postgres_stops_answering_follows_the_next_host() {
    let mut stack = Stack::migrated("silent-postgres-result").await;
    let (_dir, next, url) = second_server(&stack, "silent-postgres-result-next").await;
    let insert =
        "INSERT INTO votes (id, vote) SELECT 'v' || n, 'b' FROM generate_series(1, $1::int) n";
    stack
        .pg
        .client()
        .await
        .execute(insert, &[&1])
        .await
        .unwrap();
    next.client().await.execute(insert, &[&2]).await.unwrap();
    let result = stack.result(&[("DATABASE_URL", &url)]).await;
    let api = result.url("/api/results");
    let total = |wanted: i64| {
        let api = api.clone();
        async move {
            let shown = get_json(&api).await?["total"].as_i64()?;
            (shown == wanted).then_some(())
        }
    };
    eventually(Duration::from_secs(20), "the first server's totals", || {
        total(1)
    })
    .await;

    stack.pg.freeze();
    let frozen = Instant::now();
    eventually(
        Duration::from_secs(45),
        "result to follow the next host while the first is silent",
        || total(2),
    )
    .await;
    eprintln!(
        "silent postgres: result showed the next host's totals {:.1} s after the first stopped answering",
        frozen.elapsed().as_secs_f64()
    );
    stack.pg.thaw();
}

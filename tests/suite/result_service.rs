//! The result service: names, percentages and totals on the page and the API,
//! live updates over Server-Sent Events, and Postgres going away and back.

use crate::harness::{eventually, get_json, http_client, Stack};
use futures_util::StreamExt;
use std::time::Duration;

async fn api_until(url: &str, total: i64) -> serde_json::Value {
    eventually(
        Duration::from_secs(10),
        &format!("a total of {total}"),
        || async { get_json(url).await.filter(|body| body["total"] == total) },
    )
    .await
}

#[tokio::test]
async fn the_page_and_api_show_both_names_percentages_and_the_total() {
    let stack = Stack::migrated("result-page").await;
    let result = stack
        .result(&[("OPTION_A", "Java"), ("OPTION_B", ".NET")])
        .await
        .ready()
        .await;
    let pg = stack.pg.client().await;
    let url = result.url("/api/results");

    let empty = api_until(&url, 0).await;
    assert_eq!(
        empty,
        serde_json::json!({"option_a":"Java","option_b":".NET","a":0,"b":0,"total":0,
            "percent_a":50,"percent_b":50,"label":"No votes yet"})
    );
    let page = crate::harness::page_text(&result.url("/")).await;
    for expected in ["Java", ".NET", "50%", "No votes yet"] {
        assert!(page.contains(expected), "{expected} missing from {page}");
    }

    pg.execute("INSERT INTO votes (id, vote) VALUES ('v1', 'b')", &[])
        .await
        .unwrap();
    let one = api_until(&url, 1).await;
    assert_eq!((one["a"].as_i64(), one["b"].as_i64()), (Some(0), Some(1)));
    assert_eq!(one["label"], "1 vote");

    pg.execute(
        "INSERT INTO votes (id, vote) VALUES ('v2', 'a'), ('v3', 'a')",
        &[],
    )
    .await
    .unwrap();
    let three = api_until(&url, 3).await;
    assert_eq!(
        (three["percent_a"].as_i64(), three["percent_b"].as_i64()),
        (Some(67), Some(33))
    );
    let page = crate::harness::page_text(&result.url("/")).await;
    for expected in ["67%", "33%", "3 votes"] {
        assert!(page.contains(expected), "{expected} missing from {page}");
    }
}

/// Reads Server-Sent Events until one of type `tally` satisfies `accept`.
async fn next_tally(
    events: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buffer: &mut String,
    accept: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            if let Some(data) = frame.strip_prefix("event: tally\ndata: ") {
                let tally: serde_json::Value = serde_json::from_str(data.trim()).unwrap();
                if accept(&tally) {
                    return tally;
                }
            }
        }
        let chunk = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("an update within 10 s")
            .expect("the stream stays open")
            .unwrap();
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test]
async fn updates_are_pushed_to_open_pages_when_votes_commit() {
    let stack = Stack::migrated("result-live").await;
    let result = stack.result(&[]).await.ready().await;
    let pg = stack.pg.client().await;
    let res = http_client(false)
        .get(result.url("/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut events = res.bytes_stream();
    let mut buffer = String::new();
    let first = next_tally(&mut events, &mut buffer, |_| true).await;
    assert_eq!(first["total"], 0);

    pg.execute("INSERT INTO votes (id, vote) VALUES ('live', 'a')", &[])
        .await
        .unwrap();
    let update = next_tally(&mut events, &mut buffer, |t| t["total"] == 1).await;
    assert_eq!(update["a"], 1);
    assert_eq!(update["percent_a"], 100);

    let metrics = crate::harness::page_text(&result.url("/metrics")).await;
    assert!(metrics.contains("result_viewers_connected 1"), "{metrics}");
    assert!(metrics.contains("result_updates_pushed_total"), "{metrics}");
}

#[tokio::test]
async fn with_postgres_down_the_page_and_api_say_so_and_recover_on_their_own() {
    let mut stack = Stack::migrated("result-pg-down").await;
    let result = stack.result(&[]).await.ready().await;
    let pg = stack.pg.client().await;
    pg.execute("INSERT INTO votes (id, vote) VALUES ('kept', 'b')", &[])
        .await
        .unwrap();
    api_until(&result.url("/api/results"), 1).await;
    drop(pg);

    stack.pg.stop();
    let client = http_client(false);
    let body: serde_json::Value =
        eventually(Duration::from_secs(10), "the API to report 503", || async {
            let res = client.get(result.url("/api/results")).send().await.ok()?;
            (res.status() == 503).then_some(())?;
            res.json().await.ok()
        })
        .await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("database cannot be reached"),
        "{body}"
    );
    let page = client.get(result.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 503);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("Results are unavailable"));
    // Still ready (it serves its "unavailable" page), Postgres reported apart.
    let ready = crate::harness::http_client(false)
        .get(result.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert!(
        body["dependencies"]["postgres"]
            .as_str()
            .unwrap()
            .starts_with("unavailable"),
        "{body}"
    );
    let metrics = crate::harness::page_text(&result.url("/metrics")).await;
    assert!(
        metrics.contains("dependency_up{dependency=\"postgres\"} 0"),
        "{metrics}"
    );

    stack.pg.start_again();
    let back = api_until(&result.url("/api/results"), 1).await;
    assert_eq!(back["b"], 1);
    let ready: serde_json::Value = crate::harness::get_json(&result.url("/readyz"))
        .await
        .unwrap();
    assert_eq!(ready["dependencies"]["postgres"], "ok");
}

#[tokio::test]
async fn every_result_replica_follows_the_same_totals_without_affinity() {
    let stack = Stack::migrated("result-replicas").await;
    let first = stack.result(&[]).await.ready().await;
    let second = stack.result(&[]).await.ready().await;
    let pg = stack.pg.client().await;
    pg.execute(
        "INSERT INTO votes (id, vote) VALUES ('r1', 'a'), ('r2', 'b'), ('r3', 'b')",
        &[],
    )
    .await
    .unwrap();
    for replica in [&first, &second] {
        let body = api_until(&replica.url("/api/results"), 3).await;
        assert_eq!((body["a"].as_i64(), body["b"].as_i64()), (Some(1), Some(2)));
    }
}

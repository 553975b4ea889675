//! The result service: names, percentages and totals on the page and the API,
//! live updates over Server-Sent Events, and Postgres going away and back.

use crate::harness::raw_http::{self, connect, exchange, read_until};
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

#[tokio::test]
async fn one_connection_answers_pipelined_requests_in_order_then_becomes_the_stream() {
    use tokio::io::AsyncWriteExt;
    let stack = Stack::migrated("result-keepalive").await;
    let result = stack.result(&[]).await.ready().await;
    let pg = stack.pg.client().await;
    let mut connection = connect(result.port).await;
    // As a browser does: the page's connection, kept alive, carries the
    // event stream too; here all three requests go in one write.
    connection
        .write_all(
            b"GET /healthz HTTP/1.1\r\nHost: r\r\n\r\n\
              GET /api/results HTTP/1.1\r\nHost: r\r\n\r\n\
              GET /events HTTP/1.1\r\nHost: r\r\nAccept: text/event-stream\r\n\r\n",
        )
        .await
        .unwrap();
    let mut bytes = Vec::new();
    // The stream's first frame: the API's body has no blank line after it.
    read_until(&mut connection, &mut bytes, "\"}\n\n").await;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let health = text.find("content-length: 3\r\n").expect(&text);
    let ok = text.find("\r\n\r\nok\n").expect(&text);
    let api = text.find("\"label\":\"No votes yet\"").expect(&text);
    let stream = text.find("content-type: text/event-stream").expect(&text);
    assert!(
        health < ok && ok < api && api < stream,
        "out of order: {text}"
    );
    assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 3, "{text}");
    assert!(
        text[api..].contains("transfer-encoding: chunked\r\n"),
        "{text}"
    );

    pg.execute(
        "INSERT INTO votes (id, vote) VALUES ('kept-alive', 'b')",
        &[],
    )
    .await
    .unwrap();
    read_until(&mut connection, &mut bytes, "\"total\":1").await;
    let metrics = crate::harness::page_text(&result.url("/metrics")).await;
    assert!(metrics.contains("result_viewers_connected 1"), "{metrics}");

    drop(connection);
    eventually(Duration::from_secs(10), "the viewer to be gone", || async {
        let metrics = crate::harness::page_text(&result.url("/metrics")).await;
        metrics.contains("result_viewers_connected 0").then_some(())
    })
    .await;
}

#[tokio::test]
async fn requests_it_cannot_take_get_their_status_and_http_1_0_streams_end_by_closing() {
    let stack = Stack::migrated("result-refusals").await;
    let result = stack.result(&[]).await.ready().await;
    // More header fields than actix-http takes (a head past its size limit
    // is refused too, but the close then resets before the answer is read).
    let fields: String = (0..120).map(|i| format!("X-F{i}: 1\r\n")).collect();
    let huge = format!("GET / HTTP/1.1\r\nHost: r\r\n{fields}\r\n");
    let cases: [(&[u8], &str); 3] = [
        (huge.as_bytes(), "HTTP/1.1 431 "),
        (
            b"GET / HTTP/1.1\r\nHost: r\r\nContent-Length: x\r\n\r\n",
            "HTTP/1.1 400 ",
        ),
        (
            b"POST /events HTTP/1.1\r\nHost: r\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 405 ",
        ),
    ];
    for (request, status) in cases {
        let response = exchange(result.port, request).await;
        assert!(
            response.starts_with(status),
            "{status} expected: {response}"
        );
    }

    // HTTP/1.0: no chunks; the stream's end is the connection's.
    use tokio::io::AsyncWriteExt;
    let mut old = connect(result.port).await;
    old.write_all(b"GET /events HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let mut bytes = Vec::new();
    read_until(&mut old, &mut bytes, "\"total\":0").await;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    assert!(text.starts_with("HTTP/1.0 200 OK\r\n"), "{text}");
    assert!(!text.contains("transfer-encoding"), "{text}");
    assert!(
        text.contains("\r\n\r\nretry: 1000\n\nevent: tally\ndata: {"),
        "{text}"
    );
}

#[tokio::test]
async fn crafted_requests_get_what_http_1_1_prescribes() {
    let stack = Stack::migrated("result-crafted").await;
    let result = stack.result(&[]).await.ready().await;
    raw_http::refuses_ambiguous_requests_and_reads_valid_ones(result.port, "/healthz").await;
}

#[tokio::test]
async fn every_page_answers_head_with_its_headers_only() {
    let stack = Stack::migrated("result-head").await;
    let result = stack.result(&[]).await.ready().await;
    api_until(&result.url("/api/results"), 0).await;
    for path in [
        "/",
        "/api/results",
        "/events",
        "/readyz",
        "/healthz",
        "/metrics",
        "/static/result.css",
        "/static/result.js",
    ] {
        raw_http::head_answers_without_a_body(result.port, path).await;
    }
}

#[tokio::test]
async fn made_up_methods_leave_the_metrics_small() {
    let stack = Stack::migrated("result-methods").await;
    let result = stack.result(&[]).await.ready().await;
    raw_http::made_up_methods_add_no_metric_series(&result.url("")).await;
}

#[tokio::test]
async fn while_draining_new_connections_are_answered_then_streams_end_cleanly() {
    use tokio::io::AsyncWriteExt;
    let stack = Stack::migrated("result-drain").await;
    let mut result = stack.result(&[("DRAIN_SECONDS", "3")]).await.ready().await;
    api_until(&result.url("/api/results"), 0).await;
    let mut viewer = connect(result.port).await;
    viewer
        .write_all(b"GET /events HTTP/1.1\r\nHost: r\r\n\r\n")
        .await
        .unwrap();
    let mut bytes = Vec::new();
    read_until(&mut viewer, &mut bytes, "\"total\":0").await;

    result.sigterm();
    let client = http_client(false);
    eventually(Duration::from_secs(2), "readiness to turn 503", || async {
        let res = client.get(result.url("/readyz")).send().await.ok()?;
        (res.status() == 503).then_some(())
    })
    .await;
    // New connections, each answered while the drain lasts.
    for path in ["/readyz", "/api/results", "/"] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: r\r\n\r\n");
        let response = exchange(result.port, request.as_bytes()).await;
        let status = if path == "/readyz" { "503" } else { "200" };
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status} ")),
            "{path} while draining: {response}"
        );
    }
    // Then the open stream ends with its last chunk, not a reset.
    read_until(&mut viewer, &mut bytes, "\r\n0\r\n\r\n").await;
    let status = result.exit_status(Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0), "{}", result.log_text());
}

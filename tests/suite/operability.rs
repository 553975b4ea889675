//! Running the app: the load generator against a live stack, the metrics
//! moving under that load, and structured logs with request ids.

use crate::harness::{binaries, eventually, http_client, sample, Stack};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_generator_casts_its_split_and_the_metrics_move_with_it() {
    let stack = Stack::start("seed-and-metrics");
    let vote = stack.vote(&[]).await;
    let worker = stack.worker(&[]).await;
    let result = stack.result(&[]).await.ready().await;
    let before = crate::harness::page_text(&vote.url("/metrics")).await;
    let summary_path = stack.dir.join("seed.json");
    let out = tokio::process::Command::new(binaries::path("seed"))
        .args([
            "--url",
            &vote.url("/"),
            "--votes",
            "3000",
            "--concurrency",
            "20",
            "--split",
            "2:1",
            "--quiet",
        ])
        .arg("--json")
        .arg(&summary_path)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "seed failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    assert_eq!(
        (
            summary["ok"].as_u64(),
            summary["ok_a"].as_u64(),
            summary["ok_b"].as_u64()
        ),
        (Some(3000), Some(2000), Some(1000))
    );
    assert!(summary["requests_per_s"].as_f64().unwrap() > 0.0);
    assert!(summary["latency_ms"]["p99"].as_f64().unwrap() > 0.0);
    let table = String::from_utf8_lossy(&out.stderr);
    assert!(
        table.contains("requests/s") && table.contains("p99"),
        "{table}"
    );

    // Every vote reaches the results page: 2:1 over 3,000 voters.
    let api = result.url("/api/results");
    crate::harness::tally_until(&api, 2000, 1000, Duration::from_secs(30)).await;

    let after = crate::harness::page_text(&vote.url("/metrics")).await;
    let accepted = |m: &str| {
        sample(m, r#"votes_accepted_total{choice="a"}"#)
            + sample(m, r#"votes_accepted_total{choice="b"}"#)
    };
    assert_eq!(accepted(&after) - accepted(&before), 3000.0, "{after}");
    assert!(
        after.contains("http_request_duration_seconds_bucket"),
        "{after}"
    );
    let posts = sample(
        &after,
        r#"http_requests_total{route="/",method="POST",status="200"}"#,
    );
    assert_eq!(posts, 3000.0, "{after}");

    let worker_metrics = crate::harness::page_text(&worker.url("/metrics")).await;
    assert_eq!(
        sample(&worker_metrics, "votes_stored_total"),
        3000.0,
        "{worker_metrics}"
    );
    assert!(
        sample(&worker_metrics, "worker_batches_total") >= 1.0,
        "{worker_metrics}"
    );
    assert!(
        worker_metrics.contains("worker_claim_to_commit_seconds_bucket"),
        "{worker_metrics}"
    );
    let result_metrics = crate::harness::page_text(&result.url("/metrics")).await;
    assert!(
        sample(&result_metrics, "result_updates_pushed_total") >= 1.0,
        "{result_metrics}"
    );
}

#[tokio::test]
async fn the_load_generator_counts_refused_votes_as_errors() {
    let mut stack = Stack::start("seed-errors");
    let vote = stack.vote(&[]).await;
    stack.redis.stop();
    let out = tokio::process::Command::new(binaries::path("seed"))
        .args([
            "--url",
            &vote.url("/"),
            "--votes",
            "20",
            "--concurrency",
            "4",
            "--quiet",
        ])
        .output()
        .await
        .unwrap();
    let table = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{table}");
    assert!(table.contains("ok           0"), "{table}");
    assert!(table.contains("http 503     20"), "{table}");
}

#[tokio::test]
async fn json_logs_carry_the_request_id_echoed_to_the_client() {
    let stack = Stack::start("json-logs");
    let vote = stack.vote(&[("LOG_FORMAT", "json")]).await;
    let res = http_client(false)
        .get(vote.url("/"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me-123");
    let generated = http_client(false)
        .get(vote.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(generated.headers()["x-request-id"].len(), 16);
    // Rejected votes are logged inside the request's span.
    http_client(false)
        .post(vote.url("/"))
        .header("x-request-id", "bad-vote-456")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("vote=z")
        .send()
        .await
        .unwrap();
    let log = eventually(
        Duration::from_secs(5),
        "the rejection in the log",
        || async {
            let log = vote.log_text();
            log.contains("bad-vote-456").then_some(log)
        },
    )
    .await;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
    let rejected = log.lines().find(|l| l.contains("bad-vote-456")).unwrap();
    let entry: serde_json::Value = serde_json::from_str(rejected).unwrap();
    assert_eq!(entry["span"]["request_id"], "bad-vote-456", "{entry}");
    assert_eq!(entry["reason"], "unknown_choice", "{entry}");
}

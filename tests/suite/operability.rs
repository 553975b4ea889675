//! Running the app: the load generator against a live stack, the metrics
//! moving under that load, and structured logs with request ids.

use crate::harness::scripted_server::{self, ScriptedResponse};
use crate::harness::service::Service;
use crate::harness::{eventually, http_client, sample, Stack};
use std::time::Duration;

/// Starts a stack with a vote service and runs seed at it with `args` (after
/// `--url`): the stack (for its Redis), the vote service, seed's summary.
async fn seed_at_vote(
    name: &str,
    args: &[&str],
) -> (Stack, crate::harness::service::Service, serde_json::Value) {
    let stack = Stack::start(name);
    let vote = stack.vote(&[]).await;
    let url = vote.url("/");
    let args: Vec<&str> = ["--url", url.as_str()]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    let (summary, _) = crate::harness::seed::summary(&args, &stack.dir).await;
    (stack, vote, summary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_generator_casts_its_split_and_the_metrics_move_with_it() {
    let stack = Stack::start("seed-and-metrics");
    let vote = stack.vote(&[]).await;
    let worker = stack.worker(&[]).await;
    let result = stack.result(&[]).await.ready().await;
    let before = crate::harness::page_text(&vote.url("/metrics")).await;
    seed_casts_3000_votes_split_2_to_1(&stack, &vote).await;

    // Every vote reaches the results page: 2:1 over 3,000 voters.
    let api = result.url("/api/results");
    crate::harness::tally_until(&api, 2000, 1000, Duration::from_secs(30)).await;

    vote_counted_every_request(&vote, &before).await;
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

/// Twenty connections over three threads (7, 7, 6) share one count of
/// votes: exactly 3,000 sent, the split exact over them.
async fn seed_casts_3000_votes_split_2_to_1(stack: &Stack, vote: &Service) {
    let vote_url = vote.url("/");
    let (summary, table) = crate::harness::seed::summary(
        &[
            "--url",
            &vote_url,
            "--votes",
            "3000",
            "--concurrency",
            "20",
            "--threads",
            "3",
            "--split",
            "2:1",
        ],
        &stack.dir,
    )
    .await;
    assert_eq!(
        (
            summary["ok"].as_u64(),
            summary["ok_a"].as_u64(),
            summary["ok_b"].as_u64(),
            summary["threads"].as_u64()
        ),
        (Some(3000), Some(2000), Some(1000), Some(3))
    );
    assert!(summary["requests_per_s"].as_f64().unwrap() > 0.0);
    assert!(summary["latency_ms"]["p99"].as_f64().unwrap() > 0.0);
    assert!(
        table.contains("requests/s") && table.contains("p99"),
        "{table}"
    );
}

/// vote's metrics since `before`: 3,000 votes accepted, 3,000 POSTs
/// answered 200, and their durations.
async fn vote_counted_every_request(vote: &Service, before: &str) {
    let after = crate::harness::page_text(&vote.url("/metrics")).await;
    let accepted = |m: &str| {
        sample(m, r#"votes_accepted_total{choice="a"}"#)
            + sample(m, r#"votes_accepted_total{choice="b"}"#)
    };
    assert_eq!(accepted(&after) - accepted(before), 3000.0, "{after}");
    assert!(
        after.contains("http_request_duration_seconds_bucket"),
        "{after}"
    );
    let posts = sample(
        &after,
        r#"http_requests_total{route="/",method="POST",status="200"}"#,
    );
    assert_eq!(posts, 3000.0, "{after}");
}

#[tokio::test]
async fn the_load_generator_counts_refused_votes_as_errors() {
    let mut stack = Stack::start("seed-errors");
    let vote = stack.vote(&[]).await;
    stack.redis.stop();
    let out = crate::harness::seed::run(&[
        "--url",
        &vote.url("/"),
        "--votes",
        "20",
        "--concurrency",
        "4",
        "--wait",
        "0s",
    ])
    .await;
    let table = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{table}");
    assert!(table.contains("ok           0"), "{table}");
    assert!(table.contains("http 503     20"), "{table}");
    assert!(
        table.contains(
            "threshold crossed: error rate 1.0000 (20 of 20) is above --max-error-rate 0"
        ),
        "{table}"
    );
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
    // Rejected votes are logged with the request's id.
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
    assert_eq!(entry["request_id"], "bad-vote-456", "{entry}");
    assert_eq!(entry["reason"], "unknown_choice", "{entry}");
}

#[tokio::test]
async fn at_a_fixed_rate_seed_counts_a_stall_against_every_vote_it_delayed() {
    // 200 votes/s on one connection for 3 s; the server stalls 1 s once. Every
    // vote due during the stall waited for it: about a third of the run.
    let addr = scripted_server::start(|n| ScriptedResponse {
        delay: Duration::from_secs(if n == 100 { 1 } else { 0 }),
        status: 200,
    })
    .await;
    let dir = crate::harness::TestDir::new("seed-open-model");
    let url = format!("http://{addr}/");
    let (summary, _) = crate::harness::seed::summary(
        &[
            "--url",
            &url,
            "--votes",
            "600",
            "--rate",
            "200",
            "--concurrency",
            "1",
        ],
        &dir,
    )
    .await;
    let latency = &summary["latency_ms"];
    println!("seed at 200/s through a 1 s stall: {latency}");
    assert_eq!(summary["ok"], 600);
    assert!(
        summary["latency_from"].as_str().unwrap().contains("due"),
        "{summary}"
    );
    // Measured from the send, only one vote would show the stall (p90 ~0).
    assert!(latency["p90"].as_f64().unwrap() >= 250.0, "{summary}");
    assert!(latency["max"].as_f64().unwrap() >= 900.0, "{summary}");
}

#[tokio::test]
async fn as_visitors_seed_loads_the_page_before_each_vote() {
    let (_stack, vote, summary) = seed_at_vote(
        "seed-visit",
        &["--votes", "200", "--concurrency", "4", "--visit"],
    )
    .await;
    assert_eq!(summary["ok"], 200);
    let metrics = crate::harness::page_text(&vote.url("/metrics")).await;
    let count = |method: &str| {
        sample(
            &metrics,
            &format!(r#"http_requests_total{{route="/",method="{method}",status="200"}}"#),
        )
    };
    assert_eq!(count("POST"), 200.0, "{metrics}");
    // One page per visit (seed's wait for vote casts the first vote as a visit).
    assert_eq!(count("GET"), 200.0, "{metrics}");
}

#[tokio::test]
async fn ramp_stages_send_what_their_rates_add_up_to_and_end_with_the_last() {
    // 0 -> 200/s over 1 s (100 votes), then 200/s for 1 s (200 votes).
    let addr = scripted_server::start(|_| ScriptedResponse::OK).await;
    let dir = crate::harness::TestDir::new("seed-stages");
    let url = format!("http://{addr}/");
    let (summary, _) = crate::harness::seed::summary(
        &[
            "--url",
            &url,
            "--stages",
            "1s:200,1s:200",
            "--concurrency",
            "4",
        ],
        &dir,
    )
    .await;
    println!("seed stages 1s:200,1s:200: {summary}");
    assert_eq!(summary["ok"], 300, "{summary}");
    let elapsed = summary["elapsed_s"].as_f64().unwrap();
    assert!((1.7..3.0).contains(&elapsed), "{summary}");
    assert!(
        summary["latency_from"].as_str().unwrap().contains("due"),
        "{summary}"
    );
}

#[tokio::test]
async fn fresh_visitors_each_get_a_voter_id_from_the_service() {
    let (stack, _vote, summary) = seed_at_vote(
        "seed-fresh",
        &["--votes", "100", "--concurrency", "4", "--fresh"],
    )
    .await;
    assert_eq!(summary["ok"], 100, "{summary}");
    let voters: std::collections::BTreeSet<String> = stack
        .list("votes")
        .await
        .iter()
        .map(|m| serde_json::from_str::<serde_json::Value>(m).unwrap()["voter_id"].to_string())
        .collect();
    // Ids the service drew (16 hex digits), one per vote.
    assert_eq!(voters.len(), 100);
    assert!(
        voters.iter().all(|v| v.trim_matches('"').len() == 16),
        "{voters:?}"
    );
}

//! seed as a Kubernetes Job and a CI pipeline run it: a retried run ends at
//! the planned tally, a run started before vote can take votes waits for it,
//! thresholds set the exit code, failures stay out of the success latency,
//! an `https://` target behind TLS, the HTML report of a run, and the check
//! that every acknowledged vote reached the tally.

use crate::harness::scripted_server::{self, ScriptedResponse};
use crate::harness::service::Service;
use crate::harness::tls::Authority;
use crate::harness::tls_proxy::TlsProxy;
use crate::harness::{closed_port, eventually, metric, seed, Stack, TestDir};
use std::time::Duration;

/// Waits until the worker has taken `messages` votes off the queue (the sum
/// of its batch sizes) and the queue is empty; then the `votes` table as
/// voter id → vote.
async fn stored_after(
    stack: &Stack,
    worker: &Service,
    messages: u64,
) -> std::collections::BTreeMap<String, String> {
    eventually(
        Duration::from_secs(30),
        "the worker to store every vote",
        || async {
            let taken = metric(worker, "worker_batch_size_sum").await;
            (taken >= messages as f64 && stack.queued().await == 0).then_some(())
        },
    )
    .await;
    stack.stored_votes().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_retried_with_its_voter_seed_ends_at_exactly_the_planned_tally() {
    let stack = Stack::start("seed-retried");
    let vote = stack.vote(&[]).await;
    let worker = stack.worker(&[]).await;
    let url = vote.url("/");
    let plan = [
        "--url",
        &url,
        "--votes",
        "300",
        "--split",
        "2:1",
        "--concurrency",
        "4",
        "--voter-seed",
        "job-uid-7f3a",
    ];
    // A first attempt cut short (as a Job's pod that died), then two whole ones.
    let cut = with(&plan, &["--duration", "1ms"]);
    let (summary, _) = seed::summary(&cut, &stack.dir).await;
    let mut sent = summary["sent"].as_u64().unwrap();
    assert!(sent < 300, "{summary}");
    for _ in 0..2 {
        let (summary, _) = seed::summary(&plan, &stack.dir).await;
        assert_eq!(summary["ok"], 300, "{summary}");
        sent += 300;
    }
    let votes = stored_after(&stack, &worker, sent).await;
    let a = votes.values().filter(|v| *v == "a").count();
    assert_eq!((votes.len(), a), (300, 200), "{votes:?}");
    assert!(votes.keys().all(|id| id.len() == 16), "{votes:?}");

    // Another seed is another set of voters: the tally grows by the run.
    let other: Vec<&str> = plan
        .iter()
        .map(|arg| {
            if *arg == "job-uid-7f3a" {
                "job-uid-9c01"
            } else {
                arg
            }
        })
        .collect();
    seed::summary(&other, &stack.dir).await;
    assert_eq!(stored_after(&stack, &worker, sent + 300).await.len(), 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_started_before_vote_reaches_redis_waits_and_casts_every_vote() {
    let mut stack = Stack::start("seed-waits");
    stack.redis.stop();
    // vote first, on a port of its own: it serves its page but refuses every
    // vote while Redis is down, which is what a Job meets when it starts
    // beside a vote that has not reached Redis yet.
    let vote = Service::spawn("vote", &stack.dir, &stack.env(&[]))
        .healthy()
        .await;
    let url = vote.url("/");
    let args = ["--url", url.as_str(), "--votes", "50", "--wait", "60s"];
    let seeding = {
        let dir = TestDir::new("seed-waits-summary");
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        tokio::spawn(async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            seed::summary(&args, &dir).await.0
        })
    };
    let refused = r#"http_requests_total{route="/",method="POST",status="503"}"#;
    eventually(Duration::from_secs(20), "seed's vote refused", || async {
        (metric(&vote, refused).await >= 1.0).then_some(())
    })
    .await;
    stack.redis.start_again();
    let summary = seeding.await.unwrap();
    assert_eq!(
        (summary["ok"].as_u64(), summary["sent"].as_u64()),
        (Some(50), Some(50)),
        "{summary}"
    );
    assert_eq!(stack.queued().await, 50);
}

#[tokio::test]
async fn a_threshold_crossed_fails_the_run_and_names_itself() {
    // Every tenth request answers after 50 ms: p99 is at least that.
    let addr = scripted_server::start(|n| ScriptedResponse {
        delay: Duration::from_millis(if n % 10 == 9 { 50 } else { 0 }),
        status: 200,
    })
    .await;
    let url = format!("http://{addr}/");
    let args = [
        "--url",
        url.as_str(),
        "--votes",
        "200",
        "--concurrency",
        "2",
    ];
    let out = seed::run(&with(&args, &["--max-p99-ms", "20"])).await;
    let table = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{table}");
    assert!(
        table.contains("seed: threshold crossed: p99 latency") && table.contains("--max-p99-ms 20"),
        "{table}"
    );
    assert!(seed::run(&with(&args, &["--max-p99-ms", "500"]))
        .await
        .status
        .success());

    // One request in five refused: 20% crosses 10% and not 30%.
    let addr = scripted_server::start(|n| ScriptedResponse {
        delay: Duration::ZERO,
        status: if n % 5 == 4 { 503 } else { 200 },
    })
    .await;
    let url = format!("http://{addr}/");
    let args = [
        "--url",
        url.as_str(),
        "--votes",
        "200",
        "--concurrency",
        "1",
    ];
    let out = seed::run(&with(&args, &["--max-error-rate", "0.1"])).await;
    let table = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{table}");
    assert!(
        table.contains(
            "threshold crossed: error rate 0.2000 (40 of 200) is above --max-error-rate 0.1"
        ),
        "{table}"
    );
    assert!(seed::run(&with(&args, &["--max-error-rate", "0.3"]))
        .await
        .status
        .success());
}

#[tokio::test]
async fn failed_requests_stay_out_of_the_success_latency() {
    // Successes at once; every fourth request a 503 after 100 ms.
    let addr = scripted_server::start(|n| {
        if n % 4 == 3 {
            ScriptedResponse {
                delay: Duration::from_millis(100),
                status: 503,
            }
        } else {
            ScriptedResponse::OK
        }
    })
    .await;
    let url = format!("http://{addr}/");
    let dir = TestDir::new("seed-failed-latency");
    let (summary, table) = seed::summary(
        &[
            "--url",
            &url,
            "--votes",
            "80",
            "--concurrency",
            "1",
            "--max-error-rate",
            "0.5",
        ],
        &dir,
    )
    .await;
    println!("{table}");
    assert_eq!(
        (
            summary["ok"].as_u64(),
            summary["errors"]["http 503"].as_u64()
        ),
        (Some(60), Some(20)),
        "{summary}"
    );
    assert!(
        summary["latency_ms"]["max"].as_f64().unwrap() < 50.0,
        "{summary}"
    );
    assert!(
        summary["failed_latency_ms"]["p50"].as_f64().unwrap() >= 100.0,
        "{summary}"
    );
    assert!(table.contains("failures ms"), "{table}");
}

#[tokio::test]
async fn seed_casts_votes_at_an_https_target_it_trusts_through_its_ca_file() {
    let stack = Stack::start("seed-https");
    let vote = stack.vote(&[]).await;
    let authority = Authority::new(&stack.dir, "ingress");
    let files = authority.server(&stack.dir, "ingress", &["localhost"]);
    let upstream = format!("127.0.0.1:{}", vote.port).parse().unwrap();
    let proxy = TlsProxy::start(&files, upstream).await;
    let url = format!("https://localhost:{}/", proxy.port);
    let ca = files.ca.to_str().unwrap();
    let (summary, _) = seed::summary(
        &[
            "--url",
            &url,
            "--votes",
            "100",
            "--concurrency",
            "4",
            "--ca-file",
            ca,
        ],
        &stack.dir,
    )
    .await;
    assert_eq!(summary["ok"], 100, "{summary}");
    assert_eq!(stack.queued().await, 100);

    // Without the CA the certificate is not trusted: every request fails so.
    let out = seed::run(&["--url", &url, "--votes", "5", "--wait", "0s"]).await;
    let table = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{table}");
    assert!(table.contains("tls          5"), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_shows_the_run_and_every_acknowledged_vote_reaches_the_tally() {
    let stack = Stack::start("seed-report");
    let vote = stack.vote(&[]).await;
    let _worker = stack.worker(&[]).await;
    let result = stack.result(&[]).await.ready().await;
    let report = stack.dir.join("report.html");
    // Fewer voters than votes: returning voters change their vote, and only
    // the last one counts.
    let (summary, table) = seed::summary(
        &[
            "--url",
            &vote.url("/"),
            "--rate",
            "100",
            "--duration",
            "3s",
            "--voters",
            "120",
            "--concurrency",
            "4",
            "--report",
            report.to_str().unwrap(),
            "--check-tally",
            &result.url("/"),
        ],
        &stack.dir,
    )
    .await;
    println!("{table}");
    let check = &summary["tally_check"];
    assert_eq!(check["verdict"], "reached", "{table}");
    assert!(table.contains("tally        every acknowledged vote reached the tally"));
    // What the check read, against the table the worker wrote.
    let stored = stack.stored_votes().await;
    let a = stored.values().filter(|v| *v == "a").count();
    assert_eq!(
        (check["after"]["a"].as_u64(), check["after"]["b"].as_u64()),
        (Some(a as u64), Some((stored.len() - a) as u64)),
        "{check}"
    );
    assert_eq!(stored.len(), 120, "{check}");
    assert!(
        summary["late"].is_u64() && summary["dropped"].is_u64(),
        "{summary}"
    );

    the_report_draws_every_chart_and_loads_nothing(&report);
}

/// The report: every chart with a point a second (the histogram, bars), the
/// verdict shown as passed, and nothing loaded from anywhere.
fn the_report_draws_every_chart_and_loads_nothing(report: &std::path::Path) {
    let html = std::fs::read_to_string(report).unwrap();
    let charts = seed::report_charts(&html);
    let ids: Vec<&str> = charts.iter().map(|(id, ..)| id.as_str()).collect();
    assert_eq!(
        ids,
        ["throughput", "schedule", "latency", "errors", "histogram"],
        "{charts:?}"
    );
    for (id, points, bars) in &charts {
        if id == "histogram" {
            assert!(*bars >= 1, "{charts:?}");
        } else {
            // A point a second of the 3 s run.
            assert!(*points >= 3, "{charts:?}");
        }
    }
    assert!(html.contains("class=\"verdict pass\""));
    for reference in ["src=", "href=", "<script", "<link", "url("] {
        assert!(
            !html.contains(reference),
            "the page loads something: {reference}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tally_check_fails_when_votes_never_reach_the_tally_or_cannot_be_read() {
    // No worker: vote acknowledges every vote and none is ever counted.
    let stack = Stack::start("seed-tally-missing");
    let vote = stack.vote(&[]).await;
    let result = stack.result(&[]).await.ready().await;
    let url = vote.url("/");
    let args = ["--url", url.as_str(), "--votes", "30", "--concurrency", "2"];
    let out = seed::run(&with(
        &args,
        &[
            "--check-tally",
            &result.url("/"),
            "--check-tally-within",
            "2s",
        ],
    ))
    .await;
    let table = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{table}");
    assert!(
        table.contains("seed: tally check failed: acknowledged votes are missing")
            && table.contains("30 voters fewer than acknowledged"),
        "{table}"
    );

    // A result service that is not there (seed waits for it as long as
    // for vote, --wait): no pass, and why.
    let (_held, port) = closed_port();
    let nowhere = format!("http://127.0.0.1:{port}/");
    let out = seed::run(&with(&args, &["--check-tally", &nowhere, "--wait", "1s"])).await;
    let table = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{table}");
    assert!(
        table.contains("tally check failed: could not check: before the run:")
            && table.contains("connect"),
        "{table}"
    );
}

/// `args` followed by `extra`: one seed run's arguments with a flag added.
fn with<'a>(args: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    args.iter().chain(extra).copied().collect()
}

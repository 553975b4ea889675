//! What every binary shares: configuration errors that name the variable,
//! `--help`, health and readiness, and a graceful stop on SIGTERM.

use crate::harness::{binaries, http_client, service::Service, Stack, TestDir};
use std::process::Command;
use std::time::Duration;

const BINARIES: [&str; 3] = ["vote", "result", "worker"];

/// A bad value of each setting, and what the refusal must say.
const BAD_SETTINGS: [(&str, &str, &str); 13] = [
    ("PORT", "eighty", "invalid PORT=eighty"),
    ("PORT", "70000", "invalid PORT=70000"),
    ("REDIS_URL", "http://redis:6379", "invalid REDIS_URL="),
    (
        "DATABASE_URL",
        "postgres://u:hunter2@db:nope/x",
        "invalid DATABASE_URL=",
    ),
    ("OPTION_B", "Cats", "invalid OPTION_B=Cats"),
    (
        "BIND_ADDRESS",
        "everywhere",
        "invalid BIND_ADDRESS=everywhere",
    ),
    ("DRAIN_SECONDS", "-1", "invalid DRAIN_SECONDS=-1"),
    ("DRAIN_SECONDS", "NaN", "invalid DRAIN_SECONDS=NaN"),
    ("DRAIN_SECONDS", "inf", "invalid DRAIN_SECONDS=inf"),
    (
        "TRUSTED_PROXIES",
        "10.0.0.0/33",
        "invalid TRUSTED_PROXIES=10.0.0.0/33",
    ),
    (
        "TRUSTED_PROXIES",
        "proxy.local",
        "invalid TRUSTED_PROXIES=proxy.local",
    ),
    ("METRICS_PORT", "ninety", "invalid METRICS_PORT=ninety"),
    // The default PORT is 80: the same port twice is refused.
    ("METRICS_PORT", "80", "invalid METRICS_PORT=80"),
];

#[test]
fn a_bad_setting_stops_the_binary_with_a_message_naming_the_variable() {
    for binary in BINARIES {
        for (name, value, expected) in BAD_SETTINGS {
            if !binaries::variables(binary).contains_key(name) {
                continue;
            }
            stops_naming_the_variable(binary, name, value, expected);
        }
    }
}

/// `binary` with only `name=value` set exits 2 saying `expected`, and
/// never shows the password in a URL.
fn stops_naming_the_variable(binary: &str, name: &str, value: &str, expected: &str) {
    let out = Command::new(binaries::path(binary))
        .env_clear()
        .env(name, value)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{binary} with {name}={value}: {text}"
    );
    assert!(
        text.contains(expected),
        "{binary} with {name}={value}: {text}"
    );
    assert!(
        !text.contains("hunter2"),
        "{binary} leaked a password: {text}"
    );
}

#[test]
fn help_lists_every_variable_with_its_default() {
    for (binary, expected) in [
        (
            "vote",
            &["REDIS_URL", "OPTION_A", "OPTION_B", "PORT", "LOG_FORMAT"][..],
        ),
        (
            "result",
            &["DATABASE_URL", "OPTION_A", "OPTION_B", "PORT", "LOG_FORMAT"][..],
        ),
        (
            "worker",
            &[
                "REDIS_URL",
                "DATABASE_URL",
                "PORT",
                "WORKER_ID",
                "BATCH_SIZE",
            ][..],
        ),
    ] {
        let variables = binaries::variables(binary);
        let out = Command::new(binaries::path(binary))
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        for var in expected {
            assert!(variables.contains_key(*var), "{binary} does not read {var}");
        }
        for (var, default) in &variables {
            assert!(
                text.contains(&format!("[env: {var}")),
                "{binary} --help lacks {var}: {text}"
            );
            // The database URL's default carries the default password: not shown.
            if let Some(default) = default.as_ref().filter(|_| var != "DATABASE_URL") {
                assert!(
                    text.contains(&format!("[default: {default}]")),
                    "{binary} --help lacks {var}'s default {default}: {text}"
                );
            }
        }
    }
    let worker = binaries::variables("worker");
    assert_eq!(worker["PORT"].as_deref(), Some("8082"));
    assert_eq!(worker["BATCH_SIZE"].as_deref(), Some("1000"));
}

#[tokio::test]
async fn healthcheck_subcommand_reports_whether_the_service_answers() {
    let dir = TestDir::new("healthcheck");
    let vote = Service::spawn(
        "vote",
        &dir,
        &[("REDIS_URL".into(), "redis://127.0.0.1:1/0".into())],
    )
    .healthy()
    .await;
    let ok = Command::new(binaries::path("vote"))
        .arg("healthcheck")
        .env("PORT", vote.port.to_string())
        .status()
        .unwrap();
    assert!(ok.success());
    let (_closed, closed) = crate::harness::closed_port();
    let down = Command::new(binaries::path("vote"))
        .arg("healthcheck")
        .env("PORT", closed.to_string())
        .status()
        .unwrap();
    assert!(!down.success());
}

#[tokio::test]
async fn an_unknown_path_is_404_with_a_body_and_a_wrong_method_is_405_with_allow() {
    let stack = Stack::start("http-errors");
    let client = http_client(false);
    for service in [
        stack.vote(&[]).await,
        stack.result(&[]).await,
        stack.worker(&[]).await,
    ] {
        let missing = client.get(service.url("/nope")).send().await.unwrap();
        assert_eq!(missing.status(), 404, "{}", service.name);
        assert_eq!(missing.text().await.unwrap(), "Not found: /nope\n");
        let put = client.put(service.url("/healthz")).send().await.unwrap();
        assert_eq!(put.status(), 405, "{}", service.name);
        assert_eq!(put.headers()["allow"], "GET, HEAD");
    }
    let vote = stack.vote(&[]).await;
    let put = client.put(vote.url("/")).send().await.unwrap();
    assert_eq!(put.status(), 405);
    assert_eq!(put.headers()["allow"], "GET, HEAD, POST");
}

#[tokio::test]
async fn sigterm_stops_every_service_with_exit_code_0() {
    let stack = Stack::start("sigterm");
    let mut vote = stack.vote(&[]).await.ready().await;
    let mut result = stack.result(&[]).await.ready().await;
    let mut worker = stack.worker(&[]).await.ready().await;
    // An open live-results stream must not hold the stop up.
    let stream = http_client(false)
        .get(result.url("/events"))
        .send()
        .await
        .unwrap();
    for service in [&mut vote, &mut result, &mut worker] {
        service.sigterm();
        let status = service.exit_status(Duration::from_secs(8)).await;
        assert_eq!(
            status.code(),
            Some(0),
            "{}: {}",
            service.name,
            service.log_text()
        );
    }
    drop(stream);
}

#[tokio::test]
async fn after_sigterm_readiness_turns_503_while_the_page_is_still_served_for_the_drain_time() {
    let stack = Stack::start("drain");
    let mut vote = stack.vote(&[("DRAIN_SECONDS", "3")]).await.ready().await;
    vote.sigterm();
    let client = http_client(false);
    crate::harness::eventually(Duration::from_secs(2), "readiness to turn 503", || async {
        let res = client.get(vote.url("/readyz")).send().await.ok()?;
        (res.status() == 503).then_some(())
    })
    .await;
    let body: serde_json::Value = client
        .get(vote.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "draining");
    // Still serving: a load balancer that has not yet noticed loses nothing.
    let page = client.get(vote.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let cast = crate::harness::cast(&client, &vote.url("/"), "a").await;
    assert_eq!(cast.status(), 200);
    let status = vote.exit_status(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{}", vote.log_text());
    assert!(
        vote.log_text().contains("readiness now 503"),
        "{}",
        vote.log_text()
    );
}

/// With `METRICS_PORT`, what tells the state of the service (`/readyz`, its
/// dependencies; `/metrics`) leaves the page port, which the Service for
/// users and the Ingress expose; the drain shows on the metrics port.
#[tokio::test]
async fn metrics_port_takes_readiness_and_metrics_off_the_page_port() {
    let stack = Stack::start("metrics-port");
    let split = [("METRICS_PORT", "0"), ("DRAIN_SECONDS", "3")];
    let vote = stack.vote(&split).await;
    let result = stack.result(&split).await;
    let client = http_client(false);
    let status = |url: String| {
        let client = client.clone();
        async move { client.get(&url).send().await.unwrap().status().as_u16() }
    };
    for service in [&vote, &result] {
        let name = &service.name;
        let metrics_port = service.metrics_port;
        assert!(
            metrics_port.is_some_and(|p| p != service.port),
            "{name} logged no metrics port of its own: {}",
            service.log_text()
        );
        for (path, on_pages, on_operations) in [
            ("/", 200, 404),
            ("/healthz", 200, 200),
            ("/readyz", 404, 200),
            ("/metrics", 404, 200),
        ] {
            assert_eq!(status(service.url(path)).await, on_pages, "{name} {path}");
            let url = service.operations_url(path);
            assert_eq!(
                status(url).await,
                on_operations,
                "{name} {path} on METRICS_PORT"
            );
        }
        let metrics = crate::harness::page_text(&service.operations_url("/metrics")).await;
        assert!(
            metrics.contains("http_requests_total{"),
            "{name}: {metrics}"
        );
    }
    vote.sigterm();
    crate::harness::eventually(
        Duration::from_secs(2),
        "vote's readiness to turn 503",
        || async { (status(vote.operations_url("/readyz")).await == 503).then_some(()) },
    )
    .await;
    assert_eq!(
        status(vote.url("/")).await,
        200,
        "the page is served during the drain"
    );
}

#[test]
fn a_service_whose_output_is_a_closed_pipe_still_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    // As `result 2>&1 | head -1`: one line read, then the pipe closed.
    let mut child = Command::new(binaries::path("result"))
        .env("PORT", "0")
        .env("DATABASE_URL", "postgres://postgres:x@127.0.0.1:1/postgres")
        .env("DRAIN_SECONDS", "0.2")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    drop(child.stderr.take());
    // A fixed wait, as nothing can be seen through the closed pipe: time for
    // it to log into it (it retries Postgres and says so).
    std::thread::sleep(Duration::from_millis(1500));
    crate::harness::signal(child.id(), "TERM");
    let ended =
        crate::harness::within_blocking(Duration::from_secs(10), || child.try_wait().unwrap());
    let Some(status) = ended else {
        let _ = child.kill();
        panic!("result ignored SIGTERM for 10 s with its output a closed pipe");
    };
    assert_eq!(status.code(), Some(0), "first line: {first}");
}

#[tokio::test]
async fn bind_address_limits_where_a_service_listens() {
    let dir = TestDir::new("bind-address");
    let vote = Service::spawn("vote", &dir, &[("BIND_ADDRESS".into(), "127.0.0.2".into())]);
    let on = format!("http://127.0.0.2:{}/healthz", vote.port);
    crate::harness::eventually(Duration::from_secs(20), "vote on 127.0.0.2", || async {
        let res = http_client(false).get(&on).send().await.ok()?;
        (res.status() == 200).then_some(())
    })
    .await;
    let elsewhere = http_client(false).get(vote.url("/healthz")).send().await;
    assert!(
        elsewhere.as_ref().is_err_and(|e| e.is_connect()),
        "127.0.0.1 answered: {elsewhere:?}"
    );
}

//! k8s/app/components/observability against the real thing: a real
//! Prometheus scrapes the three services with the job that the Operator makes
//! of components/pod-monitor (harness/pod_monitor.rs), so each service is a
//! job of its own; every PromQL expression of the Grafana dashboard, with its
//! variables set, returns data while votes flow and none for another
//! namespace; and the alert rules pass `promtool check rules` and the unit
//! tests of tests/fixtures/votingapp-alerts.test.yaml (`promtool test rules`).

use crate::harness::compose::repo_root;
use crate::harness::load::Load;
use crate::harness::pod_monitor::{namespace_of, scrape_config, shipped, PodTarget};
use crate::harness::prometheus::{program, Prometheus};
use crate::harness::service::Service;
use crate::harness::{cast, eventually, http_client, Stack, TestDir};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn component(file: &str) -> PathBuf {
    repo_root()
        .join("k8s/app/components/observability")
        .join(file)
}

fn yaml(path: &PathBuf) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// The dashboard's expression with its variables set (`$job` to all jobs,
/// as the variable's "All").
fn with_variables(expr: &str, namespace: &str) -> String {
    expr.replace("$namespace", namespace)
        .replace("$job", "vote|worker|result")
        .replace("$__rate_interval", "1m")
}

/// Every `expr` of the dashboard's panels, with the panel's title.
fn dashboard_queries() -> Vec<(String, String)> {
    let path = component("votingapp-dashboard.json");
    let text = std::fs::read_to_string(&path).expect("read the dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let queries: Vec<(String, String)> = dashboard["panels"]
        .as_array()
        .expect("the dashboard has panels")
        .iter()
        .flat_map(|panel| {
            let title = panel["title"].as_str().unwrap_or_default().to_owned();
            panel["targets"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |target| {
                    let expr = target["expr"].as_str().expect("a target's expr").to_owned();
                    (title.clone(), expr)
                })
        })
        .collect();
    assert!(queries.len() >= 12, "{queries:?}");
    queries
}

#[tokio::test]
async fn every_dashboard_query_returns_data_from_prometheus_scraping_the_services() {
    let stack = Stack::start("observability");
    let (vote, worker, result, prometheus) = services_scraped_as_k8s_app(&stack).await;
    let namespace = namespace_of("k8s/app/base");
    each_service_is_a_job_of_its_own(&prometheus, &namespace).await;

    // A viewer watching live, a vote refused as a bad request, then votes flowing.
    let viewer = http_client(false)
        .get(result.url("/events"))
        .send()
        .await
        .expect("open /events");
    assert_eq!(viewer.status(), 200);
    let refused = cast(&http_client(true), &vote.url("/"), "z").await;
    assert_eq!(refused.status(), 400);
    let load = Load::start(&vote.url("/"), "observed", 2);
    load.flowing(200, "before querying Prometheus", String::new)
        .await;
    // Readiness probes, as the kubelet's, set dependency_up.
    let (vote, worker, result) = (
        vote.ready().await,
        worker.ready().await,
        result.ready().await,
    );

    every_panel_shows_data_of_its_namespace_only(&prometheus, &namespace).await;
    // What the panels show is what the services count.
    let stored = prometheus.query("sum(votes_stored_total)").await;
    assert!(
        stored[0]["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|n| n >= 1.0),
        "{stored:?}"
    );
    let outcome = load.finish().await;
    assert_eq!(outcome.failed(), 0);
    drop((vote, worker, result, viewer));
}

/// vote, the worker and result as k8s/app runs them (/metrics on a port of
/// its own), and Prometheus scraping them with the pod-monitor's job.
async fn services_scraped_as_k8s_app(stack: &Stack) -> (Service, Service, Service, Prometheus) {
    // As k8s/app runs them: /metrics on a port of its own.
    let split = [("METRICS_PORT", "0")];
    let vote = stack.vote(&split).await;
    // Heartbeats (and so queue samples) every 250 ms.
    let worker = stack.worker(&[("HEARTBEAT_TTL_MS", "1000")]).await;
    let result = stack.result(&split).await;
    let pod = |service: &str, port| {
        let file = format!("k8s/app/base/{service}.yaml");
        PodTarget::of(&file, None, &format!("{service}-0"), "metrics", port)
    };
    let pods = [
        pod("vote", vote.operations_port()),
        pod("worker", worker.operations_port()),
        pod("result", result.operations_port()),
    ];
    let prometheus = Prometheus::start(
        &stack.dir,
        vec![scrape_config(
            &shipped("k8s/app/components/pod-monitor", "pod-monitor.yaml"),
            0,
            &pods,
        )],
        pods.len(),
    )
    .await;
    (vote, worker, result, prometheus)
}

/// Each service is a job of its own, in the app's namespace.
async fn each_service_is_a_job_of_its_own(prometheus: &Prometheus, namespace: &str) {
    let jobs: BTreeSet<String> = prometheus
        .query(&format!("up{{namespace={namespace:?}}}"))
        .await
        .iter()
        .map(|s| s["metric"]["job"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        jobs,
        BTreeSet::from(["vote".into(), "worker".into(), "result".into()]),
        "the jobs the PodMonitor's relabelling gives"
    );
}

/// Every panel's expression, its variables set, returns data; set to another
/// namespace, none.
async fn every_panel_shows_data_of_its_namespace_only(prometheus: &Prometheus, namespace: &str) {
    for (panel, expr) in dashboard_queries() {
        let scoped = with_variables(&expr, namespace);
        let what = format!("data for the panel {panel:?}: {scoped}");
        let series = eventually(Duration::from_secs(30), &what, || async {
            let series = prometheus.query(&scoped).await;
            // A route without requests in the window is NaN (a gap in
            // Grafana); the panel shows data when some series is a number.
            let shown = series.iter().any(|s| {
                s["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok())
                    .is_some_and(f64::is_finite)
            });
            shown.then_some(series)
        })
        .await;
        eprintln!("{panel}: {scoped} -> {} series", series.len());
        // Scoped: another namespace's dashboard shows nothing of this one.
        let elsewhere = with_variables(&expr, "elsewhere");
        let foreign = prometheus.query(&elsewhere).await;
        assert!(
            foreign.is_empty(),
            "the panel {panel:?} shows series of namespace {namespace} when the dashboard is set to another: {elsewhere} -> {foreign:?}"
        );
    }
}

/// The PrometheusRule's `spec` (a plain rule file) written to `dir`, with or
/// without the `description` and `runbook_url` annotations.
fn write_rules(dir: &TestDir, prose: bool) -> PathBuf {
    let mut rule = yaml(&component("prometheus-rule.yaml"));
    assert_eq!(rule["kind"], "PrometheusRule");
    if !prose {
        for group in rule["spec"]["groups"].as_array_mut().expect("groups") {
            for alert in group["rules"].as_array_mut().expect("rules") {
                let annotations = alert["annotations"].as_object_mut().expect("annotations");
                annotations.remove("description");
                annotations.remove("runbook_url");
            }
        }
    }
    let path = dir.join("votingapp-rules.yaml");
    let text = serde_norway::to_string(&rule["spec"]).expect("serialize the rules");
    std::fs::write(&path, text).expect("write the rules");
    path
}

fn promtool(dir: &TestDir, args: &[&str]) -> String {
    let out = Command::new(program("promtool"))
        .args(args)
        .current_dir(&dir.path)
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

/// The anchors of docs/OPERATIONS.md's headings, as a Markdown renderer
/// makes them (lower case, spaces to hyphens, punctuation dropped).
fn operations_anchors() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo_root().join("docs/OPERATIONS.md"))
        .expect("read docs/OPERATIONS.md");
    text.lines()
        .filter_map(|line| line.strip_prefix('#'))
        .map(|heading| {
            heading
                .trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

#[test]
fn the_alert_rules_pass_promtool_check_and_every_alert_has_a_firing_and_a_silent_test() {
    let dir = TestDir::new("alert-rules");
    let rules = write_rules(&dir, true);
    let checked = promtool(&dir, &["check", "rules", &rules.display().to_string()]);
    assert!(checked.contains("SUCCESS"), "{checked}");

    let spec = yaml(&rules);
    let anchors = operations_anchors();
    let alerts: BTreeSet<String> = spec["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .map(|r| {
            let annotations = &r["annotations"];
            let runbook = annotations["runbook_url"].as_str().unwrap_or_default();
            let anchor = runbook
                .strip_prefix("docs/OPERATIONS.md#")
                .unwrap_or_else(|| panic!("a runbook_url into docs/OPERATIONS.md: {r:?}"));
            assert!(
                anchors.contains(anchor),
                "{runbook}: no such section in docs/OPERATIONS.md"
            );
            assert!(
                annotations["description"]
                    .as_str()
                    .is_some_and(|d| d.len() > 100)
                    && annotations["summary"].is_string(),
                "each alert says what is wrong and what to do: {r:?}"
            );
            r["alert"].as_str().expect("an alert's name").to_owned()
        })
        .collect();
    assert!(alerts.len() >= 9, "{alerts:?}");

    let fixture = repo_root().join("tests/fixtures/votingapp-alerts.test.yaml");
    let tests = yaml(&fixture);
    let cases: Vec<Value> = tests["tests"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["alert_rule_test"].as_array().cloned().unwrap_or_default())
        .collect();
    for alert in &alerts {
        let of_alert = cases.iter().filter(|c| c["alertname"] == alert.as_str());
        let (firing, silent): (Vec<&Value>, Vec<&Value>) =
            of_alert.partition(|c| c["exp_alerts"].as_array().is_some_and(|a| !a.is_empty()));
        assert!(
            !firing.is_empty() && !silent.is_empty(),
            "{alert} needs a case where it fires and one where it stays silent in {}",
            fixture.display()
        );
    }

    write_rules(&dir, false);
    std::fs::copy(&fixture, dir.join("votingapp-alerts.test.yaml")).expect("copy the tests");
    let tested = promtool(&dir, &["test", "rules", "votingapp-alerts.test.yaml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

//! The Redis and Postgres alerts of k8s/app/components/observability against
//! the real thing: Debian's exporters (the versions of the sidecars' images)
//! watch a Redis master with a replica and a Postgres primary with a
//! streaming standby; a real Prometheus scrapes them with the job the
//! Operator makes of the shipped `votingapp-data` PodMonitor. Every metric the
//! alerts of the group `votingapp-data` read is there with the labels they
//! match on, no alert's expression holds while all is well, and each holds
//! once its fault is made: Redis near its maxmemory, a replica cut from its
//! master, a primary asking for a synchronous standby it does not have.
//! (Their timing, `for:`, is promtool's part: observability.rs.)

use crate::harness::compose::repo_root;
use crate::harness::exporter::Exporter;
use crate::harness::pod_monitor::{scrape_config, shipped, PodTarget};
use crate::harness::postgres::Postgres;
use crate::harness::prometheus::Prometheus;
use crate::harness::redis_server::RedisServer;
use crate::harness::{eventually, TestDir};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

const COMPONENT: &str = "k8s/app/components/observability";

/// The `expr` of each alert of the group `votingapp-data`, by alert name.
fn data_alerts() -> BTreeMap<String, String> {
    let path = repo_root().join(COMPONENT).join("prometheus-rule.yaml");
    let text = std::fs::read_to_string(&path).expect("read the PrometheusRule");
    let rule: Value = serde_norway::from_str(&text).expect("parse the PrometheusRule");
    rule["spec"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|g| g["name"] == "votingapp-data")
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .map(|r| {
            (
                r["alert"].as_str().expect("an alert").to_owned(),
                r["expr"].as_str().expect("an expr").to_owned(),
            )
        })
        .collect()
}

/// The pods an alert's expression names, once it holds.
async fn holds_for(prometheus: &Prometheus, alert: &str, expr: &str) -> Vec<String> {
    let what = format!("{alert} to hold: {expr}");
    eventually(Duration::from_secs(30), &what, || async {
        let series = prometheus.query(expr).await;
        let pods: Vec<String> = series
            .iter()
            .map(|s| s["metric"]["pod"].as_str().unwrap_or_default().to_owned())
            .collect();
        (!pods.is_empty()).then_some(pods)
    })
    .await
}

/// Sets the primary's `synchronous_standby_names` and reloads its
/// configuration, as an operator would.
async fn synchronous_standby_names(client: &tokio_postgres::Client, value: &str) {
    // ALTER SYSTEM cannot run in the transaction a batch of two would be.
    client
        .batch_execute(&format!(
            "ALTER SYSTEM SET synchronous_standby_names = {value}"
        ))
        .await
        .expect("set synchronous_standby_names");
    client
        .batch_execute("SELECT pg_reload_conf()")
        .await
        .expect("reload the configuration");
}

#[tokio::test]
async fn the_data_alerts_read_what_the_exporters_report_and_hold_on_each_fault() {
    let mut tier = WatchedDataTier::start().await;
    let prometheus = &tier.prometheus;
    every_metric_the_alerts_read_is_scraped(prometheus).await;
    let alerts = data_alerts();
    assert_eq!(alerts.len(), 4, "{alerts:?}");
    no_alert_holds_while_all_is_well(prometheus, &alerts).await;
    redis_near_its_maxmemory_raises_its_alert(&tier.master, prometheus, &alerts).await;
    a_missing_synchronous_standby_raises_its_alert(&tier.primary, prometheus, &alerts).await;
    // The replica cut from its master.
    tier.master.stop();
    let broken = holds_for(
        &tier.prometheus,
        "RedisReplicationBroken",
        &alerts["RedisReplicationBroken"],
    )
    .await;
    assert_eq!(broken, ["redis-1"]);
}

/// A Redis master with a replica, a Postgres primary with a standby, an
/// exporter for redis-0, redis-1 and db-0, and Prometheus scraping them with
/// the shipped PodMonitor's job. Fields drop in order: Prometheus first,
/// the directory last.
struct WatchedDataTier {
    prometheus: Prometheus,
    _exporters: [Exporter; 3],
    _standby: Postgres,
    primary: Postgres,
    _replica: RedisServer,
    master: RedisServer,
    _dir: TestDir,
}

impl WatchedDataTier {
    async fn start() -> Self {
        let dir = TestDir::new("data-alerts");
        let master = RedisServer::start(&dir, false);
        let replica = RedisServer::replica_of(&master, &dir, 1);
        let primary = Postgres::start(&dir);
        let standby = Postgres::standby_of(&primary, &dir);

        let redis_master = Exporter::redis(&dir, "redis-exporter-0", master.port).await;
        let redis_replica = Exporter::redis(&dir, "redis-exporter-1", replica.port).await;
        let postgres = Exporter::postgres(&dir, "postgres-exporter-0", &primary.url()).await;
        let redis_patch = format!("{COMPONENT}/redis-exporter.yaml");
        let db_patch = format!("{COMPONENT}/postgres-exporter.yaml");
        let pods = [
            PodTarget::of(
                "k8s/app/base/redis.yaml",
                Some(&redis_patch),
                "redis-0",
                "metrics",
                redis_master.port,
            ),
            PodTarget::of(
                "k8s/app/base/redis.yaml",
                Some(&redis_patch),
                "redis-1",
                "metrics",
                redis_replica.port,
            ),
            PodTarget::of(
                "k8s/app/base/db.yaml",
                Some(&db_patch),
                "db-0",
                "metrics",
                postgres.port,
            ),
        ];
        let monitor = shipped(COMPONENT, "data-pod-monitor.yaml");
        let prometheus =
            Prometheus::start(&dir, vec![scrape_config(&monitor, 0, &pods)], pods.len()).await;
        Self {
            prometheus,
            _exporters: [redis_master, redis_replica, postgres],
            _standby: standby,
            primary,
            _replica: replica,
            master,
            _dir: dir,
        }
    }
}

/// Every metric the alerts read, with the labels they match on.
async fn every_metric_the_alerts_read_is_scraped(prometheus: &Prometheus) {
    let scoped = r#"app_kubernetes_io_part_of="votingapp", namespace="votingapp""#;
    for (metric, job, pod) in [
        ("redis_memory_used_bytes", "redis", "redis-0"),
        ("redis_memory_max_bytes", "redis", "redis-0"),
        ("redis_master_link_up", "redis", "redis-1"),
        ("pg_standby_replay_lag_seconds", "db", "db-0"),
        ("pg_synchronous_standbys_required", "db", "db-0"),
        ("pg_synchronous_standbys_connected", "db", "db-0"),
    ] {
        let query = format!(r#"{metric}{{{scoped}, job="{job}", pod="{pod}"}}"#);
        let what = format!("a series {query}");
        let series = eventually(Duration::from_secs(30), &what, || async {
            let series = prometheus.query(&query).await;
            (!series.is_empty()).then_some(series)
        })
        .await;
        eprintln!("{query} -> {}", series[0]["value"][1]);
    }
}

/// All well: no alert's expression holds.
async fn no_alert_holds_while_all_is_well(
    prometheus: &Prometheus,
    alerts: &BTreeMap<String, String>,
) {
    for (alert, expr) in alerts {
        let series = prometheus.query(expr).await;
        assert!(
            series.is_empty(),
            "{alert} holds while all is well: {series:?}"
        );
    }
}

/// Redis near its maxmemory: its used memory is 90% of a new limit.
async fn redis_near_its_maxmemory_raises_its_alert(
    master: &RedisServer,
    prometheus: &Prometheus,
    alerts: &BTreeMap<String, String>,
) {
    let mut redis = master.connection().await;
    let used: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut redis)
        .await
        .unwrap();
    let used: u64 = used
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory in INFO memory");
    let limit = used * 10 / 9;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(limit)
        .query_async(&mut redis)
        .await
        .unwrap();
    let near = holds_for(
        prometheus,
        "RedisMemoryNearLimit",
        &alerts["RedisMemoryNearLimit"],
    )
    .await;
    assert_eq!(near, ["redis-0"]);
}

/// A primary that asks for a synchronous standby its standby is not; put
/// back once the alert holds.
async fn a_missing_synchronous_standby_raises_its_alert(
    primary: &Postgres,
    prometheus: &Prometheus,
    alerts: &BTreeMap<String, String>,
) {
    let client = primary.client().await;
    synchronous_standby_names(&client, "'nobody'").await;
    let missing = holds_for(
        prometheus,
        "PostgresSynchronousStandbyMissing",
        &alerts["PostgresSynchronousStandbyMissing"],
    )
    .await;
    assert_eq!(missing, ["db-0"]);
    synchronous_standby_names(&client, "DEFAULT").await;
}

//! A real Prometheus (Debian's `prometheus` package) scraping our services on
//! loopback every second (with the scrape configs a test gives, e.g. the
//! PodMonitor's from pod_monitor.rs), queried through its HTTP API; and `promtool`.
//!
//! The server listens on a free loopback port chosen here; since another
//! process could take that port first, the server is only trusted once its
//! own `/api/v1/status/flags` report the storage directory this test gave it,
//! and it is started again on another port if it exits (a failed bind).

use super::{http_client, port_to_try, stop_child, which, TestDir};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[derive(Debug)]
pub struct Prometheus {
    pub port: u16,
    child: Option<Child>,
    log: PathBuf,
}

/// The Prometheus binary, or a panic saying how to get it.
pub fn program(name: &str) -> PathBuf {
    which(name).unwrap_or_else(|| {
        panic!(
            "{name} is not installed: install Debian's prometheus package (scripts/test.sh does)"
        )
    })
}

impl Prometheus {
    /// Starts Prometheus with these `scrape_configs` entries, scraping every
    /// second; returns once `targets` targets are all up.
    pub async fn start(dir: &TestDir, scrape_configs: Vec<Value>, targets: usize) -> Self {
        let config = dir.join("prometheus.yml");
        let whole = serde_json::json!({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": scrape_configs,
        });
        std::fs::write(
            &config,
            serde_norway::to_string(&whole).expect("serialize prometheus.yml"),
        )
        .expect("write prometheus.yml");
        for attempt in 0..5 {
            let storage = dir.join(&format!("prometheus-data-{attempt}"));
            let log = dir.join(&format!("prometheus-{attempt}.log"));
            let port = port_to_try();
            let out = std::fs::File::create(&log).expect("create the Prometheus log");
            let child = Command::new(program("prometheus"))
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", storage.display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("clone the log handle"))
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| panic!("start prometheus: {e}"));
            let mut server = Self {
                port,
                child: Some(child),
                log,
            };
            if server.is_ours(&storage.display().to_string()).await {
                server.scraping(targets).await;
                return server;
            }
            eprintln!(
                "prometheus on port {port} did not come up as ours; its log:\n{}",
                server.log_text()
            );
            stop_child(&mut server.child, "TERM");
        }
        panic!("prometheus did not start on any of 5 free ports");
    }

    /// True once the server on our port reports our storage directory;
    /// false if our child exits first, or another process answers there.
    async fn is_ours(&mut self, storage: &str) -> bool {
        let url = self.url("/api/v1/status/flags");
        super::child_answers(&mut self.child, Duration::from_secs(30), || async {
            let body = super::get_json(&url).await?;
            Some(body["data"]["storage.tsdb.path"] == storage)
        })
        .await
    }

    /// Waits until every one of `targets` scrape targets is up.
    async fn scraping(&self, targets: usize) {
        let url = self.url("/api/v1/targets");
        let what = format!("prometheus to scrape all {targets} targets");
        super::eventually(Duration::from_secs(30), &what, || async {
            let body = super::get_json(&url).await?;
            let active = body["data"]["activeTargets"].as_array()?;
            (active.len() == targets && active.iter().all(|t| t["health"] == "up")).then_some(())
        })
        .await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The result of an instant query: one entry per series (`metric`, `value`).
    pub async fn query(&self, expr: &str) -> Vec<Value> {
        let url = reqwest::Url::parse_with_params(&self.url("/api/v1/query"), &[("query", expr)])
            .expect("a query URL");
        let body: Value = http_client(false)
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("query {expr}: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("query {expr}: {e}"));
        assert_eq!(body["status"], "success", "query {expr}: {body}");
        body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        stop_child(&mut self.child, "TERM");
    }
}

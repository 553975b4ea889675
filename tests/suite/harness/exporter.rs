//! Debian's Redis and Postgres exporters (`prometheus-redis-exporter`,
//! `prometheus-postgres-exporter`, the versions the manifests' images carry)
//! on a free loopback port, watching a test's own server.
//!
//! An exporter takes a listen address and cannot report a port it chose, so a
//! port is tried: the exporter is trusted once its `/metrics` reports the
//! server it was given as up (`redis_up 1`, `pg_up 1`), and started again on
//! another port if it exits first (a failed bind).

use super::compose::repo_root;
use super::{port_to_try, stop_child, which, TestDir};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Exporter {
    pub port: u16,
    child: Option<Child>,
}

fn program(name: &str) -> std::path::PathBuf {
    which(name).unwrap_or_else(|| {
        panic!("{name} is not installed: install Debian's {name} package (scripts/test.sh does)")
    })
}

impl Exporter {
    /// redis_exporter watching the Redis server on `redis_port`.
    pub async fn redis(dir: &TestDir, name: &str, redis_port: u16) -> Self {
        Self::start(dir, name, "redis_up 1", |port| {
            let mut command = Command::new(program("prometheus-redis-exporter"));
            command.args([
                format!("-redis.addr=redis://127.0.0.1:{redis_port}"),
                format!("-web.listen-address=127.0.0.1:{port}"),
            ]);
            command
        })
        .await
    }

    /// postgres_exporter with the shipped extra queries
    /// (k8s/app/components/observability/postgres-queries.yaml), watching
    /// the server at `url`.
    pub async fn postgres(dir: &TestDir, name: &str, url: &str) -> Self {
        let queries = repo_root().join("k8s/app/components/observability/postgres-queries.yaml");
        let source = format!("{url}?sslmode=disable");
        Self::start(dir, name, "pg_up 1", |port| {
            let mut command = Command::new(program("prometheus-postgres-exporter"));
            command
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg(format!("--extend.query-path={}", queries.display()))
                .env("DATA_SOURCE_NAME", &source);
            command
        })
        .await
    }

    async fn start(dir: &TestDir, name: &str, up: &str, command: impl Fn(u16) -> Command) -> Self {
        for attempt in 0..5 {
            let port = port_to_try();
            let log = dir.join(&format!("{name}-{attempt}.log"));
            let out = std::fs::File::create(&log).expect("create the exporter's log");
            let child = command(port)
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("clone the log handle"))
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| panic!("start {name}: {e}"));
            let mut exporter = Self {
                port,
                child: Some(child),
            };
            if exporter.reports(up).await {
                return exporter;
            }
            eprintln!(
                "{name} on port {port} did not report `{up}`; its log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            stop_child(&mut exporter.child, "TERM");
        }
        panic!("{name} did not start on any of 5 free ports");
    }

    /// True once `/metrics` on our port holds the line `up`; false if our
    /// child exits first or it never does.
    async fn reports(&mut self, up: &str) -> bool {
        let url = format!("http://127.0.0.1:{}/metrics", self.port);
        super::child_answers(&mut self.child, Duration::from_secs(20), || async {
            let body = super::get_text(&url).await?;
            body.lines().any(|l| l == up).then_some(true)
        })
        .await
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        stop_child(&mut self.child, "TERM");
    }
}

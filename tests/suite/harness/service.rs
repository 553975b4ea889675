//! One of our binaries running as a child process, as it runs in a container:
//! configured by environment variables, stopped by signals.

use super::{binaries, free_port, http_client, signal, TestDir};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Service {
    pub name: String,
    pub port: u16,
    child: Option<Child>,
    pub log: PathBuf,
}

impl Service {
    /// Starts `binary` with `env` (plus `PORT`); does not wait for it.
    pub fn spawn(binary: &str, dir: &TestDir, env: &[(String, String)]) -> Self {
        Self::spawn_on(binary, dir, env, free_port())
    }

    pub fn spawn_on(binary: &str, dir: &TestDir, env: &[(String, String)], port: u16) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let log = dir.join(&format!("{binary}-{n}.log"));
        let out = std::fs::File::create(&log).expect("create the service log");
        let child = Command::new(binaries::path(binary))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORT", port.to_string())
            .env("RUST_LOG", "info")
            // Tests stop services often; the drain has a test of its own.
            .env("DRAIN_SECONDS", "0.3")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("clone the log handle"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("start {binary}: {e}"));
        Self {
            name: binary.to_owned(),
            port,
            child: Some(child),
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .map(Child::id)
            .expect("the service is running")
    }

    /// Waits until `/healthz` answers 200.
    pub async fn healthy(self) -> Self {
        let client = http_client(false);
        let started = Instant::now();
        loop {
            if let Ok(res) = client.get(self.url("/healthz")).send().await {
                if res.status() == 200 {
                    return self;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{} did not become healthy; its log:\n{}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until `/readyz` answers 200 and reports every dependency "ok".
    pub async fn ready(self) -> Self {
        let url = self.url("/readyz");
        super::eventually(
            Duration::from_secs(20),
            &format!("{} to be ready with its dependencies up", self.name),
            || async {
                let body = super::get_json(&url).await?;
                let all_up = body["dependencies"]
                    .as_object()?
                    .values()
                    .all(|state| state == "ok");
                all_up.then_some(())
            },
        )
        .await;
        self
    }

    /// The status `GET path` answers with.
    pub async fn status(&self, path: &str) -> u16 {
        http_client(false)
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path} on {}: {e}", self.name))
            .status()
            .as_u16()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn sigterm(&self) {
        signal(self.pid(), "TERM");
    }

    /// `kill -9`: no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits for the process to end by itself.
    pub async fn exit_status(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        let child = self.child.as_mut().expect("the service is running");
        loop {
            if let Some(status) = child.try_wait().expect("poll the child") {
                self.child = None;
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "{} did not exit within {limit:?}; its log:\n{}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill9();
    }
}

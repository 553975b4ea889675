//! One of our binaries running as a child process, as it runs in a container:
//! configured by environment variables, stopped by signals.
//!
//! A service binds port 0 and its start-up log line names the port it got
//! (`port=…`), so no port is handed over between tests running in parallel.

use super::{binaries, eventually_blocking, http_client, signal, within, TestDir};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Debug)]
pub struct Service {
    pub name: String,
    /// The port it listens on, from its own log; 0 when it exited first.
    pub port: u16,
    /// Its `METRICS_PORT` as bound, when it has one (`/readyz`, `/metrics`).
    pub metrics_port: Option<u16>,
    child: Option<Child>,
    pub log: PathBuf,
}

impl Service {
    /// Starts `binary` with `env` (plus `PORT=0`) and waits until it logs
    /// the port it bound, or exits (its exit status and log say why).
    pub fn spawn(binary: &str, dir: &TestDir, env: &[(String, String)]) -> Self {
        Self::spawn_on(binary, dir, env, 0)
    }

    /// As `spawn`, on a given port: for a service started again where its
    /// clients already point (the port was its own a moment ago).
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
        let mut service = Self {
            name: binary.to_owned(),
            port,
            metrics_port: None,
            child: Some(child),
            log,
        };
        service.port = service.bound_port();
        service.metrics_port = logged(&service.log_text(), "metrics_port");
        service
    }

    /// The port the child's start-up line reports, or 0 if it exited first.
    fn bound_port(&mut self) -> u16 {
        let what = format!("{} to log its port (see {})", self.name, self.log.display());
        eventually_blocking(Duration::from_secs(20), &what, || {
            if let Some(port) = logged(&self.log_text(), "port") {
                return Some(port);
            }
            let child = self.child.as_mut()?;
            let exited = child.try_wait().ok()?.is_some();
            exited.then_some(0)
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The port of `/readyz` and `/metrics`: `METRICS_PORT` when set, else
    /// the page port.
    pub fn operations_port(&self) -> u16 {
        self.metrics_port.unwrap_or(self.port)
    }

    pub fn operations_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.operations_port())
    }

    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .map(Child::id)
            .expect("the service is running")
    }

    /// Waits until `/healthz` answers 200.
    pub async fn healthy(self) -> Self {
        assert!(
            self.port != 0,
            "{} exited before it listened; its log:\n{}",
            self.name,
            self.log_text()
        );
        let client = http_client(false);
        let healthy = within(Duration::from_secs(20), || async {
            let res = client.get(self.url("/healthz")).send().await.ok()?;
            (res.status() == 200).then_some(())
        })
        .await;
        assert!(
            healthy.is_some(),
            "{} did not become healthy; its log:\n{}",
            self.name,
            self.log_text()
        );
        self
    }

    /// Waits until `/readyz` answers 200 and reports every dependency "ok".
    pub async fn ready(self) -> Self {
        let url = self.operations_url("/readyz");
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
        let child = self.child.as_mut().expect("the service is running");
        let status = within(limit, || {
            let status = child.try_wait().expect("poll the child");
            async move { status }
        })
        .await;
        let status = status.unwrap_or_else(|| {
            panic!(
                "{} did not exit within {limit:?}; its log:\n{}",
                self.name,
                self.log_text()
            )
        });
        self.child = None;
        status
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The number `key` has in a service's start-up line (`port=8080` in text
/// logs, `"port":8080` in JSON ones), from complete lines only.
fn logged(log: &str, key: &str) -> Option<u16> {
    let (text, json) = (format!(" {key}="), format!("\"{key}\":"));
    log.split_inclusive('\n')
        .filter(|line| line.ends_with('\n'))
        .find_map(|line| {
            let (_, rest) = line.split_once(&text).or_else(|| line.split_once(&json))?;
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
}

#[cfg(test)]
mod tests {
    use super::logged;

    #[test]
    fn the_port_is_read_from_a_text_or_json_start_up_line() {
        let text = "2026-11-30T02:00:00Z  INFO vote::startup: vote listening port=40123 redis=redis://127.0.0.1:6379/0\n";
        assert_eq!(logged(text, "port"), Some(40123));
        let json = "{\"timestamp\":\"x\",\"level\":\"INFO\",\"port\":40124,\"message\":\"result listening\"}\n";
        assert_eq!(logged(json, "port"), Some(40124));
        let both = "INFO vote listening port=40125 metrics_port=40126 redis=x\n";
        assert_eq!(logged(both, "port"), Some(40125));
        assert_eq!(logged(both, "metrics_port"), Some(40126));
        assert_eq!(logged(text, "metrics_port"), None);
    }

    #[test]
    fn a_line_still_being_written_or_without_a_port_is_not_read() {
        assert_eq!(logged("INFO vote listening port=401", "port"), None);
        assert_eq!(
            logged("ERROR binding 127.0.0.1 port 80 failed\n", "port"),
            None
        );
    }
}

//! Real headless Chromium, driven through chromedriver (Debian's `chromium`
//! and `chromium-driver` packages). Each session is a separate browser with its
//! own profile, so two sessions are two visitors with their own cookies.

use super::{free_port, TestDir};
use fantoccini::{Client, ClientBuilder};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Browser {
    driver: Child,
    port: u16,
    dir: PathBuf,
}

impl Browser {
    pub async fn start(dir: &TestDir) -> Self {
        let port = free_port();
        let driver = Command::new(super::which("chromedriver").expect(
            "chromedriver is not installed; install chromium-driver (scripts/test.sh does)",
        ))
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            driver,
            port,
            dir: dir.join("browser"),
        }
    }

    /// A new browser window of its own (own profile, own cookies).
    pub async fn session(&self, name: &str) -> Client {
        let profile = self.dir.join(name);
        std::fs::create_dir_all(&profile).expect("create the browser profile");
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--window-size=1000,800".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut caps = serde_json::Map::new();
        let binary = super::which("chromium")
            .expect("chromium is not installed (scripts/test.sh installs it)");
        caps.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({ "binary": binary, "args": args }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("open a Chromium session")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // Browsers of sessions a failed test did not close.
        let _ = Command::new("pkill")
            .arg("-f")
            .arg(format!("user-data-dir={}", self.dir.display()))
            .status();
    }
}

/// Evaluates a JavaScript expression in the page.
pub async fn eval(client: &Client, expression: &str) -> serde_json::Value {
    client
        .execute(&format!("return ({expression});"), vec![])
        .await
        .unwrap_or_else(|e| panic!("evaluating {expression}: {e}"))
}

/// Waits until a JavaScript expression is true in the page.
pub async fn until(client: &Client, expression: &str) {
    let started = Instant::now();
    loop {
        if eval(client, expression).await == serde_json::Value::Bool(true) {
            return;
        }
        if started.elapsed() > Duration::from_secs(15) {
            let body = eval(client, "document.body.innerText").await;
            panic!("timed out waiting for `{expression}`; the page shows: {body}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Where screenshots go: `target/browser-artifacts/`.
pub fn artifacts() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("target/<profile>/deps/<binary>");
    let dir = target.join("browser-artifacts");
    std::fs::create_dir_all(&dir).expect("create the artifacts folder");
    dir
}

pub async fn screenshot(client: &Client, name: &str) -> PathBuf {
    // Let the bars' transitions finish.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let png = client.screenshot().await.expect("take a screenshot");
    let path = artifacts().join(name);
    std::fs::write(&path, png).expect("save the screenshot");
    path
}

//! Real headless Chromium, driven through chromedriver (Debian's `chromium`
//! and `chromium-driver` packages). Each session is a separate browser with its
//! own profile, so two sessions are two visitors with their own cookies.

use super::{eventually, within, TestDir};
use fantoccini::{Client, ClientBuilder};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[derive(Debug)]
pub struct Browser {
    driver: Child,
    port: u16,
    dir: PathBuf,
}

impl Browser {
    /// Starts chromedriver on port 0 and waits for the line where it names
    /// the port it got.
    pub async fn start(dir: &TestDir) -> Self {
        let log = dir.join("chromedriver.log");
        let out = std::fs::File::create(&log).expect("create the chromedriver log");
        let mut driver = Command::new(super::which("chromedriver").expect(
            "chromedriver is not installed; install chromium-driver (scripts/test.sh does)",
        ))
        .arg("--port=0")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
        let what = format!("chromedriver to name its port (see {})", log.display());
        let port = eventually(Duration::from_secs(20), &what, || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let exited = driver.try_wait().ok().flatten();
            assert!(
                exited.is_none(),
                "chromedriver exited ({exited:?}):\n{text}"
            );
            async move { started_on(&text) }
        })
        .await;
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
    let seen = within(Duration::from_secs(15), || async {
        (eval(client, expression).await == serde_json::Value::Bool(true)).then_some(())
    })
    .await;
    if seen.is_none() {
        let body = eval(client, "document.body.innerText").await;
        panic!("timed out waiting for `{expression}`; the page shows: {body}");
    }
}

/// The port in chromedriver's "was started successfully on port N." line.
fn started_on(log: &str) -> Option<u16> {
    let (_, rest) = log.split_once("started successfully on port ")?;
    rest.split('.').next()?.trim().parse().ok()
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
    // The bars' transitions finished (CSS transitions are animations).
    until(client, "document.getAnimations().length === 0").await;
    let png = client.screenshot().await.expect("take a screenshot");
    let path = artifacts().join(name);
    std::fs::write(&path, png).expect("save the screenshot");
    path
}

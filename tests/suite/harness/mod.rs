//! The test harness: real Redis and Postgres servers on free loopback ports,
//! the real service binaries, and helpers to wait for what they do.
//!
//! Every test gets its own directory, its own `redis-server` and its own
//! Postgres (a copy of one cluster initialised once per machine), so tests run in
//! parallel and may stop, restart or kill any of them. Everything a test starts
//! is killed when the test's values are dropped.

pub mod binaries;
pub mod browser;
pub mod cluster;
pub mod compose;
pub mod exporter;
pub mod load;
pub mod pod_monitor;
pub mod postgres;
pub mod prometheus;
pub mod raw_http;
pub mod redis_server;
pub mod scripted_server;
pub mod seed;
pub mod service;
pub mod skip;
pub mod stack;
pub mod stalling_proxy;
pub mod steps;
pub mod tls;
pub mod tls_proxy;
pub mod voters;
pub mod worker;

pub use stack::Stack;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Root of this run's test directories.
pub fn run_root() -> &'static Path {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let base = std::env::temp_dir().join("votingapp-tests");
        std::fs::create_dir_all(&base).expect("create the test root");
        remove_stale_runs(&base);
        let root = base.join(format!("run-{}", std::process::id()));
        std::fs::create_dir_all(&root).expect("create this run's directory");
        root
    })
}

/// Deletes what earlier runs left behind (their process is gone).
fn remove_stale_runs(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("run-") {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// A directory for one test, removed when dropped (kept if the test panics).
#[derive(Debug)]
pub struct TestDir {
    pub path: PathBuf,
}

impl TestDir {
    pub fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = run_root().join(format!("{n:03}-{name}"));
        std::fs::create_dir_all(&path).expect("create the test directory");
        Self { path }
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.path);
        } else {
            eprintln!("test files kept in {}", self.path.display());
        }
    }
}

/// A port to try for a server that cannot bind port 0 and report it (Redis,
/// Postgres, scripts/run.sh): free a moment ago, so another test may take it
/// first. Callers never trust it: they wait for their own child to say it
/// listens there (and try another port when it could not bind).
pub fn port_to_try() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free loopback port")
}

/// Starts a server that must be given its port (Redis, Postgres): `start`
/// tries one and says whether the server listens there; another is tried
/// when it could not bind (another test took it first). The port it got.
pub fn on_a_port_of_its_own(server: &str, mut start: impl FnMut(u16) -> bool) -> u16 {
    const ATTEMPTS: usize = 5;
    (0..ATTEMPTS)
        .map(|_| port_to_try())
        .find(|&port| start(port))
        .unwrap_or_else(|| panic!("{server} could not bind any of {ATTEMPTS} ports"))
}

/// Waits until `ready` (something only this child can say: its own log line
/// or pid file), or until the child exits: true when ready; false, and the
/// child gone, when it exited first.
pub fn ready_or_exited(
    child: &mut Option<std::process::Child>,
    limit: Duration,
    what: &str,
    mut ready: impl FnMut() -> bool,
) -> bool {
    let ready = eventually_blocking(limit, what, || {
        if ready() {
            return Some(true);
        }
        let exited = child.as_mut()?.try_wait().ok()?.is_some();
        exited.then_some(false)
    });
    if !ready {
        *child = None;
    }
    ready
}

/// A loopback port nothing answers on for as long as the socket is kept:
/// bound but not listening, so a connection is refused and no other
/// process can listen there meanwhile.
pub fn closed_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().expect("create a socket");
    socket
        .bind(([127, 0, 0, 1], 0).into())
        .expect("bind a loopback port");
    let port = socket.local_addr().expect("the bound port").port();
    (socket, port)
}

/// Polls `probe` until it returns `Some`, or panics naming `what` after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    within(limit, probe)
        .await
        .unwrap_or_else(|| panic!("timed out after {limit:?} waiting for {what}"))
}

/// Polls `probe` until it returns `Some`; `None` after `limit`, for a caller
/// whose failure message shows what it saw instead.
pub async fn within<T, F, Fut>(limit: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        let asked = Instant::now();
        if let Some(value) = probe().await {
            return Some(value);
        }
        if started.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(pause(asked.elapsed())).await;
    }
}

/// [`eventually`] for code outside the async runtime (starting a child
/// process): blocks the thread between polls.
pub fn eventually_blocking<T>(limit: Duration, what: &str, probe: impl FnMut() -> Option<T>) -> T {
    within_blocking(limit, probe)
        .unwrap_or_else(|| panic!("timed out after {limit:?} waiting for {what}"))
}

/// [`within`] for code outside the async runtime.
pub fn within_blocking<T>(limit: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let started = Instant::now();
    loop {
        let asked = Instant::now();
        if let Some(value) = probe() {
            return Some(value);
        }
        if started.elapsed() > limit {
            return None;
        }
        std::thread::sleep(pause(asked.elapsed()));
    }
}

/// The pause before looking again: 50 ms, or as long as the last look took
/// (a `docker` or `kubectl` run), so looking takes at most half the machine's
/// time while others share it.
fn pause(last_look: Duration) -> Duration {
    last_look.max(Duration::from_millis(50))
}

/// Sends a signal to a process by pid (with the `kill` command: no unsafe code).
pub fn signal(pid: u32, name: &str) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status();
}

/// Signals a child process (if it is still ours) and waits for it to end.
pub fn stop_child(child: &mut Option<std::process::Child>, name: &str) {
    if let Some(mut child) = child.take() {
        signal(child.id(), name);
        let _ = child.wait();
    }
}

/// Finds a program on `PATH` (or in /usr/bin, /usr/sbin).
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_string_lossy()
        .split(':')
        .map(|dir| PathBuf::from(dir).join(name))
        .chain([
            PathBuf::from("/usr/bin").join(name),
            PathBuf::from("/usr/sbin").join(name),
        ])
        .find(|p| p.exists())
}

/// An HTTP client for tests; `cookies` keeps a cookie jar like a browser.
pub fn http_client(cookies: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .cookie_store(cookies)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("build an HTTP client")
}

/// The body of `GET url` as text (the request must succeed at the HTTP level).
pub async fn page_text(url: &str) -> String {
    http_client(false)
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("reading {url}: {e}"))
}

/// The body of `GET url`, if it answers 200.
pub async fn get_text(url: &str) -> Option<String> {
    let res = http_client(false).get(url).send().await.ok()?;
    if res.status() != 200 {
        return None;
    }
    res.text().await.ok()
}

/// For a server started on a port that was only tried: true once `check`
/// finds our `child` answering there, false when `check` finds another
/// process there, when the child exits first (a failed bind), or after
/// `limit`.
pub async fn child_answers<F, Fut>(
    child: &mut Option<std::process::Child>,
    limit: Duration,
    mut check: F,
) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<bool>>,
{
    within(limit, || {
        let exited = child
            .as_mut()
            .is_some_and(|c| !matches!(c.try_wait(), Ok(None)));
        let checked = check();
        async move {
            if exited {
                return Some(false);
            }
            checked.await
        }
    })
    .await
    .unwrap_or(false)
}

/// The JSON body of `GET url`, if it answers 200.
pub async fn get_json(url: &str) -> Option<serde_json::Value> {
    let res = http_client(false).get(url).send().await.ok()?;
    if res.status() != 200 {
        return None;
    }
    res.json().await.ok()
}

/// Waits until `/api/results` at `url` reports `a` and `b` votes.
pub async fn tally_until(url: &str, a: i64, b: i64, limit: Duration) -> serde_json::Value {
    eventually(limit, &format!("a tally of {a}:{b}"), || async {
        get_json(url)
            .await
            .filter(|body| body["a"] == a && body["b"] == b)
    })
    .await
}

/// POSTs `vote=<choice>` as the vote form does.
pub async fn cast(client: &reqwest::Client, url: &str, choice: &str) -> reqwest::Response {
    client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("vote={choice}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
}

/// The value of one sample line of a Prometheus text page (0 when absent).
pub fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// One series of a running service's `/metrics` (0 when absent).
pub async fn metric(service: &service::Service, series: &str) -> f64 {
    sample(
        &page_text(&service.operations_url("/metrics")).await,
        series,
    )
}

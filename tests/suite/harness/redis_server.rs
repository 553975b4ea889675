//! A real `redis-server` per test on a free loopback port.

use super::tls::ServerFiles;
use super::{free_port, stop_child, TestDir};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
    appendonly: bool,
    /// When set, the server speaks TLS only (no plain port).
    tls: Option<ServerFiles>,
}

impl RedisServer {
    /// Starts a server; with `appendonly`, every write is in the AOF, so a
    /// restart keeps the queue.
    pub fn start(dir: &TestDir, appendonly: bool) -> Self {
        Self::start_with(dir, appendonly, None)
    }

    /// A server that accepts TLS connections only, with `files`' certificate.
    pub fn start_tls(dir: &TestDir, files: &ServerFiles) -> Self {
        Self::start_with(dir, false, Some(files.clone()))
    }

    fn start_with(dir: &TestDir, appendonly: bool, tls: Option<ServerFiles>) -> Self {
        let dir = dir.join("redis");
        std::fs::create_dir_all(&dir).expect("create the Redis directory");
        let mut redis = Self {
            port: free_port(),
            dir,
            child: None,
            appendonly,
            tls,
        };
        redis.spawn();
        redis
    }

    fn spawn(&mut self) {
        let binary = super::which("redis-server")
            .expect("redis-server is not installed; install redis-server (scripts/test.sh does)");
        let mut command = Command::new(binary);
        match &self.tls {
            None => command.args(["--port", &self.port.to_string()]),
            Some(files) => command
                .args(["--port", "0", "--tls-port", &self.port.to_string()])
                .arg("--tls-cert-file")
                .arg(&files.cert)
                .arg("--tls-key-file")
                .arg(&files.key)
                .arg("--tls-ca-cert-file")
                .arg(&files.ca)
                .args(["--tls-auth-clients", "no"]),
        };
        let child = command
            .args(["--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--save", ""])
            .args(["--appendonly", if self.appendonly { "yes" } else { "no" }])
            .args(["--appendfsync", "always"])
            .args(["--logfile", "redis.log"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start; see {}/redis.log",
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("a valid Redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("connect to the test Redis")
    }

    /// A clean shutdown (SIGTERM): the AOF is flushed.
    pub fn stop(&mut self) {
        stop_child(&mut self.child, "TERM");
    }

    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "Redis is still running");
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        stop_child(&mut self.child, "KILL");
    }
}

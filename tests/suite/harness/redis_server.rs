//! A real `redis-server` per test on a free loopback port.
//!
//! Redis cannot bind port 0 and report it, so a port is tried and the server
//! counts as up only when its own log (in this test's directory) says it
//! accepts connections, under its own pid; a server that could not bind
//! exits, and another port is tried.

use super::tls::ServerFiles;
use super::{on_a_port_of_its_own, ready_or_exited, stop_child, TestDir};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[derive(Debug)]
pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
    appendonly: bool,
    /// When set, the server speaks TLS only (no plain port).
    tls: Option<ServerFiles>,
    role: Role,
}

/// What a `redis-server` process is.
#[derive(Debug, Clone, Copy)]
enum Role {
    /// A server on its own (or a master).
    Server,
    /// A replica of the server on this port.
    ReplicaOf(u16),
    /// A Sentinel watching the master on this port, as `mymaster`, with a
    /// quorum of one: it fails over after the master is silent for 1 s.
    Sentinel { master: u16 },
}

/// The name the test Sentinels know the master by.
pub const MASTER_NAME: &str = "mymaster";

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

    /// A replica of `master` (`replicaof`), the `n`-th in `dir`.
    pub fn replica_of(master: &RedisServer, dir: &TestDir, n: usize) -> Self {
        Self::start_as(
            dir,
            &format!("redis-replica-{n}"),
            false,
            None,
            Role::ReplicaOf(master.port),
        )
    }

    /// A replica of `master` that writes each change to its append-only file
    /// before it acknowledges it (Redis writes the file before it answers,
    /// the master's `REPLCONF GETACK` included): after a `kill -9`,
    /// [`Self::start_again_alone`] serves every write it confirmed.
    pub fn persistent_replica_of(master: &RedisServer, dir: &TestDir, n: usize) -> Self {
        Self::start_as(
            dir,
            &format!("redis-replica-{n}"),
            true,
            None,
            Role::ReplicaOf(master.port),
        )
    }

    /// A Sentinel watching `master` as [`MASTER_NAME`] (over TLS, with the
    /// master's certificate files, when the master speaks TLS; the
    /// Sentinel's own port stays plain).
    pub fn sentinel_of(master: &RedisServer, dir: &TestDir) -> Self {
        Self::start_as(
            dir,
            "redis-sentinel",
            false,
            master.tls.clone(),
            Role::Sentinel {
                master: master.port,
            },
        )
    }

    fn start_with(dir: &TestDir, appendonly: bool, tls: Option<ServerFiles>) -> Self {
        Self::start_as(dir, "redis", appendonly, tls, Role::Server)
    }

    fn start_as(
        dir: &TestDir,
        name: &str,
        appendonly: bool,
        tls: Option<ServerFiles>,
        role: Role,
    ) -> Self {
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).expect("create the Redis directory");
        let mut redis = Self {
            port: 0,
            dir,
            child: None,
            appendonly,
            tls,
            role,
        };
        let log = redis.dir.join("redis.log");
        redis.port =
            on_a_port_of_its_own(&format!("redis-server (see {})", log.display()), |port| {
                redis.port = port;
                redis.spawn()
            });
        redis
    }

    /// Starts the server on `self.port`: true once it accepts connections,
    /// false if it exited (the port was taken).
    fn spawn(&mut self) -> bool {
        let binary = super::which("redis-server")
            .expect("redis-server is not installed; install redis-server (scripts/test.sh does)");
        let mut command = Command::new(binary);
        if let Role::Sentinel { master } = self.role {
            return self.spawn_sentinel(command, master);
        }
        if let Role::ReplicaOf(master) = self.role {
            command.args(["--replicaof", "127.0.0.1", &master.to_string()]);
        }
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
        let pid = child.id();
        let log = self.dir.join("redis.log");
        let what = format!("redis-server to start; see {}", log.display());
        self.child = Some(child);
        ready_or_exited(&mut self.child, Duration::from_secs(10), &what, || {
            accepts_connections(&std::fs::read_to_string(&log).unwrap_or_default(), pid)
        })
    }

    /// A Sentinel (`redis-server <config> --sentinel`): it rewrites its
    /// config file, so each start writes a new one; up once it logs that it
    /// monitors the master.
    fn spawn_sentinel(&mut self, mut command: Command, master: u16) -> bool {
        let config = self.dir.join("sentinel.conf");
        let tls = match &self.tls {
            None => String::new(),
            Some(files) => format!(
                "tls-replication yes\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\n",
                files.cert.display(),
                files.key.display(),
                files.ca.display()
            ),
        };
        std::fs::write(
            &config,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {dir}\nlogfile redis.log\n{tls}\
                 sentinel monitor {MASTER_NAME} 127.0.0.1 {master} 1\n\
                 sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                 sentinel failover-timeout {MASTER_NAME} 5000\n",
                port = self.port,
                dir = self.dir.display(),
            ),
        )
        .expect("write the Sentinel's config");
        let child = command
            .arg(&config)
            .arg("--sentinel")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server --sentinel");
        let pid = child.id();
        let log = self.dir.join("redis.log");
        let what = format!("the Sentinel to start; see {}", log.display());
        self.child = Some(child);
        ready_or_exited(&mut self.child, Duration::from_secs(10), &what, || {
            let own = format!("{pid}:");
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .any(|line| line.starts_with(&own) && line.contains("+monitor master"))
        })
    }

    /// What `REDIS_SENTINELS` is for this Sentinel.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `kill -9`, as when the machine under it is lost.
    pub fn crash(&mut self) {
        stop_child(&mut self.child, "KILL");
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

    /// Starts it again on the same port (its clients point there).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "Redis is still running");
        assert!(
            self.spawn(),
            "redis-server could not start again on port {}; see {}/redis.log",
            self.port,
            self.dir.display()
        );
    }

    /// Starts a stopped replica again from its own files, as a server on its
    /// own (no `replicaof`): what it holds is what a failover to it keeps.
    pub fn start_again_alone(&mut self) {
        self.role = Role::Server;
        self.start_again();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        stop_child(&mut self.child, "KILL");
    }
}

/// Whether the server of pid `pid` logged that it accepts connections (its
/// log lines begin `<pid>:M`; the log keeps earlier runs' lines too).
fn accepts_connections(log: &str, pid: u32) -> bool {
    let own = format!("{pid}:");
    log.lines()
        .any(|line| line.starts_with(&own) && line.contains("Ready to accept connections"))
}

#[cfg(test)]
mod tests {
    use super::accepts_connections;

    #[test]
    fn only_this_pids_ready_line_counts() {
        let log = "100:M 30 Nov 2026 02:00:00.000 * Ready to accept connections tcp\n\
                   200:M 30 Nov 2026 02:00:01.000 # Could not create server TCP listening socket\n";
        assert!(accepts_connections(log, 100));
        assert!(!accepts_connections(log, 200));
        assert!(!accepts_connections(log, 10));
    }
}

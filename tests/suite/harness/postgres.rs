//! A real Postgres server per test, started from the Debian server binaries
//! (`/usr/lib/postgresql/<version>/bin`, or `PG_BIN`) as the `postgres` user when
//! the suite runs as root. The cluster is initialised once per machine and
//! Postgres version and copied for each test, which takes a fraction of a
//! second.
//!
//! Postgres cannot bind port 0 and report it, so a port is tried and the
//! server counts as up only when the `postmaster.pid` in its own data
//! directory names its pid and says "ready" (it listens by then); a server
//! that could not bind exits, and another port is tried.

use super::tls::ServerFiles;
use super::{on_a_port_of_its_own, ready_or_exited, run_root, signal, stop_child, TestDir};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

fn bin(name: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return Path::new(&dir).join(name);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| entries.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    let dir = versions
        .pop()
        .expect("no Postgres server binaries in /usr/lib/postgresql; install postgresql (scripts/test.sh does)");
    dir.join(name)
}

/// The uid and gid of the `postgres` user when we are root (Postgres refuses
/// root); looked up once per run.
fn postgres_user() -> Option<(u32, u32)> {
    static USER: OnceLock<Option<(u32, u32)>> = OnceLock::new();
    *USER.get_or_init(|| {
        let uid = Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return None;
        }
        let id = |flag: &str| -> Option<u32> {
            let out = Command::new("id").args([flag, "postgres"]).output().ok()?;
            String::from_utf8_lossy(&out.stdout).trim().parse().ok()
        };
        Some((id("-u")?, id("-g")?))
    })
}

fn as_postgres(command: &mut Command) -> &mut Command {
    if let Some((uid, gid)) = postgres_user() {
        command.uid(uid).gid(gid);
    }
    command
}

fn give_to_postgres(path: &Path) {
    if postgres_user().is_some() {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .status()
            .expect("run chown");
        assert!(status.success(), "chown {} failed", path.display());
    }
}

/// The initialised cluster each test copies. It is made once per machine and
/// Postgres version (beside the runs' directories, never changed once made):
/// each nextest process would otherwise spend a second or more of CPU on its
/// own `initdb`. A process builds it in its own run directory and renames it
/// into place; when two race, the loser uses the winner's.
fn template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let initdb = bin("initdb");
        let version = initdb
            .parent()
            .and_then(|bin| bin.parent())
            .and_then(|v| v.file_name())
            .map(|v| v.to_string_lossy().into_owned())
            .unwrap_or_default();
        let shared = run_root()
            .parent()
            .expect("the run directory has a parent")
            .join(format!("pg-template-{version}-{:x}", path_hash(&initdb)));
        if shared.join("PG_VERSION").exists() {
            return shared;
        }
        let dir = run_root().join("pg-template");
        initdb_into(&initdb, &dir);
        if std::fs::rename(&dir, &shared).is_err() {
            assert!(
                shared.join("PG_VERSION").exists(),
                "could not move the template cluster to {}",
                shared.display()
            );
        }
        shared
    })
}

fn path_hash(path: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut hasher);
    hasher.finish()
}

fn initdb_into(initdb: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).expect("create the template directory");
    give_to_postgres(dir);
    let output = as_postgres(
        Command::new(initdb)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ])
            .arg("-D")
            .arg(dir),
    )
    .output()
    .expect("run initdb");
    assert!(
        output.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[derive(Debug)]
pub struct Postgres {
    data: PathBuf,
    pub port: u16,
    child: Option<Child>,
    log: PathBuf,
    /// When set, the server offers TLS with this certificate (`ssl=on`).
    ssl: Option<ServerFiles>,
    /// Stopped by [`Postgres::freeze`] and not yet thawed.
    frozen: bool,
}

impl Postgres {
    /// A fresh cluster of its own in `dir`, started and accepting connections.
    pub fn start(dir: &TestDir) -> Self {
        Self::start_with(dir, None)
    }

    /// A server that also offers TLS, with `files`' certificate.
    pub fn start_tls(dir: &TestDir, files: &ServerFiles) -> Self {
        give_to_postgres(&files.cert);
        give_to_postgres(&files.key);
        Self::start_with(dir, Some(files.clone()))
    }

    fn start_with(dir: &TestDir, ssl: Option<ServerFiles>) -> Self {
        let data = dir.join("pgdata");
        let status = Command::new("cp")
            .arg("-a")
            .arg(template())
            .arg(&data)
            .status()
            .expect("copy the template cluster");
        assert!(status.success(), "copying the template cluster failed");
        give_to_postgres(&data);
        let mut pg = Self {
            data,
            port: 0,
            child: None,
            log: dir.join("postgres.log"),
            ssl,
            frozen: false,
        };
        let what = format!("Postgres (see {})", pg.log.display());
        pg.port = on_a_port_of_its_own(&what, |port| {
            pg.port = port;
            pg.spawn()
        });
        pg
    }

    /// Starts the server on `self.port`: true once it is ready, false if it
    /// exited (the port was taken).
    fn spawn(&mut self) -> bool {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the Postgres log");
        let mut command = Command::new(bin("postgres"));
        if let Some(files) = &self.ssl {
            command
                .args(["-c", "ssl=on"])
                .arg("-c")
                .arg(format!("ssl_cert_file={}", files.cert.display()))
                .arg("-c")
                .arg(format!("ssl_key_file={}", files.key.display()));
        }
        let child = as_postgres(
            command
                .arg("-D")
                .arg(&self.data)
                .args(["-p", &self.port.to_string()])
                .arg("-k")
                .arg(&self.data)
                .args(["-c", "listen_addresses=127.0.0.1"])
                .args(["-c", "fsync=off"])
                .args(["-c", "full_page_writes=off"])
                .args(["-c", "max_connections=200"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone the log handle"))
                .stderr(log),
        )
        .spawn()
        .expect("start postgres");
        let pid = child.id();
        let pid_file = self.data.join("postmaster.pid");
        let what = format!("Postgres to start; see {}", self.log.display());
        self.child = Some(child);
        ready_or_exited(&mut self.child, Duration::from_secs(30), &what, || {
            ready(&std::fs::read_to_string(&pid_file).unwrap_or_default(), pid)
        })
    }

    /// A streaming standby of `primary` (`pg_basebackup -R`: a copy that
    /// follows the primary's WAL), started on a port of its own in `dir`.
    pub fn standby_of(primary: &Postgres, dir: &TestDir) -> Self {
        let data = dir.join("pgdata-standby");
        std::fs::create_dir_all(&data).expect("create the standby's directory");
        std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .expect("make the standby's directory private");
        give_to_postgres(&data);
        let output = as_postgres(
            Command::new(bin("pg_basebackup"))
                .args(["-h", "127.0.0.1", "-p", &primary.port.to_string()])
                .args(["-U", "postgres", "-R", "-X", "stream", "--no-sync"])
                .args(["--checkpoint=fast", "-D"])
                .arg(&data),
        )
        .output()
        .expect("run pg_basebackup");
        assert!(
            output.status.success(),
            "pg_basebackup failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut pg = Self {
            data,
            port: 0,
            child: None,
            log: dir.join("postgres-standby.log"),
            ssl: None,
            frozen: false,
        };
        let what = format!("the Postgres standby (see {})", pg.log.display());
        pg.port = on_a_port_of_its_own(&what, |port| {
            pg.port = port;
            pg.spawn()
        });
        pg
    }

    /// Promotes a standby to primary (`pg_ctl promote`, what a failover
    /// manager does) and waits until it takes writes.
    pub fn promote(&self) {
        let output = as_postgres(
            Command::new(bin("pg_ctl"))
                .args(["promote", "-w", "-t", "30", "-D"])
                .arg(&self.data),
        )
        .output()
        .expect("run pg_ctl promote");
        assert!(
            output.status.success(),
            "pg_ctl promote failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The URL the services are given (trust auth: the password is not checked).
    pub fn url(&self) -> String {
        format!(
            "postgres://postgres:postgres@127.0.0.1:{}/postgres",
            self.port
        )
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url(), tokio_postgres::NoTls)
            .await
            .expect("connect to the test Postgres");
        tokio::spawn(connection);
        client
    }

    /// A fast shutdown (what a restart or `docker stop` does).
    pub fn stop(&mut self) {
        stop_child(&mut self.child, "INT");
    }

    /// An immediate shutdown (SIGQUIT): no checkpoint, recovery from the WAL
    /// on the next start, as after a crash.
    pub fn crash(&mut self) {
        stop_child(&mut self.child, "QUIT");
    }

    /// Stops every process of the server (SIGSTOP), the postmaster first so
    /// that it starts no new one: a server that stops answering without
    /// closing anything, as a frozen or cut-off host does. The kernel still
    /// accepts connections and acknowledges what is sent.
    pub fn freeze(&mut self) {
        let postmaster = self.child.as_ref().expect("Postgres is running").id();
        signal(postmaster, "STOP");
        for pid in children_of(postmaster) {
            signal(pid, "STOP");
        }
        self.frozen = true;
    }

    /// Lets a frozen server go on (SIGCONT).
    pub fn thaw(&mut self) {
        let postmaster = self.child.as_ref().expect("Postgres is running").id();
        for pid in children_of(postmaster) {
            signal(pid, "CONT");
        }
        signal(postmaster, "CONT");
        self.frozen = false;
    }

    /// Starts it again after `stop` or `crash`, on the same port and data.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "Postgres is still running");
        assert!(
            self.spawn(),
            "Postgres could not start again on port {}; see {}",
            self.port,
            self.log.display()
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.frozen {
            self.thaw();
        }
        self.crash();
    }
}

/// The processes whose parent is `parent`, from `/proc/<pid>/stat`.
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // pid (comm) state ppid ...: the command may hold spaces, not ')'.
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                == Some(parent)
        })
        .collect()
}

/// Whether a `postmaster.pid` is that of the server `pid` and says it is
/// ready: its first line is the pid, its eighth the status.
fn ready(pid_file: &str, pid: u32) -> bool {
    let lines: Vec<&str> = pid_file.lines().collect();
    lines.first().is_some_and(|l| l.trim() == pid.to_string())
        && lines
            .get(7)
            .is_some_and(|l| matches!(l.trim(), "ready" | "standby"))
}

#[cfg(test)]
mod tests {
    use super::ready;

    #[test]
    fn only_this_pids_ready_postmaster_counts() {
        let file = |pid: u32, status: &str| {
            format!("{pid}\n/data\n1700000000\n5432\n/data\n127.0.0.1\n  1234  5678\n{status}\n")
        };
        assert!(ready(&file(42, "ready   "), 42));
        assert!(!ready(&file(42, "starting"), 42));
        assert!(!ready(&file(43, "ready   "), 42));
        assert!(!ready("", 42));
    }
}

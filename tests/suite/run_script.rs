//! `scripts/run.sh`, the README's first command, on its failure paths: a port
//! that is taken, and a second run beside a running one. Each must exit 1
//! saying why, and must not touch the stack that is already running. Then the
//! normal way out: Ctrl-C in its terminal, which signals the script and the
//! services it started alike, exits 0 saying it stopped on request.

use crate::harness::{binaries, cast, eventually, http_client, port_to_try, TestDir};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The ports and folders one run of the script uses.
struct Run {
    env: Vec<(String, String)>,
    vote_port: u16,
    redis_port: u16,
}

impl Run {
    fn new(run_dir: &Path) -> Self {
        let bin_dir = binaries::path("vote")
            .parent()
            .expect("the binaries' folder")
            .to_path_buf();
        // run.sh takes fixed ports, as a user gives them, and prints them, so
        // free ones are handed to it: if another test takes one meanwhile,
        // run.sh says "port … is already taken" and this test fails saying so.
        let vote_port = port_to_try();
        let redis_port = port_to_try();
        let mut env = vec![
            ("RUN_DIR".to_owned(), run_dir.display().to_string()),
            ("BIN_DIR".to_owned(), bin_dir.display().to_string()),
            ("VOTE_PORT".to_owned(), vote_port.to_string()),
            ("REDIS_PORT".to_owned(), redis_port.to_string()),
        ];
        for name in [
            "RESULT_PORT",
            "WORKER_PORT",
            "VOTE_METRICS_PORT",
            "RESULT_METRICS_PORT",
            "PG_PORT",
        ] {
            env.push((name.to_owned(), port_to_try().to_string()));
        }
        Self {
            env,
            vote_port,
            redis_port,
        }
    }

    fn command(&self) -> tokio::process::Command {
        let repo: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        // With SIGINT's default action: a process started in the background
        // by a non-interactive shell (as CI may start the tests) inherits
        // SIGINT ignored, and bash cannot trap a signal ignored on entry, so
        // run.sh would never see the test's Ctrl-C.
        let mut command = tokio::process::Command::new("env");
        command
            .args(["--default-signal=INT", "bash", "scripts/run.sh"])
            .current_dir(repo)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            // A group of its own, as a shell gives a foreground job, so that
            // Ctrl-C can be sent to the whole group as a terminal does.
            .process_group(0)
            .kill_on_drop(true);
        command
    }

    /// Runs the script to its end (it must end by itself): exit code, stderr.
    async fn to_the_end(&self) -> (Option<i32>, String) {
        let out = tokio::time::timeout(Duration::from_secs(120), self.command().output())
            .await
            .expect("run.sh to end by itself")
            .expect("run bash");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn vote_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.vote_port)
    }
}

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[tokio::test]
async fn run_sh_refuses_a_taken_port_and_a_second_run_and_leaves_the_first_alone() {
    let dir = TestDir::new("run-sh");
    let run_dir = dir.join("run");
    a_taken_port_stops_the_run_before_anything_starts(&run_dir).await;
    let (first, running, voter) = the_first_run_takes_votes(&run_dir).await;
    a_second_run_refuses_and_the_first_keeps_working(&run_dir, &first, &voter).await;
    ctrl_c_stops_the_run_and_everything_it_started(&first, running).await;
}

/// A taken port: exit 1 naming the port and its variable; nothing started.
async fn a_taken_port_stops_the_run_before_anything_starts(run_dir: &Path) {
    let mut taken = Run::new(run_dir);
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let squatted = squatter.local_addr().unwrap().port();
    taken.env.retain(|(k, _)| k != "VOTE_PORT");
    taken.env.push(("VOTE_PORT".into(), squatted.to_string()));
    let (code, stderr) = taken.to_the_end().await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("port {squatted} is already taken"))
            && stderr.contains("VOTE_PORT="),
        "{stderr}"
    );
    assert!(!listening(taken.redis_port), "Redis was started anyway");
    drop(squatter);
}

/// The first run comes up and takes votes: the run, its process, and a
/// voter that keeps its cookie.
async fn the_first_run_takes_votes(
    run_dir: &Path,
) -> (Run, tokio::process::Child, reqwest::Client) {
    let first = Run::new(run_dir);
    let running = first
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let voter = http_client(true);
    eventually(
        Duration::from_secs(90),
        "run.sh's stack to serve",
        || async {
            let res = voter
                .post(first.vote_url())
                .header("content-type", "application/x-www-form-urlencoded")
                .body("vote=a")
                .send()
                .await
                .ok()?;
            (res.status() == 200).then_some(())
        },
    )
    .await;
    (first, running, voter)
}

/// A second run on the same folder refuses, and the first keeps working.
async fn a_second_run_refuses_and_the_first_keeps_working(
    run_dir: &Path,
    first: &Run,
    voter: &reqwest::Client,
) {
    let second = Run::new(run_dir);
    let (code, stderr) = second.to_the_end().await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("another ./scripts/run.sh is running"),
        "{stderr}"
    );
    assert_eq!(cast(voter, &first.vote_url(), "b").await.status(), 200);
    let logs = run_dir.join("logs");
    for log in ["vote", "worker", "result", "redis", "postgres"] {
        assert!(
            logs.join(format!("{log}.log")).exists(),
            "no {log}.log in {}",
            logs.display()
        );
    }
}

/// Ctrl-C as a terminal sends it: to the script and to every service it
/// started (one process group). Exit 0 saying so, and nothing of it left
/// listening (about 6 s: the services' 5 s drain, then Postgres's shutdown).
async fn ctrl_c_stops_the_run_and_everything_it_started(
    first: &Run,
    running: tokio::process::Child,
) {
    let group = running.id().expect("run.sh's pid");
    let _ = std::process::Command::new("kill")
        .args(["-INT", "--", &format!("-{group}")])
        .status();
    let out = tokio::time::timeout(Duration::from_secs(30), running.wait_with_output())
        .await
        .expect("run.sh to stop on Ctrl-C")
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("stopping on request (Ctrl-C)") && !stderr.contains("by itself"),
        "{stdout}{stderr}"
    );
    assert!(!listening(first.vote_port) && !listening(first.redis_port));
}

//! Containers for the container tests: the real Dockerfile and
//! docker-compose.yml plus compose.offline.yaml (the local images made by
//! scripts/offline-images.sh, since no registry can be reached here), run by
//! the real Docker engine under a compose project name of the test's own.
//! A stack is torn down, volumes included, when its value is dropped.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Every image of ours, with the names the compose file, the bake file and the
/// manifests use.
pub const APP_IMAGES: [&str; 6] = [
    "localhost/votingapp/vote:before",
    "localhost/votingapp/vote:after",
    "localhost/votingapp/result:before",
    "localhost/votingapp/result:after",
    "localhost/votingapp/worker:latest",
    "localhost/votingapp/seed:latest",
];

/// The local images of scripts/offline-images.sh (bases and stand-ins).
pub fn offline_images() -> Vec<String> {
    let mut list = Command::new(repo_root().join("scripts/offline-images.sh"));
    run_ok(list.arg("--list"))
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The repository's root (the compose file, the Dockerfile, the scripts).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the repository")
        .to_path_buf()
}

/// Why containers cannot run here, or `None` when a Docker engine answers.
pub fn docker_unavailable() -> Option<String> {
    match Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
    {
        Err(e) => Some(format!("the docker command cannot run ({e})")),
        Ok(out) if !out.status.success() => Some(format!(
            "no Docker engine answers (docker info: {})",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(_) => None,
    }
}

/// Runs a command to its end; panics with what it printed if it fails.
pub fn run_ok(command: &mut Command) -> String {
    let out = output(command);
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn output(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("{command:?} cannot start: {e}"))
}

/// `docker ARGS...`, to its end, its standard output on success.
pub fn docker(args: &[&str]) -> String {
    run_ok(Command::new("docker").args(args))
}

/// `docker ARGS...`, to its end, whatever it returns: for a caller that
/// judges the status itself or may ignore a failure.
pub fn docker_output(args: &[&str]) -> Output {
    output(Command::new("docker").args(args))
}

/// One compose project: the stack as a user runs it, offline.
pub struct ComposeStack {
    pub project: String,
    /// The compose files, in order: docker-compose.yml, overlays, the
    /// offline stand-ins.
    files: Vec<&'static str>,
}

impl ComposeStack {
    pub fn new(project: &str) -> Self {
        Self::with_files(project, &["docker-compose.yml", "compose.offline.yaml"])
    }

    /// A stack of these compose files, in this order.
    pub fn with_files(project: &str, files: &[&'static str]) -> Self {
        let stack = Self {
            project: project.to_owned(),
            files: files.to_vec(),
        };
        // What a crashed earlier run may have left under the same name.
        let _ = output(&mut stack.command(&["down", "-v", "--remove-orphans", "-t", "1"]));
        stack
    }

    /// `docker compose -p <project> -f docker-compose.yml -f ... ARGS...`
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("docker");
        command
            .current_dir(repo_root())
            .args(["compose", "-p", &self.project]);
        for file in &self.files {
            command.args(["-f", file]);
        }
        command.args(args);
        command
    }

    pub fn run(&self, args: &[&str]) -> String {
        run_ok(&mut self.command(args))
    }

    /// Every service's last 25 log lines, for failure messages.
    pub fn recent_logs(&self) -> String {
        let out = output(&mut self.command(&["logs", "--no-color", "--tail", "25"]));
        format!(
            "the services' last lines:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// Runs a program inside a running service's container.
    pub fn exec(&self, service: &str, args: &[&str]) -> String {
        let mut all = vec!["exec", "-T", service];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// One SQL statement through psql in the `db` container, rows as `a|b` lines.
    pub fn sql(&self, statement: &str) -> String {
        self.exec("db", &["psql", "-U", "postgres", "-Atqc", statement])
    }

    pub fn redis_cli(&self, args: &[&str]) -> String {
        self.redis_cli_in("redis", args)
    }

    /// `redis-cli ARGS...` in another Redis service's container (a replica).
    pub fn redis_cli_in(&self, service: &str, args: &[&str]) -> String {
        let mut all = vec!["redis-cli"];
        all.extend_from_slice(args);
        self.exec(service, &all).trim().to_owned()
    }

    /// The container id of a service, running or not.
    pub fn container(&self, service: &str) -> String {
        let id = self.run(&["ps", "-a", "-q", service]).trim().to_owned();
        assert!(!id.is_empty(), "service {service} has no container");
        id
    }

    /// `docker inspect` of a service's container, as JSON.
    pub fn inspect(&self, service: &str) -> serde_json::Value {
        let text = docker(&["inspect", &self.container(service)]);
        let mut all: Vec<serde_json::Value> =
            serde_json::from_str(&text).expect("docker inspect prints JSON");
        all.remove(0)
    }

    /// Containers, networks and volumes that still carry this project's label.
    pub fn leftovers(&self) -> Vec<String> {
        let label = format!("label=com.docker.compose.project={}", self.project);
        let mut left = Vec::new();
        for (kind, args) in [
            ("container", vec!["ps", "-a", "-q", "--filter", &label]),
            ("network", vec!["network", "ls", "-q", "--filter", &label]),
            ("volume", vec!["volume", "ls", "-q", "--filter", &label]),
        ] {
            left.extend(docker(&args).lines().map(|id| format!("{kind} {id}")));
        }
        left
    }
}

impl Drop for ComposeStack {
    fn drop(&mut self) {
        let _ = output(&mut self.command(&[
            "--profile",
            "seed",
            "--profile",
            "exporters",
            "down",
            "-v",
            "--remove-orphans",
            "-t",
            "3",
        ]));
    }
}

//! Where the service binaries are: beside this test binary's `deps/` folder.
//! The first test to ask builds them (`cargo build --workspace --bins`, with
//! common's `insecure-tls` feature for the TLS tests, in
//! this test binary's profile), so an edit is never tested against a stale
//! binary. Under nextest, where each test is a process of its own, the first
//! process of a run builds and the others find its stamp (cargo's own check
//! of the whole workspace costs each of them a second or so otherwise).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary sits in target/<profile>/deps")
        .to_path_buf()
}

/// Builds the workspace's binaries once per test run: once per process, and
/// under nextest once per run (`NEXTEST_RUN_ID`), the processes taking turns
/// on a lock file beside the binaries.
fn build(profile_dir: &Path) {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let Ok(run) = std::env::var("NEXTEST_RUN_ID") else {
            return cargo_build(profile_dir);
        };
        let lock = std::fs::File::create(profile_dir.join(".suite-build.lock"))
            .expect("create the build lock file");
        lock.lock().expect("take the build lock");
        let stamp = profile_dir.join(".suite-built-run");
        if std::fs::read_to_string(&stamp).ok().as_deref() != Some(run.as_str()) {
            cargo_build(profile_dir);
            std::fs::write(&stamp, &run).expect("write the build stamp");
        }
    });
}

fn cargo_build(profile_dir: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = std::process::Command::new(cargo);
    command
        // With `#insecure` Redis URLs allowed, for the TLS tests (the
        // images are built without it). `--tests` unifies features as
        // the test run's own build did (scripts/test.sh), so that the
        // binaries it built are current and this is no rebuild.
        .args([
            "build",
            "--quiet",
            "--workspace",
            "--lib",
            "--bins",
            "--tests",
        ])
        .args(["--features", "common/insecure-tls"])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    if profile_dir.file_name().is_some_and(|p| p == "release") {
        command.arg("--release");
    }
    let out = command.output().expect("run cargo build");
    assert!(
        out.status.success(),
        "building the services failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn path(name: &str) -> PathBuf {
    let dir = profile_dir();
    build(&dir);
    let binary = dir.join(name);
    assert!(binary.exists(), "{} is missing", binary.display());
    binary
}

/// How a one-off run of a binary ended.
#[derive(Debug)]
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `name args…` with only `env` (and nothing inherited) to its end.
pub async fn run(name: &str, args: &[&str], env: &[(&str, &str)]) -> Finished {
    let out = tokio::process::Command::new(path(name))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap_or_else(|e| panic!("run {name}: {e}"));
    Finished {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The environment variables a service reads, with their defaults, from its
/// own command-line definition (not from scraping `--help`).
pub fn variables(binary: &str) -> std::collections::BTreeMap<String, Option<String>> {
    use clap::CommandFactory;
    let command = match binary {
        "vote" => vote::config::Cli::command(),
        "result" => result::config::Cli::command(),
        "worker" => worker::config::Cli::command(),
        other => panic!("{other} is not one of our services"),
    };
    command
        .get_arguments()
        .filter_map(|arg| {
            let name = arg.get_env()?.to_string_lossy().into_owned();
            let default = arg
                .get_default_values()
                .first()
                .map(|v| v.to_string_lossy().into_owned());
            Some((name, default))
        })
        .collect()
}

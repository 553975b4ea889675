//! Where the service binaries are: beside this test binary's `deps/` folder,
//! built by `cargo build --workspace --bins` (scripts/test.sh does it).

use std::path::PathBuf;

pub fn path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary sits in target/<profile>/deps");
    let binary = profile_dir.join(name);
    assert!(
        binary.exists(),
        "{} is missing: build the services first with `cargo build --workspace --bins` (scripts/test.sh does)",
        binary.display()
    );
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

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

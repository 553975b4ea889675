//! Logging: `tracing` to stdout, human-readable by default, JSON with
//! `LOG_FORMAT=json`, level from `RUST_LOG` (default `info`).

use crate::config::{var_or, LOG_FORMAT};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; a second call (as in tests) is a no-op.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn,tokio_postgres=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let installed = if var_or(LOG_FORMAT, "text").eq_ignore_ascii_case("json") {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.try_init()
    };
    // Already installed by an earlier call in this process: keep that one.
    drop(installed);
}

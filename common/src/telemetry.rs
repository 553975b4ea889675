//! Logging: `tracing` to stdout, human-readable by default, JSON with
//! `LOG_FORMAT=json`, level from `RUST_LOG` (default `info`).
//!
//! A log line that cannot be written is dropped, never an error: with stdout
//! a closed pipe (`result | head -1`), tracing-subscriber would report the
//! error with `eprintln!`, which panics when stderr is closed too, and a panic
//! in the task that handles SIGTERM left the service unstoppable.

use tracing_subscriber::EnvFilter;

/// The log filter when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info,actix_server=warn,tokio_postgres=warn";

/// How each log line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// For people: one readable line per event.
    Text,
    /// For log pipelines: one JSON object per line.
    Json,
}

/// Installs the global subscriber with `format` and `filter` (tracing's
/// EnvFilter syntax; [`DEFAULT_FILTER`] when it does not parse); a second
/// call (as in tests) is a no-op.
pub fn init(filter: &str, format: Format) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LossyStdout)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let installed = if format == Format::Json {
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

/// Standard output that drops what it cannot write.
struct LossyStdout;

impl std::io::Write for LossyStdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stdout().lock().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stdout().lock().flush();
        Ok(())
    }
}

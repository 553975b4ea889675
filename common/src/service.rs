//! A service's process from its parsed command line to its exit code:
//! logging, the checked configuration, the run until SIGTERM or SIGINT; and
//! the `healthcheck` subcommand, which asks the running service's own
//! `/healthz` so images need neither a shell nor curl.

use crate::cli::LogArgs;
use crate::config::ConfigError;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

/// `<binary> healthcheck`: exit 0 if the service on `port` answers `/healthz`.
pub fn healthcheck(port: u16) -> ExitCode {
    match probe(port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("healthcheck on port {port} failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn probe(port: u16) -> std::io::Result<()> {
    let timeout = Duration::from_secs(3);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    if head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200") {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "answered {:?}",
            String::from_utf8_lossy(&head)
        )))
    }
}

/// The rest of a service's `main` once its command line is parsed: logging,
/// the configuration (a bad value exits 2 naming the variable), then `start`
/// until SIGTERM or SIGINT.
pub async fn run_service<C, Fut>(
    binary: &str,
    log: &LogArgs,
    config: impl FnOnce() -> Result<C, ConfigError>,
    start: impl FnOnce(C, tokio_util::sync::CancellationToken) -> anyhow::Result<Fut>,
) -> ExitCode
where
    Fut: std::future::Future<Output = std::io::Result<()>>,
{
    crate::telemetry::init(&log.rust_log, log.format());
    let config = match config() {
        Ok(config) => config,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("{binary}: {e}");
            return ExitCode::from(2);
        }
    };
    let stop = crate::shutdown::on_signal();
    let running = match start(config, stop) {
        Ok(running) => running,
        Err(e) => {
            tracing::error!(error = ?e, "{binary} could not start");
            eprintln!("{binary}: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    match running.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = ?e, "{binary} stopped with an error");
            ExitCode::FAILURE
        }
    }
}

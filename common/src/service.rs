//! A service's process from its parsed command line to its exit code:
//! logging, the checked configuration, its [`Application`] until SIGTERM or
//! SIGINT; and the `healthcheck` subcommand, which asks the running
//! service's own `/healthz` so images need neither a shell nor curl.

use crate::app::Application;
use crate::cli::LogArgs;
use crate::config::ConfigError;
use std::process::ExitCode;
use std::time::Duration;

/// `<binary> healthcheck`: exit 0 if the service on `port` answers `/healthz`.
pub async fn healthcheck(port: u16) -> ExitCode {
    match tokio::time::timeout(Duration::from_secs(3), probe(port)).await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("healthcheck on port {port} failed: {e:#}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("healthcheck on port {port} failed: no answer within 3 s");
            ExitCode::FAILURE
        }
    }
}

/// `GET /healthz` on this host's `port`, with hyper's HTTP/1.1 client.
async fn probe(port: u16) -> anyhow::Result<()> {
    use http_body_util::Empty;
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = hyper::Request::get("/healthz")
        .header(hyper::header::HOST, "localhost")
        .body(Empty::<bytes::Bytes>::new())?;
    let status = sender.send_request(request).await?.status();
    anyhow::ensure!(status == hyper::StatusCode::OK, "answered {status}");
    Ok(())
}

/// The rest of a service's `main` once its command line is parsed: logging,
/// the configuration (a bad value exits 2 naming the variable), then the
/// application `build` makes, until SIGTERM or SIGINT.
pub async fn run_service<C>(
    binary: &str,
    log: &LogArgs,
    config: impl FnOnce() -> Result<C, ConfigError>,
    build: impl FnOnce(C, tokio_util::sync::CancellationToken) -> anyhow::Result<Application>,
) -> ExitCode {
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
    let application = match build(config, stop) {
        Ok(application) => application,
        Err(e) => {
            tracing::error!(error = ?e, "{binary} could not start");
            eprintln!("{binary}: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    match application.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = ?e, "{binary} stopped with an error");
            ExitCode::FAILURE
        }
    }
}

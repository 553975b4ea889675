//! The `worker` binary: its command line (flags or environment variables),
//! then the service until SIGTERM or SIGINT; `worker migrate` only brings the
//! schema up to date.

use clap::Parser;
use worker::config::{Cli, Command, Config};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Healthcheck) => return common::service::healthcheck(cli.port).await,
        Some(Command::Migrate) => return worker::migrate::command(&cli).await,
        None => {}
    }
    common::service::run_service(
        "worker",
        &cli.log,
        || Config::from_cli(&cli),
        worker::startup::build,
    )
    .await
}

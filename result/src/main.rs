//! The `result` binary: its command line (flags or environment variables),
//! then the service until SIGTERM or SIGINT.

use clap::Parser;
use common::cli::PageCommand;
use result::config::{Cli, Config};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Some(PageCommand::Healthcheck) = cli.command {
        return common::service::healthcheck(cli.page.port).await;
    }
    common::service::run_service(
        "result",
        &cli.page.log,
        || Config::from_cli(&cli),
        result::startup::build,
    )
    .await
}

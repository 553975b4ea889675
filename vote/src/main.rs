//! The `vote` binary: its command line (flags or environment variables),
//! then the service until SIGTERM or SIGINT.

use clap::Parser;
use common::cli::PageCommand;
use vote::config::{Cli, Config};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Some(PageCommand::Healthcheck) = cli.command {
        return common::service::healthcheck(cli.page.port).await;
    }
    common::service::run_service(
        "vote",
        &cli.page.log,
        || Config::from_cli(&cli),
        vote::startup::build,
    )
    .await
}

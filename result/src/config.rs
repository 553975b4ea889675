//! The result service's command line and settings: each setting is an
//! environment variable and a flag (`result --help` lists them), checked once
//! at start-up.

use common::cli::{DatabaseArgs, PageArgs, PageCommand};
use common::config::{ConfigError, DatabaseUrl};
use common::poll::PollOptions;

/// The live results page: totals from Postgres, pushed to browsers as votes commit.
#[derive(Debug, clap::Parser)]
#[command(name = "result", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<PageCommand>,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub page: PageArgs,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseUrl,
    pub options: PollOptions,
    pub port: u16,
    /// Where `/readyz` and `/metrics` are served, when not on `port`.
    pub metrics_port: Option<u16>,
    /// The address the HTTP server listens on.
    pub bind: std::net::IpAddr,
    /// Serving time after SIGTERM, readiness already 503.
    pub drain: std::time::Duration,
}

impl Config {
    pub fn from_cli(cli: &Cli) -> Result<Self, ConfigError> {
        let (port, metrics_port) = cli.page.ports()?;
        Ok(Self {
            database: cli.database.url()?,
            options: cli.page.poll.options()?,
            port,
            metrics_port,
            bind: cli.page.bind.address()?,
            drain: cli.page.drain.drain(),
        })
    }
}

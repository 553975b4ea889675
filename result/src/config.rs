//! The result service's command line and settings: each setting is an
//! environment variable and a flag (`result --help` lists them), checked once
//! at start-up.

use common::cli::{DatabaseArgs, PageArgs, PageCommand};
use common::config::{ConfigError, DatabaseUrl, Listen};
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
    /// Its ports and its drain.
    pub listen: Listen,
}

impl Config {
    pub fn from_cli(cli: &Cli) -> Result<Self, ConfigError> {
        let listen = cli.page.listen()?;
        Ok(Self {
            database: cli.database.url()?,
            options: cli.page.poll.options()?,
            listen,
        })
    }
}

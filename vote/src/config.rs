//! The vote service's command line and settings: each setting is an
//! environment variable and a flag (`vote --help` lists them), checked once
//! at start-up.

use common::cli::{PageArgs, PageCommand, RedisArgs};
use common::config::{ConfigError, RedisUrl};
use common::poll::PollOptions;

/// The vote page; queues each vote on the Redis list `votes`.
#[derive(Debug, clap::Parser)]
#[command(name = "vote", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<PageCommand>,
    #[command(flatten)]
    pub redis: RedisArgs,
    #[command(flatten)]
    pub page: PageArgs,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub redis: RedisUrl,
    pub options: PollOptions,
    pub port: u16,
    /// Where `/readyz` and `/metrics` are served, when not on `port`.
    pub metrics_port: Option<u16>,
    /// The address the HTTP server listens on.
    pub bind: std::net::IpAddr,
    /// Serving time after SIGTERM, readiness already 503.
    pub drain: std::time::Duration,
    /// Shown as "Processed by container ID …" (the pod or container name).
    pub hostname: String,
}

impl Config {
    pub fn from_cli(cli: &Cli) -> Result<Self, ConfigError> {
        let (port, metrics_port) = cli.page.ports()?;
        Ok(Self {
            redis: cli.redis.url()?,
            options: cli.page.poll.options()?,
            port,
            metrics_port,
            bind: cli.page.bind.address()?,
            drain: cli.page.drain.drain()?,
            hostname: gethostname::gethostname().to_string_lossy().into_owned(),
        })
    }
}

//! The vote service's command line and settings: each setting is an
//! environment variable and a flag (`vote --help` lists them), checked once
//! at start-up.

use crate::ballot_box::{Replication, DEFAULT_REPLICA_TIMEOUT_MS, MAX_REPLICA_TIMEOUT_MS};
use common::cli::{PageArgs, PageCommand, RedisArgs};
use common::config::{parse_value, ConfigError, RedisUrl};
use common::poll::PollOptions;

/// The vote page; queues each vote on the Redis list `votes`.
#[derive(Debug, clap::Parser)]
#[command(name = "vote", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<PageCommand>,
    #[command(flatten)]
    pub redis: RedisArgs,
    /// Acknowledge a vote only once this many Redis replicas confirm it (WAIT); 0: once the master has it
    #[arg(
        long,
        env = "REDIS_MIN_REPLICAS",
        default_value = "0",
        value_name = "REPLICAS"
    )]
    pub redis_min_replicas: String,
    /// How long a vote waits for those replicas, in ms (1-1000)
    #[arg(long, env = "REDIS_REPLICA_TIMEOUT_MS", default_value_t = DEFAULT_REPLICA_TIMEOUT_MS.to_string(), value_name = "MS")]
    pub redis_replica_timeout_ms: String,
    #[command(flatten)]
    pub page: PageArgs,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub redis: RedisUrl,
    pub replication: Replication,
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
            replication: replication(cli)?,
            options: cli.page.poll.options()?,
            port,
            metrics_port,
            bind: cli.page.bind.address()?,
            drain: cli.page.drain.drain()?,
            hostname: gethostname::gethostname().to_string_lossy().into_owned(),
        })
    }
}

/// `REDIS_MIN_REPLICAS` and `REDIS_REPLICA_TIMEOUT_MS`, checked.
fn replication(cli: &Cli) -> Result<Replication, ConfigError> {
    let number = |name: &'static str, raw: &str, default: u64| -> Result<u64, ConfigError> {
        match raw.trim() {
            "" => Ok(default),
            raw => parse_value(name, raw),
        }
    };
    let replicas = number("REDIS_MIN_REPLICAS", &cli.redis_min_replicas, 0)?;
    let replicas = u32::try_from(replicas)
        .map_err(|_| ConfigError::new("REDIS_MIN_REPLICAS", replicas.to_string(), "too large"))?;
    let timeout_ms = number(
        "REDIS_REPLICA_TIMEOUT_MS",
        &cli.redis_replica_timeout_ms,
        DEFAULT_REPLICA_TIMEOUT_MS,
    )?;
    if !(1..=MAX_REPLICA_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(ConfigError::new(
            "REDIS_REPLICA_TIMEOUT_MS",
            timeout_ms.to_string(),
            format!("must be between 1 and {MAX_REPLICA_TIMEOUT_MS}"),
        ));
    }
    Ok(Replication {
        replicas,
        timeout: std::time::Duration::from_millis(timeout_ms),
    })
}

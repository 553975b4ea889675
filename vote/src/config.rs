//! The vote service's command line and settings: each setting is an
//! environment variable and a flag (`vote --help` lists them), checked once
//! at start-up.

use crate::ballot_box::{Replication, DEFAULT_REPLICA_TIMEOUT_MS, MAX_REPLICA_TIMEOUT_MS};
use crate::transport::TrustedProxies;
use common::cli::{Number, PageArgs, PageCommand, RedisArgs};
use common::config::{ConfigError, Listen, RedisUrl};
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
    #[arg(long, env = "REDIS_MIN_REPLICAS", default_value_t = 0, value_name = "REPLICAS",
          value_parser = Number::<u32>::new("REDIS_MIN_REPLICAS", 0, 0, 100))]
    pub redis_min_replicas: u32,
    /// How long a vote waits for those replicas, in ms (1-1000)
    #[arg(long, env = "REDIS_REPLICA_TIMEOUT_MS", default_value_t = DEFAULT_REPLICA_TIMEOUT_MS, value_name = "MS",
          value_parser = Number::new("REDIS_REPLICA_TIMEOUT_MS", DEFAULT_REPLICA_TIMEOUT_MS, 1, MAX_REPLICA_TIMEOUT_MS))]
    pub redis_replica_timeout_ms: u64,
    /// Proxies (addresses, CIDR ranges: 10.0.0.0/8,...) whose X-Forwarded-Proto: https makes the voter cookie Secure [default: none]
    #[arg(long, env = crate::transport::TRUSTED_PROXIES, value_name = "ADDRESS/CIDR,...")]
    pub trusted_proxies: Option<String>,
    #[command(flatten)]
    pub page: PageArgs,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub redis: RedisUrl,
    pub replication: Replication,
    pub options: PollOptions,
    /// Its ports and its drain.
    pub listen: Listen,
    /// Shown as "Processed by container ID …" (the pod or container name).
    pub hostname: String,
    /// Whose `X-Forwarded-Proto` is believed.
    pub trusted_proxies: TrustedProxies,
}

impl Config {
    pub fn from_cli(cli: &Cli) -> Result<Self, ConfigError> {
        let listen = cli.page.listen()?;
        Ok(Self {
            redis: cli.redis.url()?,
            replication: Replication {
                replicas: cli.redis_min_replicas,
                timeout: std::time::Duration::from_millis(cli.redis_replica_timeout_ms),
            },
            options: cli.page.poll.options()?,
            listen,
            hostname: gethostname::gethostname().to_string_lossy().into_owned(),
            trusted_proxies: TrustedProxies::parse(
                cli.trusted_proxies.as_deref().unwrap_or_default(),
            )?,
        })
    }
}

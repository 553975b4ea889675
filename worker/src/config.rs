//! The worker's command line and settings: each setting is an environment
//! variable and a flag (`worker --help` lists them), checked once at start-up.

use common::cli::{port_number, BindArgs, DatabaseArgs, LogArgs, Number, RedisArgs};
use common::config::{ConfigError, DatabaseUrl, Listen, RedisUrl};
use std::time::Duration;

/// Not 80, 5432 or 6379: the worker shares a pod with `result`, `db` and
/// `redis` in the workshop.
pub const DEFAULT_PORT: u16 = 8082;
pub const DEFAULT_BATCH_SIZE: usize = 1000;
pub const MAX_BATCH_SIZE: usize = 5000;
pub const DEFAULT_HEARTBEAT_TTL_MS: u64 = 10_000;

/// Moves votes from the Redis list `votes` into the Postgres table `votes`.
#[derive(Debug, clap::Parser)]
#[command(name = "worker", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub redis: RedisArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// HTTP port for /healthz, /readyz, /metrics
    #[arg(long, env = common::config::PORT, default_value_t = DEFAULT_PORT,
          value_parser = port_number(common::config::PORT, DEFAULT_PORT))]
    pub port: u16,
    /// Unique name of this worker (its processing list) [default: <hostname>-<pid>]
    #[arg(long, env = "WORKER_ID", value_name = "ID")]
    pub worker_id: Option<String>,
    /// Most votes claimed and stored at once (1-5000)
    #[arg(long, env = "BATCH_SIZE", default_value_t = DEFAULT_BATCH_SIZE, value_name = "VOTES",
          value_parser = Number::new("BATCH_SIZE", DEFAULT_BATCH_SIZE, 1, MAX_BATCH_SIZE))]
    pub batch_size: usize,
    /// How long after its last heartbeat a dead worker's batch is recovered, in ms (500 or more)
    #[arg(long, env = "HEARTBEAT_TTL_MS", default_value_t = DEFAULT_HEARTBEAT_TTL_MS, value_name = "MS",
          value_parser = Number::new("HEARTBEAT_TTL_MS", DEFAULT_HEARTBEAT_TTL_MS, 500, u64::MAX))]
    pub heartbeat_ttl_ms: u64,
    #[command(flatten)]
    pub bind: BindArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Exit 0 if the service on PORT answers /healthz (for Docker's HEALTHCHECK)
    Healthcheck,
    /// Apply the missing schema migrations to DATABASE_URL, then exit
    Migrate,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub redis: RedisUrl,
    pub database: DatabaseUrl,
    /// Its one port (probes and metrics); no drain time, see `startup`.
    pub listen: Listen,
    pub worker_id: String,
    pub batch_size: usize,
    pub heartbeat_ttl: Duration,
}

impl Config {
    pub fn from_cli(cli: &Cli) -> Result<Self, ConfigError> {
        let worker_id = match cli.worker_id.as_deref().map(str::trim) {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => format!(
                "{}-{}",
                gethostname::gethostname().to_string_lossy(),
                std::process::id()
            ),
        };
        if worker_id.len() > 128
            || !worker_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(ConfigError::new(
                "WORKER_ID",
                worker_id,
                "use at most 128 letters, digits, '-', '_' or '.'",
            ));
        }
        Ok(Self {
            redis: cli.redis.url()?,
            // The worker writes (and migrates): a primary only.
            database: cli.database.url()?.primary_only(),
            listen: Listen {
                address: cli.bind.address()?,
                port: cli.port,
                metrics_port: None,
                drain: Duration::ZERO,
            },
            worker_id,
            batch_size: cli.batch_size,
            heartbeat_ttl: Duration::from_millis(cli.heartbeat_ttl_ms),
        })
    }
}

//! The worker's settings, read once from the environment.

use common::cli::{EnvVar, Usage};
use common::config::{parse_var, var_or, ConfigError, DatabaseUrl, RedisUrl};
use std::time::Duration;

/// Not 80, 5432 or 6379: the worker shares a pod with `result`, `db` and
/// `redis` in the workshop.
pub const DEFAULT_PORT: u16 = 8082;
pub const DEFAULT_BATCH_SIZE: usize = 1000;
pub const MAX_BATCH_SIZE: usize = 5000;
pub const DEFAULT_HEARTBEAT_TTL_MS: u64 = 10_000;

pub const USAGE: Usage = Usage {
    binary: "worker",
    summary: "moves votes from the Redis list `votes` into the Postgres table `votes`",
    default_port: DEFAULT_PORT,
    commands: &[(
        "migrate",
        "apply the missing schema migrations to DATABASE_URL, then exit",
    )],
    vars: &[
        common::cli::REDIS_URL_VAR,
        common::cli::REDIS_CA_FILE_VAR,
        common::cli::DATABASE_URL_VAR,
        common::cli::DATABASE_CA_FILE_VAR,
        EnvVar {
            name: common::config::PORT,
            default: "8082",
            meaning: "HTTP port for /healthz, /readyz, /metrics",
        },
        EnvVar {
            name: "WORKER_ID",
            default: "<hostname>-<pid>",
            meaning: "unique name of this worker (its processing list)",
        },
        EnvVar {
            name: "BATCH_SIZE",
            default: "1000",
            meaning: "most votes claimed and stored at once (1-5000)",
        },
        EnvVar {
            name: "HEARTBEAT_TTL_MS",
            default: "10000",
            meaning: "how long after its last heartbeat a dead worker's batch is recovered",
        },
        common::cli::BIND_ADDRESS_VAR,
        common::cli::LOG_FORMAT_VAR,
        common::cli::RUST_LOG_VAR,
    ],
};

#[derive(Debug, Clone)]
pub struct Config {
    pub redis: RedisUrl,
    pub database: DatabaseUrl,
    pub port: u16,
    /// The address the HTTP server listens on.
    pub bind: std::net::IpAddr,
    pub worker_id: String,
    pub batch_size: usize,
    pub heartbeat_ttl: Duration,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let batch_size = parse_var("BATCH_SIZE", DEFAULT_BATCH_SIZE)?;
        if !(1..=MAX_BATCH_SIZE).contains(&batch_size) {
            return Err(ConfigError::new(
                "BATCH_SIZE",
                batch_size.to_string(),
                format!("must be between 1 and {MAX_BATCH_SIZE}"),
            ));
        }
        let ttl_ms = parse_var("HEARTBEAT_TTL_MS", DEFAULT_HEARTBEAT_TTL_MS)?;
        if ttl_ms < 500 {
            return Err(ConfigError::new(
                "HEARTBEAT_TTL_MS",
                ttl_ms.to_string(),
                "must be at least 500",
            ));
        }
        let default_id = format!(
            "{}-{}",
            gethostname::gethostname().to_string_lossy(),
            std::process::id()
        );
        let worker_id = var_or("WORKER_ID", &default_id);
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
            redis: RedisUrl::from_env()?,
            database: DatabaseUrl::from_env()?,
            port: common::config::port(DEFAULT_PORT)?,
            bind: common::config::bind_address()?,
            worker_id,
            batch_size,
            heartbeat_ttl: Duration::from_millis(ttl_ms),
        })
    }
}

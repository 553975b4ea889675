//! The vote service's settings, read once from the environment.

use common::cli::{EnvVar, Usage};
use common::config::{ConfigError, PollOptions, RedisUrl};

pub const DEFAULT_PORT: u16 = 80;

pub const USAGE: Usage = Usage {
    binary: "vote",
    summary: "the vote page; queues each vote on the Redis list `votes`",
    default_port: DEFAULT_PORT,
    commands: &[],
    vars: &[
        common::cli::REDIS_URL_VAR,
        common::cli::REDIS_CA_FILE_VAR,
        common::cli::OPTION_A_VAR,
        common::cli::OPTION_B_VAR,
        EnvVar {
            name: common::config::PORT,
            default: "80",
            meaning: "HTTP port",
        },
        common::cli::DRAIN_SECONDS_VAR,
        common::cli::BIND_ADDRESS_VAR,
        common::cli::LOG_FORMAT_VAR,
        common::cli::RUST_LOG_VAR,
    ],
};

#[derive(Debug, Clone)]
pub struct Config {
    pub redis: RedisUrl,
    pub options: PollOptions,
    pub port: u16,
    /// The address the HTTP server listens on.
    pub bind: std::net::IpAddr,
    /// Serving time after SIGTERM, readiness already 503.
    pub drain: std::time::Duration,
    /// Shown as "Processed by container ID …" (the pod or container name).
    pub hostname: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            redis: RedisUrl::from_env()?,
            options: PollOptions::from_env()?,
            port: common::config::port(DEFAULT_PORT)?,
            bind: common::config::bind_address()?,
            drain: common::config::drain()?,
            hostname: gethostname::gethostname().to_string_lossy().into_owned(),
        })
    }
}

//! The command line every service shares, with clap: each setting is an
//! environment variable (the original app's contract) and a flag, `--help`
//! lists them with their defaults, `--version`, and the `healthcheck`
//! subcommand (the `service` module runs it).
//!
//! clap reads the raw values; `config` checks them, so a bad value stops the
//! service with a message naming the variable and never showing a password.

use crate::config::{self, ConfigError, DatabaseUrl, Listen, RedisUrl};
use crate::poll::PollOptions;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A clap value parser for a number setting: an empty value (as `VAR=` in a
/// compose file leaves it) is the default, anything else must parse and lie
/// in `min..=max`, else clap stops with "invalid NAME=value: why" (exit 2).
#[derive(Debug, Clone, Copy)]
pub struct Number<T> {
    name: &'static str,
    default: T,
    min: T,
    max: T,
}

impl<T> Number<T> {
    pub const fn new(name: &'static str, default: T, min: T, max: T) -> Self {
        Self {
            name,
            default,
            min,
            max,
        }
    }
}

impl<T> clap::builder::TypedValueParser for Number<T>
where
    T: std::str::FromStr + PartialOrd + Copy + std::fmt::Display + Send + Sync + 'static,
    T::Err: std::fmt::Display,
{
    type Value = T;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let raw = value.to_string_lossy();
        if raw.trim().is_empty() {
            return Ok(self.default);
        }
        let invalid = |e: ConfigError| {
            clap::Error::raw(clap::error::ErrorKind::ValueValidation, format!("{e}\n"))
        };
        let number: T = config::parse_value(self.name, &raw).map_err(invalid)?;
        // Written as "not within", so that NaN (which compares false with
        // everything) is refused rather than let through.
        if !(self.min..=self.max).contains(&number) {
            return Err(invalid(ConfigError::new(
                self.name,
                raw.into_owned(),
                format!("must be between {} and {}", self.min, self.max),
            )));
        }
        Ok(number)
    }
}

/// Any port, 0 included (any free one).
pub const fn port_number(name: &'static str, default: u16) -> Number<u16> {
    Number::new(name, default, 0, u16::MAX)
}

/// Where Redis is.
#[derive(Debug, Clone, clap::Args)]
pub struct RedisArgs {
    /// Redis holding the vote queue (rediss:// for TLS)
    #[arg(long, env = config::REDIS_URL, default_value = config::DEFAULT_REDIS_URL,
          hide_env_values = true, value_name = "URL")]
    pub redis_url: String,
    /// Password of Redis and of its Sentinels (REDIS_URL's password reaches the master only)
    #[arg(long, env = config::REDIS_PASSWORD, hide_env_values = true, value_name = "PASSWORD")]
    pub redis_password: Option<String>,
    /// PEM file of the CA a rediss:// server is checked against [default: the system's roots]
    #[arg(long, env = config::REDIS_CA_FILE, value_name = "FILE")]
    pub redis_ca_file: Option<PathBuf>,
    /// Redis Sentinels (host:port,...) to ask for the master; REDIS_URL then gives the database, password and TLS [default: none, REDIS_URL's host]
    #[arg(long, env = config::REDIS_SENTINELS, value_name = "HOST:PORT,...")]
    pub redis_sentinels: Option<String>,
    /// The name the Sentinels know the master by
    #[arg(long, env = config::REDIS_MASTER_NAME, default_value = config::DEFAULT_REDIS_MASTER_NAME, value_name = "NAME")]
    pub redis_master_name: String,
}

impl RedisArgs {
    pub fn url(&self) -> Result<RedisUrl, ConfigError> {
        let url = RedisUrl::parse(or_default(&self.redis_url, config::DEFAULT_REDIS_URL))?;
        let url = match ca_file(config::REDIS_CA_FILE, &self.redis_ca_file)? {
            Some(pem) => url.with_ca(pem),
            None => url,
        };
        let url = match self.redis_sentinels.as_deref().map(str::trim) {
            None | Some("") => url,
            Some(list) => url.with_sentinels(
                list,
                or_default(&self.redis_master_name, config::DEFAULT_REDIS_MASTER_NAME),
            )?,
        };
        match &self.redis_password {
            Some(password) => url.with_password(password),
            None => Ok(url),
        }
    }
}

/// Where Postgres is.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// Postgres holding the votes table (sslmode=disable|prefer|require|verify-ca|verify-full, as in libpq)
    #[arg(long, env = config::DATABASE_URL, default_value = config::DEFAULT_DATABASE_URL,
          hide_env_values = true, hide_default_value = true, value_name = "URL")]
    pub database_url: String,
    /// PEM file of the CA for sslmode=verify-ca/verify-full (or require) [default: the URL's sslrootcert, else the system's roots]
    #[arg(long, env = config::DATABASE_CA_FILE, value_name = "FILE")]
    pub database_ca_file: Option<PathBuf>,
}

impl DatabaseArgs {
    pub fn url(&self) -> Result<DatabaseUrl, ConfigError> {
        let ca = ca_file(config::DATABASE_CA_FILE, &self.database_ca_file)?;
        DatabaseUrl::parse_with_ca(
            or_default(&self.database_url, config::DEFAULT_DATABASE_URL),
            ca,
        )
    }
}

/// The two names on the ballot.
#[derive(Debug, Clone, clap::Args)]
pub struct PollArgs {
    /// Name of the first option
    #[arg(long, env = config::OPTION_A, default_value = config::DEFAULT_OPTION_A)]
    pub option_a: String,
    /// Name of the second option
    #[arg(long, env = config::OPTION_B, default_value = config::DEFAULT_OPTION_B)]
    pub option_b: String,
}

impl PollArgs {
    pub fn options(&self) -> Result<PollOptions, ConfigError> {
        PollOptions::new(
            or_default(&self.option_a, config::DEFAULT_OPTION_A).to_owned(),
            or_default(&self.option_b, config::DEFAULT_OPTION_B).to_owned(),
        )
    }
}

/// Where the HTTP server listens (its port is each service's own flag).
#[derive(Debug, Clone, clap::Args)]
pub struct BindArgs {
    /// Address the HTTP server listens on (127.0.0.1: this host only; ::: IPv6 too)
    #[arg(long, env = config::BIND_ADDRESS, default_value = "0.0.0.0", value_name = "ADDRESS")]
    pub bind_address: String,
}

impl BindArgs {
    pub fn address(&self) -> Result<std::net::IpAddr, ConfigError> {
        config::parse_value(
            config::BIND_ADDRESS,
            or_default(&self.bind_address, "0.0.0.0"),
        )
    }
}

/// How long a stopping web service keeps serving.
#[derive(Debug, Clone, clap::Args)]
pub struct DrainArgs {
    /// Seconds a stopping service keeps serving, readiness already 503 (0-300)
    #[arg(long, env = config::DRAIN_SECONDS, default_value_t = config::DEFAULT_DRAIN_SECONDS,
          value_parser = Number::new(config::DRAIN_SECONDS, config::DEFAULT_DRAIN_SECONDS, 0.0,
                                     config::MAX_DRAIN_SECONDS),
          value_name = "SECONDS")]
    pub drain_seconds: f64,
}

impl DrainArgs {
    pub fn drain(&self) -> Duration {
        Duration::from_secs_f64(self.drain_seconds)
    }
}

/// Logging.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log format
    #[arg(long, env = config::LOG_FORMAT, default_value = "text", value_parser = ["text", "json"],
          ignore_case = true)]
    pub log_format: String,
    /// Log level filter (tracing's EnvFilter syntax)
    #[arg(long, env = "RUST_LOG", default_value = crate::telemetry::DEFAULT_FILTER,
          value_name = "FILTER")]
    pub rust_log: String,
}

impl LogArgs {
    pub fn format(&self) -> crate::telemetry::Format {
        if self.log_format.eq_ignore_ascii_case("json") {
            crate::telemetry::Format::Json
        } else {
            crate::telemetry::Format::Text
        }
    }
}

/// The port vote and result serve their pages on, as the original images do.
pub const PAGE_PORT: u16 = 80;

/// What vote and result share: the poll's names, the HTTP port, where to
/// listen, the drain on stop, logging.
#[derive(Debug, Clone, clap::Args)]
pub struct PageArgs {
    #[command(flatten)]
    pub poll: PollArgs,
    /// HTTP port
    #[arg(long, env = config::PORT, default_value_t = PAGE_PORT,
          value_parser = port_number(config::PORT, PAGE_PORT))]
    pub port: u16,
    /// Port for /readyz and /metrics, which then leave the page port (0: any free port) [default: served on the page port]
    #[arg(long, env = config::METRICS_PORT, value_name = "PORT")]
    pub metrics_port: Option<String>,
    #[command(flatten)]
    pub bind: BindArgs,
    #[command(flatten)]
    pub drain: DrainArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

/// The subcommands of vote and result.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum PageCommand {
    /// Exit 0 if the service on PORT answers /healthz (for Docker's HEALTHCHECK)
    Healthcheck,
}

impl PageArgs {
    /// Where the service listens and how long it drains.
    pub fn listen(&self) -> Result<Listen, ConfigError> {
        let (port, metrics_port) = self.ports()?;
        Ok(Listen {
            address: self.bind.address()?,
            port,
            metrics_port,
            drain: self.drain.drain(),
        })
    }

    /// The page port, and the operational one when `METRICS_PORT` is set
    /// (it must differ from the page port, unless both are 0).
    fn ports(&self) -> Result<(u16, Option<u16>), ConfigError> {
        let port = self.port;
        // A string, not a Number: empty means unset here, not a default port.
        let metrics_port = match self.metrics_port.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(config::parse_value::<u16>(config::METRICS_PORT, raw)?),
        };
        if let Some(metrics) = metrics_port.filter(|&m| m != 0 && m == port) {
            return Err(ConfigError::new(
                config::METRICS_PORT,
                metrics.to_string(),
                "must differ from PORT (leave it unset to serve /metrics on PORT)",
            ));
        }
        Ok((port, metrics_port))
    }
}

/// An empty value (as `VAR=` in a compose file leaves it) means the default.
fn or_default<'a>(raw: &'a str, default: &'a str) -> &'a str {
    if raw.trim().is_empty() {
        default
    } else {
        raw.trim()
    }
}

fn ca_file(name: &'static str, path: &Option<PathBuf>) -> Result<Option<Vec<u8>>, ConfigError> {
    match path {
        Some(path) if !path.as_os_str().is_empty() => crate::tls::read_ca_file(Path::new(path))
            .map(Some)
            .map_err(|reason| ConfigError::new(name, path.display().to_string(), reason)),
        _ => Ok(None),
    }
}

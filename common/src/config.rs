//! Configuration from environment variables, parsed once at start-up.
//!
//! Defaults match the hosts the original app hard-codes (`redis`, `db`), so our
//! images drop into the original compose file and Kubernetes manifests. A bad
//! value stops the process with a message naming the variable; passwords are
//! replaced by `***` wherever a URL is shown.

use crate::tls::{PostgresTls, SslMode};
use std::fmt;
use std::path::Path;

pub const REDIS_URL: &str = "REDIS_URL";
pub const DATABASE_URL: &str = "DATABASE_URL";
pub const OPTION_A: &str = "OPTION_A";
pub const OPTION_B: &str = "OPTION_B";
pub const PORT: &str = "PORT";
pub const METRICS_PORT: &str = "METRICS_PORT";
pub const LOG_FORMAT: &str = "LOG_FORMAT";
pub const DRAIN_SECONDS: &str = "DRAIN_SECONDS";
pub const BIND_ADDRESS: &str = "BIND_ADDRESS";
pub const REDIS_CA_FILE: &str = "REDIS_CA_FILE";
pub const REDIS_SENTINELS: &str = "REDIS_SENTINELS";
pub const REDIS_MASTER_NAME: &str = "REDIS_MASTER_NAME";
pub const REDIS_PASSWORD: &str = "REDIS_PASSWORD";
pub const DEFAULT_REDIS_MASTER_NAME: &str = "mymaster";
pub const DATABASE_CA_FILE: &str = "DATABASE_CA_FILE";

pub const DEFAULT_REDIS_URL: &str = "redis://redis:6379/0";
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres:postgres@db:5432/postgres";
pub const DEFAULT_OPTION_A: &str = "Cats";
pub const DEFAULT_OPTION_B: &str = "Dogs";
/// Longest option name shown on the pages.
pub const MAX_OPTION_CHARS: usize = 64;

/// A variable that is set to something the service cannot use.
#[derive(Debug, thiserror::Error)]
#[error("invalid {name}={shown}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    shown: String,
    reason: String,
}

impl ConfigError {
    pub fn new(name: &'static str, shown: impl Into<String>, reason: impl fmt::Display) -> Self {
        Self {
            name,
            shown: shown.into(),
            reason: reason.to_string(),
        }
    }
}

/// Parses a variable's raw value, naming the variable on error.
pub fn parse_value<T: std::str::FromStr>(name: &'static str, raw: &str) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    raw.trim()
        .parse()
        .map_err(|e| ConfigError::new(name, raw.to_owned(), e))
}

/// How long a stopping web service keeps serving after SIGTERM, with
/// readiness already 503: long enough for load balancers and Kubernetes
/// endpoints (kube-proxy's rules) to stop sending it new connections.
pub const DEFAULT_DRAIN_SECONDS: f64 = 5.0;
pub const MAX_DRAIN_SECONDS: f64 = 300.0;

/// Where a service listens and how long it drains, checked once at start-up
/// (see [`crate::app`]).
#[derive(Debug, Clone, Copy)]
pub struct Listen {
    /// The address the HTTP servers listen on.
    pub address: std::net::IpAddr,
    /// The page port (the worker's only one); 0 picks a free port.
    pub port: u16,
    /// Where `/readyz` and `/metrics` are served, when not on `port`.
    pub metrics_port: Option<u16>,
    /// Serving time after SIGTERM, readiness already 503.
    pub drain: std::time::Duration,
}

/// Shows a URL with its password replaced, for logs and error messages. Read
/// by hand, not by the url crate, so that a Postgres URL naming several hosts
/// (`postgres://u:p@a:5432,b:5432/db`) is shown too.
pub fn redact_url(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return "<unparsable URL>".to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, hosts)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{hosts}{path}"),
            None => raw.to_owned(),
        },
        None => raw.to_owned(),
    }
}

/// Where Redis is: a parsed `REDIS_URL` (`rediss://` for TLS), and the CA to
/// check a TLS server against (`REDIS_CA_FILE`).
#[derive(Clone)]
pub struct RedisUrl {
    pub info: redis::ConnectionInfo,
    ca_pem: Option<Vec<u8>>,
    /// When set, the master is whichever server these Sentinels name, and
    /// the URL's host is not used (its database, user, password and TLS are).
    sentinels: Option<Sentinels>,
    /// `REDIS_PASSWORD`, which guards the Sentinels too (used with them).
    sentinel_password: Option<String>,
    shown: String,
}

/// Redis Sentinels (`REDIS_SENTINELS`) and the name they know the master by
/// (`REDIS_MASTER_NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sentinels {
    /// Host and port of each Sentinel.
    addresses: Vec<(String, u16)>,
    master: String,
}

impl RedisUrl {
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let shown = redact_url(raw);
        if !cfg!(feature = "insecure-tls") && raw.trim_end().ends_with("#insecure") {
            return Err(ConfigError::new(
                REDIS_URL,
                shown,
                "#insecure (no certificate check) is not built into this binary: give the CA in REDIS_CA_FILE",
            ));
        }
        let info = redis::IntoConnectionInfo::into_connection_info(raw)
            .map_err(|e| ConfigError::new(REDIS_URL, shown.clone(), e))?;
        Ok(Self {
            info,
            ca_pem: None,
            sentinels: None,
            sentinel_password: None,
            shown,
        })
    }

    /// Finds the master through the Sentinels in `list` (`host:port`,
    /// comma-separated; port 26379 when left out) that know it as `master`.
    pub fn with_sentinels(mut self, list: &str, master: &str) -> Result<Self, ConfigError> {
        let mut addresses = Vec::new();
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (host, port) = match item.rsplit_once(':') {
                Some((host, port)) => (host, port),
                None => (item, "26379"),
            };
            let port: u16 = port.parse().map_err(|_| {
                ConfigError::new(REDIS_SENTINELS, list, format!("{item}: expected host:port"))
            })?;
            if host.is_empty() {
                return Err(ConfigError::new(
                    REDIS_SENTINELS,
                    list,
                    format!("{item}: no host"),
                ));
            }
            addresses.push((host.to_owned(), port));
        }
        if addresses.is_empty() {
            return Err(ConfigError::new(REDIS_SENTINELS, list, "names no Sentinel"));
        }
        let master = master.trim();
        if master.is_empty() {
            return Err(ConfigError::new(
                REDIS_MASTER_NAME,
                master,
                "must not be empty",
            ));
        }
        let shown: Vec<String> = addresses
            .iter()
            .map(|(host, port)| format!("{host}:{port}"))
            .collect();
        self.shown = format!(
            "{} (master {master} via Sentinels {})",
            self.shown,
            shown.join(",")
        );
        self.sentinels = Some(Sentinels {
            addresses,
            master: master.to_owned(),
        });
        Ok(self)
    }

    /// Authenticates with `password` (`REDIS_PASSWORD`) to the master and,
    /// with Sentinels, to them too: the shipped replicated tier guards both
    /// with one `requirepass`. A password in `REDIS_URL` reaches the master
    /// only (Sentinels without a password refuse `AUTH`). One place for it:
    /// a password in both is refused rather than one silently winning.
    pub fn with_password(mut self, password: &str) -> Result<Self, ConfigError> {
        if password.is_empty() {
            return Err(ConfigError::new(
                REDIS_PASSWORD,
                "",
                "must not be empty when set",
            ));
        }
        if self.info.redis_settings().password().is_some() {
            return Err(ConfigError::new(
                REDIS_PASSWORD,
                "***",
                "REDIS_URL holds a password too: give it in one of them",
            ));
        }
        let settings = self.info.redis_settings().clone().set_password(password);
        self.info = self.info.set_redis_settings(settings);
        self.sentinel_password = Some(password.to_owned());
        Ok(self)
    }

    /// Checks a TLS server against this CA (PEM) instead of the system's roots.
    pub fn with_ca(mut self, pem: Vec<u8>) -> Self {
        self.ca_pem = Some(pem);
        self
    }

    /// A client for this Redis (no connection is made yet).
    pub fn client(&self) -> redis::RedisResult<redis::Client> {
        crate::tls::redis_client(self.info.clone(), self.ca_pem.as_deref())
    }

    /// With Sentinels, a client that asks them for the master each time it
    /// is asked for a connection (no connection is made yet). The Sentinels
    /// are asked in plain TCP (with `REDIS_PASSWORD` when given); the master
    /// is reached as `REDIS_URL` says
    /// (`rediss://`: TLS, checked against `REDIS_CA_FILE` when given), with
    /// its database, user and password.
    pub fn sentinel_client(&self) -> redis::RedisResult<Option<redis::sentinel::SentinelClient>> {
        use redis::sentinel::{SentinelClientBuilder, SentinelServerType};
        let Some(sentinels) = &self.sentinels else {
            return Ok(None);
        };
        let addresses = sentinels
            .addresses
            .iter()
            .map(|(host, port)| redis::ConnectionAddr::Tcp(host.clone(), *port));
        let settings = self.info.redis_settings();
        let mut builder =
            SentinelClientBuilder::new(addresses, &sentinels.master, SentinelServerType::Master)?
                .set_client_to_redis_db(settings.db())
                .set_client_to_redis_protocol(settings.protocol());
        if let Some(user) = settings.username() {
            builder = builder.set_client_to_redis_username(user);
        }
        if let Some(password) = settings.password() {
            builder = builder.set_client_to_redis_password(password);
        }
        if let Some(password) = &self.sentinel_password {
            builder = builder.set_client_to_sentinel_password(password);
        }
        if let redis::ConnectionAddr::TcpTls { insecure, .. } = self.info.addr() {
            builder = builder.set_client_to_redis_tls_mode(if *insecure {
                redis::TlsMode::Insecure
            } else {
                redis::TlsMode::Secure
            });
            if let Some(pem) = &self.ca_pem {
                crate::tls::provider();
                builder = builder.set_client_to_redis_certificates(redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                });
            }
        }
        builder.build().map(Some)
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// Where Postgres is: a parsed `DATABASE_URL`, with its TLS settings
/// (`sslmode`, `sslrootcert` or `DATABASE_CA_FILE`; see [`crate::tls`]).
#[derive(Clone)]
pub struct DatabaseUrl {
    pub config: tokio_postgres::Config,
    /// One config per host of a URL that lists several, tried in order by
    /// [`DatabaseUrl::connect`] (see `postgres_link`); just `config` otherwise.
    pub(crate) per_host: Vec<tokio_postgres::Config>,
    pub tls: PostgresTls,
    connector: crate::tls::MakeRustlsConnect,
    shown: String,
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        Self::parse_with_ca(raw, None)
    }

    /// For a writer: of the hosts the URL lists, only one that takes writes
    /// (libpq's `target_session_attrs=read-write`), whatever the URL says; a
    /// standby is passed over, and after a promotion the new primary found.
    pub fn primary_only(mut self) -> Self {
        for config in std::iter::once(&mut self.config).chain(&mut self.per_host) {
            config.target_session_attrs(tokio_postgres::config::TargetSessionAttrs::ReadWrite);
        }
        self
    }

    /// Parses `raw`; `ca_pem` (from `DATABASE_CA_FILE`) wins over the URL's `sslrootcert`.
    pub fn parse_with_ca(raw: &str, ca_pem: Option<Vec<u8>>) -> Result<Self, ConfigError> {
        let shown = redact_url(raw);
        // Split by hand: the url crate takes no list of hosts, which libpq and
        // tokio-postgres do (`postgres://u:p@a:5432,b:5432/db`).
        let (base, query) = raw.split_once('?').unwrap_or((raw, ""));
        if !(base.starts_with("postgres://") || base.starts_with("postgresql://")) {
            return Err(ConfigError::new(
                DATABASE_URL,
                shown,
                "expected a URL like postgres://user:password@host:5432/database",
            ));
        }
        // tokio-postgres knows neither verify-ca/verify-full nor sslrootcert:
        // take them out here and give it only whether to negotiate TLS.
        let mut tls = PostgresTls {
            mode: SslMode::Prefer,
            ca_pem: None,
        };
        let mut kept = url::form_urlencoded::Serializer::new(String::new());
        let mut given = Vec::new();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            given.push(key.to_string());
            match key.as_ref() {
                "sslmode" => {
                    tls.mode = SslMode::parse(&value).ok_or_else(|| {
                        ConfigError::new(
                            DATABASE_URL,
                            shown.clone(),
                            format!("sslmode={value} is not one of disable, prefer, require, verify-ca, verify-full"),
                        )
                    })?;
                }
                "sslrootcert" => {
                    let pem = crate::tls::read_ca_file(Path::new(value.as_ref()))
                        .map_err(|reason| ConfigError::new(DATABASE_URL, shown.clone(), reason))?;
                    tls.ca_pem = Some(pem);
                }
                _ => {
                    kept.append_pair(&key, &value);
                }
            }
        }
        let kept = kept.finish();
        let parsed = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{kept}")
        };
        if ca_pem.is_some() {
            tls.ca_pem = ca_pem;
        }
        let finish = |url: &str| -> Result<tokio_postgres::Config, ConfigError> {
            let mut config: tokio_postgres::Config = url
                .parse()
                .map_err(|e| ConfigError::new(DATABASE_URL, shown.clone(), e))?;
            config.ssl_mode(tls.mode.negotiation());
            crate::postgres_link::time_limits(&mut config, &given);
            if config.get_application_name().is_none() {
                config.application_name("votingapp");
            }
            Ok(config)
        };
        let config = finish(&parsed)?;
        if config.get_hosts().is_empty() {
            return Err(ConfigError::new(
                DATABASE_URL,
                shown,
                "the URL names no host",
            ));
        }
        let per_host = match crate::postgres_link::one_url_per_host(&parsed, &given) {
            Some(urls) => urls
                .iter()
                .map(|url| finish(url))
                .collect::<Result<_, _>>()?,
            None => vec![config.clone()],
        };
        let connector = tls
            .connector()
            .map_err(|reason| ConfigError::new(DATABASE_URL, shown.clone(), reason))?;
        Ok(Self {
            config,
            per_host,
            tls,
            connector,
            shown,
        })
    }

    /// What tokio-postgres and deadpool connect with.
    pub fn connector(&self) -> crate::tls::MakeRustlsConnect {
        self.connector.clone()
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_and_keeps_the_rest() {
        assert_eq!(
            redact_url("postgres://postgres:secret@db:5432/postgres"),
            "postgres://postgres:***@db:5432/postgres"
        );
        assert_eq!(redact_url("redis://redis:6379/0"), "redis://redis:6379/0");
    }

    #[test]
    fn a_bad_database_url_names_the_variable_and_hides_the_password() {
        let err = DatabaseUrl::parse("postgres://u:hunter2@db:notaport/x").unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("invalid DATABASE_URL="), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        assert!(DatabaseUrl::parse("definitely not a url").is_err());
    }

    #[test]
    fn several_postgres_hosts_are_read_and_shown_without_the_password() {
        let raw = "postgres://u:hunter2@db-a:5432,db-b:5433/votes?target_session_attrs=read-write&sslmode=disable";
        let url = DatabaseUrl::parse(raw).unwrap();
        assert_eq!(url.config.get_hosts().len(), 2);
        assert_eq!(url.config.get_ports(), [5432, 5433]);
        assert_eq!(
            url.config.get_target_session_attrs(),
            tokio_postgres::config::TargetSessionAttrs::ReadWrite
        );
        assert_eq!(
            url.to_string(),
            "postgres://u:***@db-a:5432,db-b:5433/votes?target_session_attrs=read-write&sslmode=disable"
        );
        assert_eq!(redact_url("redis://:pw@r:6379/0"), "redis://:***@r:6379/0");
        assert_eq!(redact_url("redis://r:6379/0"), "redis://r:6379/0");
    }

    #[test]
    fn a_redis_password_goes_to_the_master_and_the_sentinels_once() {
        let url = RedisUrl::parse("redis://r:6379/0")
            .unwrap()
            .with_sentinels("s-0,s-1:26380", "votingapp")
            .unwrap()
            .with_password("hunter2")
            .unwrap();
        assert_eq!(url.info.redis_settings().password(), Some("hunter2"));
        assert!(url.sentinels.is_some());
        assert_eq!(url.sentinel_password.as_deref(), Some("hunter2"));
        assert!(!url.to_string().contains("hunter2"), "{url}");

        let twice = RedisUrl::parse("redis://:secret-1@r:6379/0")
            .unwrap()
            .with_password("secret-2");
        let message = twice.unwrap_err().to_string();
        assert!(message.starts_with("invalid REDIS_PASSWORD="), "{message}");
        assert!(!message.contains("secret-"), "{message}");
        assert!(RedisUrl::parse("redis://r:6379/0")
            .unwrap()
            .with_password("")
            .is_err());
    }

    #[test]
    fn a_bad_redis_url_names_the_variable() {
        let err = RedisUrl::parse("http://redis:6379").unwrap_err();
        assert!(err.to_string().starts_with("invalid REDIS_URL="), "{err}");
        assert!(RedisUrl::parse(DEFAULT_REDIS_URL).is_ok());
    }
}

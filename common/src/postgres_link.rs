//! Postgres connections with time limits, so a server that stops answering
//! without closing (stopped, frozen, cut off) costs seconds, not the
//! kernel's ~15 minutes, and the next host of `DATABASE_URL` gets its turn.
//!
//! - Each host is tried for `connect_timeout` (default 2 s) for the whole
//!   attempt, as libpq does: tokio-postgres applies it to the TCP connect
//!   only, and a server whose kernel completes the handshake but which
//!   never answers the start-up message (a stopped process) would hold the
//!   attempt, and the hosts after it, forever.
//! - TCP keepalives after 10 s idle (every 5 s, 3 probes) find a dead peer
//!   under an idle connection (a `LISTEN`); `tcp_user_timeout` (15 s) drops
//!   a connection whose sent data goes unacknowledged.
//!
//! A peer that is alive in the kernel but stopped above it still answers
//! both, so callers also bound each round trip (the worker's store, result's
//! liveness query) and drop a connection that overran, never reusing it.
//! The URL's own values (`connect_timeout`, `keepalives_idle`, ...) win.

use crate::config::DatabaseUrl;
use std::time::Duration;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Config, Connection, Socket};

/// Longest one host's whole connection attempt may take, unless the URL
/// sets `connect_timeout`.
pub const CONNECT_ATTEMPT: Duration = Duration::from_secs(2);
const KEEPALIVES_IDLE: Duration = Duration::from_secs(10);
const KEEPALIVES_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVES_RETRIES: u32 = 3;
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(15);

/// The stream of a connection made with [`DatabaseUrl::connector`].
pub type Stream = <crate::tls::MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream;

/// Sets the limits above on `config` where the URL's query (`given`, its
/// keys) does not set them.
pub(crate) fn time_limits(config: &mut Config, given: &[String]) {
    let unset = |key: &str| !given.iter().any(|k| k == key);
    if unset("connect_timeout") {
        config.connect_timeout(CONNECT_ATTEMPT);
    }
    if unset("keepalives_idle") {
        config.keepalives_idle(KEEPALIVES_IDLE);
    }
    if unset("keepalives_interval") {
        config.keepalives_interval(KEEPALIVES_INTERVAL);
    }
    if unset("keepalives_retries") {
        config.keepalives_retries(KEEPALIVES_RETRIES);
    }
    if unset("tcp_user_timeout") {
        config.tcp_user_timeout(TCP_USER_TIMEOUT);
    }
}

/// `postgres://u:p@a:1,b:2/db?q` as one URL per host (`…@a:1/db?q`,
/// `…@b:2/db?q`), so each can be tried within its own limit; `None` when
/// the URL names one host, or names them in its query (`host=`), which is
/// then left to tokio-postgres as it is.
pub(crate) fn one_url_per_host(url: &str, given: &[String]) -> Option<Vec<String>> {
    if given
        .iter()
        .any(|k| matches!(k.as_str(), "host" | "hostaddr" | "port"))
    {
        return None;
    }
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (user, hosts) = match authority.rsplit_once('@') {
        Some((user, hosts)) => (format!("{user}@"), hosts),
        None => (String::new(), authority),
    };
    let hosts: Vec<&str> = hosts.split(',').collect();
    (hosts.len() > 1).then(|| {
        hosts
            .iter()
            .map(|host| format!("{scheme}://{user}{host}{tail}"))
            .collect()
    })
}

impl DatabaseUrl {
    /// How long one host's connection attempt may take.
    pub fn attempt_limit(&self) -> Duration {
        self.config
            .get_connect_timeout()
            .copied()
            .unwrap_or(CONNECT_ATTEMPT)
    }

    /// Long enough for every host to get its attempt, and a little more: a
    /// pool's limit for making a connection.
    pub fn create_timeout(&self) -> Duration {
        self.attempt_limit() * self.per_host.len() as u32 + Duration::from_secs(2)
    }

    /// Connects to the first host that answers within [`Self::attempt_limit`]
    /// (and, with `target_session_attrs=read-write`, takes writes), in the
    /// URL's order. When every host failed, the last error; when every host
    /// stayed silent, one more attempt through the whole list without a
    /// limit of ours, so that a caller that bounds it (a pool's create
    /// timeout) gets tokio-postgres's own outcome.
    pub async fn connect(
        &self,
    ) -> Result<(Client, Connection<Socket, Stream>), tokio_postgres::Error> {
        let limit = self.attempt_limit();
        let mut refused = None;
        for host in &self.per_host {
            match tokio::time::timeout(limit, host.connect(self.connector())).await {
                Ok(Ok(connected)) => return Ok(connected),
                Ok(Err(error)) => refused = Some(error),
                Err(_) => tracing::warn!(
                    host = ?host.get_hosts(),
                    "Postgres did not answer within {limit:?}; trying the next host"
                ),
            }
        }
        match refused {
            Some(error) => Err(error),
            None => self.config.connect(self.connector()).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_of_several_hosts_becomes_one_per_host() {
        let split = one_url_per_host("postgres://u:p@a:5432,b:5433/db?sslmode=disable", &[]);
        assert_eq!(
            split.unwrap(),
            [
                "postgres://u:p@a:5432/db?sslmode=disable",
                "postgres://u:p@b:5433/db?sslmode=disable"
            ]
        );
        assert_eq!(one_url_per_host("postgres://u:p@a:5432/db", &[]), None);
        let by_query = ["host".to_owned()];
        assert_eq!(one_url_per_host("postgres://u@a,b/db", &by_query), None);
    }

    #[test]
    fn time_limits_apply_unless_the_url_sets_them() {
        let url = DatabaseUrl::parse("postgres://u:p@a:5432,b:5432/db").unwrap();
        assert_eq!(url.attempt_limit(), CONNECT_ATTEMPT);
        assert_eq!(url.per_host.len(), 2);
        assert_eq!(url.create_timeout(), Duration::from_secs(6));
        for config in std::iter::once(&url.config).chain(&url.per_host) {
            assert_eq!(config.get_keepalives_idle(), KEEPALIVES_IDLE);
            assert_eq!(config.get_tcp_user_timeout(), Some(&TCP_USER_TIMEOUT));
        }
        let own =
            DatabaseUrl::parse("postgres://u:p@a/db?connect_timeout=7&keepalives_idle=60").unwrap();
        assert_eq!(own.attempt_limit(), Duration::from_secs(7));
        assert_eq!(own.config.get_keepalives_idle(), Duration::from_secs(60));
    }
}

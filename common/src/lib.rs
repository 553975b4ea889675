//! What the voting app's three services share, by what each part is for:
//!
//! - the settings: `cli` (the command line, each flag also an environment
//!   variable) and `config` (their checked values: URLs, ports, the drain);
//! - the poll: `poll` (the two options on the ballot);
//! - the process: `service` (run until stopped, `healthcheck`), `app` (one
//!   builder for every service: ports, metrics, routes, drain), `shutdown`
//!   (signals), `telemetry` (logging);
//! - serving: `http` (the actix-web server, drain, probes, request metrics),
//!   `edge` (what every answer carries: security headers, when a connection
//!   closes, the body deadline), `metrics` (the Prometheus recorder);
//! - the stores: `redis_link` (a Redis connection that survives a silent
//!   server), `postgres_link` (Postgres connections with time limits),
//!   `tls` (rustls for Redis and Postgres), `backoff` (retries).
//!
//! What the services say to each other (the vote message, the Redis keys,
//! the Postgres names) is the `wire` crate.

pub mod app;
pub mod backoff;
pub mod cli;
pub mod config;
pub mod edge;
pub mod http;
pub mod metrics;
pub mod poll;
pub mod postgres_link;
pub mod redis_link;
pub mod service;
pub mod shutdown;
pub mod telemetry;
pub mod tls;

/// An error and its causes on one line (`outer: inner: root`), for messages
/// whose outer layer alone says too little, such as a TLS handshake failure.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let line = inner.to_string();
        if !text.ends_with(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        cause = inner.source();
    }
    text
}

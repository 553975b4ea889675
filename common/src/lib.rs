//! The plumbing the voting app's three services share: configuration and
//! the command line, TLS, a Redis connection that survives a silent server, the HTTP server with health, readiness and metrics,
//! telemetry, graceful stop, and backoff. What the services say to each other
//! (the vote message, the Redis keys, the Postgres names) is the `wire` crate.

pub mod backoff;
pub mod cli;
pub mod config;
pub mod http;
pub mod metrics;
pub mod redis_link;
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

//! Shared building blocks of the voting app's three services.
//!
//! Everything that two or more services must agree on lives here, so that the
//! contract with the original example voting app (the Redis list `votes`, its JSON,
//! the Postgres table `votes`) is written down exactly once.

pub mod backoff;
pub mod ballot;
pub mod cli;
pub mod config;
pub mod http;
pub mod metrics;
pub mod queue;
pub mod schema;
pub mod shutdown;
pub mod tally;
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

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

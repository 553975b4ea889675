//! The load generator: what the compose `seed` profile and the Kubernetes
//! seed Job run, and what load tests use.
//!
//! [`plan`] is the command line; [`schedule`] when each vote is due in an open
//! model; [`run`] casts the votes over [`client`] connections (TLS
//! for `https://` by [`tls`]); [`report`] is
//! the summary (requests/s, latency percentiles, errors by kind) as a table
//! or JSON.
//! A non-2xx answer or a connection error is an error, never a success.

pub mod client;
pub mod plan;
pub mod report;
pub mod run;
pub mod schedule;
pub mod tls;

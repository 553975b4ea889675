//! The load generator: what the compose `seed` profile and the Kubernetes
//! seed Job run, and what load tests use.
//!
//! [`plan`] is the command line; [`run`] casts the votes; [`report`] is the
//! summary (requests/s, latency percentiles, errors by kind) as a table or JSON.
//! A non-2xx answer or a connection error is an error, never a success.

pub mod plan;
pub mod report;
pub mod run;

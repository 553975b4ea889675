//! The load generator: what the compose `seed` profile and the Kubernetes
//! seed Job run, and what load tests use.
//!
//! [`plan`] is the command line; [`schedule`] when each vote is due in an open
//! model; [`run`] casts the votes over [`client`] connections (TLS
//! for `https://` by [`tls`]); [`report`] is
//! the summary (requests/s, latency percentiles, errors by kind) as a table
//! or JSON, and [`page`] the HTML report with [`chart`]s of the run's
//! [`timeline`]. With `--check-tally`, [`ledger`] notes what each voter was
//! told and [`tally`] checks the result service's counts against it.
//! A non-2xx answer or a connection error is an error, never a success.

/// seed's version, as the report names it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub mod chart;
pub mod client;
pub mod ledger;
pub mod page;
pub mod plan;
pub mod report;
pub mod run;
pub mod schedule;
pub mod tally;
pub mod timeline;
pub mod tls;

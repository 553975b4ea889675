//! The integration suite: our real binaries against real Redis and Postgres
//! servers started by the harness. One test binary; tests run in parallel,
//! each with servers of its own.

// Test code: a panic with the value shown is the failure report.
#![allow(clippy::unwrap_used)]

mod harness;

mod app_deployment;
mod browser;
mod cluster;
mod config;
mod containers;
mod deploy;
mod edge;
mod end_to_end;
mod failover;
mod faults;
mod group_commit;
mod last_vote_wins;
mod load_generator;
mod observability;
mod observability_data;
mod operability;
mod pipelining;
mod result_service;
mod run_script;
mod schema;
mod silent_postgres;
mod tls;
mod vote_service;
mod worker_service;

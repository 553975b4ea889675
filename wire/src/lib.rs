//! The wire format: what our services and the original app's agree on, and
//! nothing else, so it is written down once and each service compiles only it
//! plus its own code.
//!
//! - [`ballot`]: the vote message on the Redis list `votes` (the original
//!   JSON, plus the cast time);
//! - [`id`]: the form of the voter ids the ballots carry;
//! - [`queue`]: the Redis keys (the queue, the dead letters, the workers' lists);
//! - [`schema`]: the Postgres names every service reads or writes.

pub mod ballot;
pub mod id;
pub mod queue;
pub mod schema;

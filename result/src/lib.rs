//! The result service: the totals of the poll, live.
//!
//! One task per process follows Postgres ([`live`]): it reads the two totals
//! when a `NOTIFY vote_counts` says they changed and publishes them; every
//! page, API call and browser stream ([`routes`]) serves that one snapshot, so
//! the database sees one small read per update however many people watch.

pub mod config;
pub mod events;
pub mod live;
pub mod page;
pub mod routes;
pub mod startup;
pub mod tally;
pub mod totals;

//! The vote service: renders the ballot, takes one vote per request and queues
//! it on the Redis list `votes`, exactly as the original vote image does.

pub mod ballot_box;
pub mod config;
pub mod error;
pub mod group_commit;
pub mod page;
pub mod routes;
pub mod stamp;
pub mod startup;
pub mod transport;
pub mod voter;

//! The worker: claims votes from Redis, stores them in Postgres, and only then
//! lets go of them, so a vote acknowledged by `vote` is never lost.
//!
//! - [`claim`]: the Redis side (claim a batch, acknowledge it, heartbeat,
//!   recover the batches of workers that died);
//! - [`batch`]: turning claimed messages into one ballot per voter, and poison;
//! - [`store`]: the Postgres side (one idempotent multi-row upsert per batch);
//! - [`pipeline`]: one step of the loop, `process_batch`, and the loop itself;
//! - [`refusal`]: votes Postgres refuses (not an outage): split, set aside;
//! - [`migrate`]: the versioned schema and `worker migrate`.

pub mod batch;
pub mod claim;
pub mod config;
pub mod keys;
pub mod migrate;
pub mod pipeline;
pub mod refusal;
pub mod startup;
pub mod store;

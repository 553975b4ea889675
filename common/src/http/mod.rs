//! HTTP plumbing every service shares, by job:
//!
//! - `server`: binding the ports, the app every service shares
//!   and running its servers (a service builds them through [`crate::app`]);
//! - `drain`: the graceful stop ([`Drain`], [`Draining`]);
//! - `observe`: request ids, spans and request metrics ([`observe`]);
//! - `probes`: `/healthz`, `/readyz` and `/metrics`;
//! - `routes`: which routes a server serves ([`Routes`]) and how they are
//!   registered.
//!
//! Everything is used through this module (`common::http::…`): the parts
//! are private so that a service never depends on how they are split.

mod drain;
mod observe;
mod probes;
mod routes;
mod server;

pub use drain::{Drain, Draining};
pub use observe::{observe, RequestId, REQUEST_ID};
pub use probes::{healthz, metrics, Readiness};
pub use routes::{operational_routes, readable, static_asset, Routes};
pub(crate) use server::{serve, servers, Listeners, Servers};
pub use server::{Serving, SHUTDOWN_TIMEOUT_SECS, STALLED_PEER};

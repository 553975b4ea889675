//! One shape for every service: [`Builder::bind`] installs the metrics
//! recorder, binds the ports (the page port, and `METRICS_PORT` for
//! `/readyz` and `/metrics` when set) and starts timing the drain;
//! [`Builder::serve`] takes the service's routes, configured on each HTTP
//! worker thread; [`Application::run_until_stopped`] serves until the drain
//! is over. What is left to a service's `startup` is its own: its state,
//! its routes, its start-up line.
//!
//! A stop runs the same way everywhere ([`Drain`]): from SIGTERM `/readyz`
//! answers 503 while the servers keep serving for the drain time; then they
//! stop accepting and let the requests in flight finish. A service with work
//! of its own beside its HTTP routes (the worker's loop) hands it to
//! [`Application::beside`]: the servers keep answering probes and scrapes
//! until that work has ended too.

use crate::config::Listen;
use crate::http::{serve, servers, Drain, Listeners, Routes, Servers, Serving};
use actix_web::web;
use std::future::Future;
use std::pin::Pin;
use tokio_util::sync::CancellationToken;

/// A service whose ports are bound and whose routes are not given yet.
#[derive(Debug)]
pub struct Builder {
    name: &'static str,
    stop: CancellationToken,
    drain: Drain,
    listeners: Listeners,
    port: u16,
    metrics_port: Option<u16>,
}

impl Builder {
    /// Installs the metrics recorder (so the service can describe its own
    /// metrics next), binds `listen`'s ports and times the drain from `stop`.
    pub fn bind(
        name: &'static str,
        listen: &Listen,
        stop: CancellationToken,
    ) -> anyhow::Result<Self> {
        crate::metrics::handle();
        let (listeners, port, metrics_port) =
            Listeners::bind(listen.address, listen.port, listen.metrics_port)?;
        let drain = Drain::after(&stop, listen.drain);
        Ok(Self {
            name,
            stop,
            drain,
            listeners,
            port,
            metrics_port,
        })
    }

    /// Cancelled when the drain is over, for what lives as long as the
    /// servers serve (result's feed, and with it its event streams).
    pub fn drain_over(&self) -> CancellationToken {
        self.drain.over().clone()
    }

    /// The servers on the bound ports: `configure` is called on each HTTP
    /// worker thread with the routes that server serves (see [`Routes`]).
    pub fn serve<F>(self, serving: Serving, configure: F) -> std::io::Result<Application>
    where
        F: Fn(&mut web::ServiceConfig, Routes) + Clone + Send + 'static,
    {
        let servers = servers(self.listeners, serving, &self.stop, configure)?;
        Ok(Application {
            name: self.name,
            servers,
            drain: self.drain,
            port: self.port,
            metrics_port: self.metrics_port,
            work: Box::pin(std::future::ready(())),
        })
    }
}

/// A service ready to run: its servers, its drain, and any work beside them.
pub struct Application {
    name: &'static str,
    servers: Servers,
    drain: Drain,
    port: u16,
    metrics_port: Option<u16>,
    work: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl Application {
    /// The page port as bound (a free one when asked for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of `/readyz` and `/metrics` as bound, when `METRICS_PORT` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    /// `work` runs beside the servers from the start; it must end once
    /// `stop` is cancelled, and the servers stop only after it has.
    pub fn beside(mut self, work: impl Future<Output = ()> + Send + 'static) -> Self {
        self.work = Box::pin(work);
        self
    }

    /// Serves until the work beside has ended and the drain is over, then
    /// lets the requests in flight finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let worked = CancellationToken::new();
        let (work_ended, drain) = (worked.clone(), self.drain);
        let over = async move {
            work_ended.cancelled().await;
            drain.over().cancelled().await;
        };
        let work = async {
            self.work.await;
            worked.cancel();
        };
        let (outcome, ()) = tokio::join!(serve(self.servers, over), work);
        tracing::info!("{} stopped", self.name);
        outcome
    }
}

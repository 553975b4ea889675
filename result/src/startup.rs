//! Builds the result service: binds the port, starts following Postgres, runs
//! until stopped (open streams are ended first so the stop is quick).

use crate::config::Config;
use crate::routes::{routes, ResultState};
use actix_web::dev::Server;
use actix_web::web;
use tokio_util::sync::CancellationToken;

#[allow(missing_debug_implementations)]
pub struct Application {
    port: u16,
    server: Server,
    stop: CancellationToken,
    drain: std::time::Duration,
}

impl Application {
    pub fn build(config: Config, stop: CancellationToken) -> anyhow::Result<Self> {
        common::metrics::handle();
        let (listener, port) = common::http::bind(config.bind, config.port)?;
        let feed = crate::live::follow(
            config.database.clone(),
            config.options.clone(),
            stop.clone(),
        );
        let state = web::Data::new(ResultState {
            options: config.options.clone(),
            feed,
        });
        let server = common::http::server(listener, None, &stop, move |cfg| {
            cfg.app_data(state.clone()).configure(routes);
        })?;
        tracing::info!(
            port,
            database = %config.database,
            option_a = %config.options.a,
            option_b = %config.options.b,
            "result listening"
        );
        Ok(Self {
            port,
            server,
            stop,
            drain: config.drain,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let outcome = common::http::serve(self.server, self.stop, self.drain).await;
        tracing::info!("result stopped");
        outcome
    }
}

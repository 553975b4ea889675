//! Builds the result service: binds the port, starts following Postgres, runs
//! until stopped. The server is actix-web's own; a stop drains as every
//! service's does ([`common::http::Drain`]), and the open event streams end
//! when the drain time is over.

use crate::config::Config;
use crate::routes::{routes, ResultState};
use actix_web::web;
use common::http::{Drain, Serving};
use tokio_util::sync::CancellationToken;

pub struct Application {
    port: u16,
    server: common::http::Servers,
    drain: Drain,
}

impl Application {
    pub fn build(config: Config, stop: CancellationToken) -> anyhow::Result<Self> {
        common::metrics::handle();
        crate::live::describe_metrics();
        crate::events::describe_metrics();
        let (listeners, port, metrics_port) =
            common::http::Listeners::bind(config.bind, config.port, config.metrics_port)?;
        let drain = Drain::after(&stop, config.drain);
        let feed = crate::live::follow(
            config.database.clone(),
            config.options.clone(),
            drain.over().clone(),
        );
        let state = web::Data::new(ResultState {
            options: config.options.clone(),
            feed,
        });
        let serving = Serving {
            streams: true,
            ..Serving::default()
        };
        let server = common::http::servers(listeners, serving, &stop, move |cfg, part| {
            cfg.app_data(state.clone())
                .configure(|cfg| routes(cfg, part));
        })?;
        tracing::info!(
            port,
            metrics_port,
            database = %config.database,
            option_a = %config.options.a,
            option_b = %config.options.b,
            "result listening"
        );
        Ok(Self {
            port,
            server,
            drain,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let outcome = common::http::serve(self.server, self.drain).await;
        tracing::info!("result stopped");
        outcome
    }
}

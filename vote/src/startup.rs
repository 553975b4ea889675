//! Builds the vote service: binds the port, wires the state, runs until stopped.

use crate::ballot_box::BallotBox;
use crate::config::Config;
use crate::routes::{routes, VoteState};
use crate::stamp::Stamper;
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
    /// Binds the port and prepares the server; Redis is connected lazily.
    pub fn build(config: Config, stop: CancellationToken) -> anyhow::Result<Self> {
        common::metrics::handle();
        let (listener, port) = common::http::bind(config.bind, config.port)?;
        let ballot_box = BallotBox::connect(&config.redis)?;
        ballot_box.warm_up();
        let state = web::Data::new(VoteState {
            ballot_box,
            options: config.options.clone(),
            hostname: config.hostname.clone(),
            stamper: Stamper::default(),
        });
        let server = common::http::server(listener, None, &stop, move |cfg| {
            cfg.app_data(state.clone()).configure(routes);
        })?;
        tracing::info!(
            port,
            redis = %config.redis,
            option_a = %config.options.a,
            option_b = %config.options.b,
            "vote listening"
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
        tracing::info!("vote stopped");
        outcome
    }
}

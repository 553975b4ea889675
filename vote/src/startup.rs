//! Builds the vote service: binds the port, wires the state, runs until stopped.

use crate::ballot_box::BallotBox;
use crate::config::Config;
use crate::page::Pages;
use crate::routes::{routes, AcceptedVotes, VoteState};
use crate::stamp::Stamper;
use actix_web::web;
use tokio_util::sync::CancellationToken;

pub struct Application {
    port: u16,
    server: common::http::Servers,
    stop: CancellationToken,
    drain: std::time::Duration,
}

impl Application {
    /// Binds the port and prepares the server; Redis is connected lazily.
    pub fn build(config: Config, stop: CancellationToken) -> anyhow::Result<Self> {
        common::metrics::handle();
        crate::routes::describe_metrics();
        let (listeners, port, metrics_port) =
            common::http::Listeners::bind(config.bind, config.port, config.metrics_port)?;
        // Checked here, so a bad URL stops the start instead of a worker.
        BallotBox::check(&config.redis)?;
        let pages = Pages::render(&config.options, &config.hostname)?;
        let state = web::Data::new(VoteState {
            pages,
            options: config.options.clone(),
            hostname: config.hostname.clone(),
            stamper: Stamper::default(),
            accepted: AcceptedVotes::default(),
            trusted_proxies: config.trusted_proxies.clone(),
        });
        let redis = config.redis.clone();
        let replication = config.replication;
        let server =
            common::http::servers(listeners, Default::default(), &stop, move |cfg, part| {
                // Each HTTP worker thread gets its own Redis connection, driven on
                // that thread: a vote's RPUSH never wakes another thread.
                let ballot_box =
                    BallotBox::connect(&redis, replication).expect("the URL was checked at start");
                ballot_box.warm_up();
                cfg.app_data(state.clone())
                    .app_data(web::Data::new(ballot_box))
                    .configure(|cfg| routes(cfg, part));
            })?;
        tracing::info!(
            port,
            metrics_port,
            redis = %config.redis,
            redis_min_replicas = config.replication.replicas,
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
        let outcome = common::http::serve(
            self.server,
            common::http::Drain::after(&self.stop, self.drain),
        )
        .await;
        tracing::info!("vote stopped");
        outcome
    }
}

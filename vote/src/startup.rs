//! Builds the vote service on [`common::app`]: its state, a Redis connection
//! per HTTP worker thread, its routes.

use crate::ballot_box::BallotBox;
use crate::config::Config;
use crate::page::Pages;
use crate::routes::{routes, AcceptedVotes, VoteState};
use crate::stamp::Stamper;
use actix_web::web;
use common::app::{Application, Builder};
use tokio_util::sync::CancellationToken;

/// Binds the ports and prepares the server; Redis is connected lazily.
pub fn build(config: Config, stop: CancellationToken) -> anyhow::Result<Application> {
    let builder = Builder::bind("vote", &config.listen, stop)?;
    crate::routes::describe_metrics();
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
    let application = builder.serve(Default::default(), move |cfg, part| {
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
        port = application.port(),
        metrics_port = application.metrics_port(),
        redis = %config.redis,
        redis_min_replicas = config.replication.replicas,
        option_a = %config.options.a,
        option_b = %config.options.b,
        "vote listening"
    );
    Ok(application)
}

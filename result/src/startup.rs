//! Builds the result service on [`common::app`]: the feed that follows
//! Postgres, its routes. The open event streams end with the feed, when the
//! drain time is over.

use crate::config::Config;
use crate::routes::{routes, ResultState};
use actix_web::web;
use common::app::{Application, Builder};
use common::http::Serving;
use tokio_util::sync::CancellationToken;

pub fn build(config: Config, stop: CancellationToken) -> anyhow::Result<Application> {
    let builder = Builder::bind("result", &config.listen, stop)?;
    crate::live::describe_metrics();
    crate::events::describe_metrics();
    let feed = crate::live::follow(
        config.database.clone(),
        config.options.clone(),
        builder.drain_over(),
    );
    let state = web::Data::new(ResultState {
        options: config.options.clone(),
        feed,
    });
    let serving = Serving {
        streams: true,
        ..Serving::default()
    };
    let application = builder.serve(serving, move |cfg, part| {
        cfg.app_data(state.clone())
            .configure(|cfg| routes(cfg, part));
    })?;
    tracing::info!(
        port = application.port(),
        metrics_port = application.metrics_port(),
        database = %config.database,
        option_a = %config.options.a,
        option_b = %config.options.b,
        "result listening"
    );
    Ok(application)
}

//! Builds the result service: binds the port, starts following Postgres, runs
//! until stopped (open streams are ended first so the stop is quick).
//!
//! The server is actix's (an accepting thread, one worker per core), but its
//! connections are served by [`crate::connection`] rather than actix-http,
//! each request answered by the actix-web app.

use crate::config::Config;
use crate::routes::{routes, ResultState};
use actix_web::dev::{fn_factory, fn_service, AppConfig, Server, ServiceFactory};
use actix_web::web;
use std::rc::Rc;
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
        crate::live::describe_metrics();
        crate::events::describe_metrics();
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
        let server = server(listener, &stop, state)?;
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

/// One app per worker thread; each connection served by [`crate::connection`].
fn server(
    listener: std::net::TcpListener,
    stop: &CancellationToken,
    state: web::Data<ResultState>,
) -> std::io::Result<Server> {
    let stop = stop.clone();
    let server = Server::build()
        .disable_signals()
        .shutdown_timeout(common::http::SHUTDOWN_TIMEOUT_SECS)
        .listen("result", listener, move || {
            let (stop, state) = (stop.clone(), state.clone());
            fn_factory(move || {
                let state = state.clone();
                let app = common::http::app(&stop, move |cfg| {
                    cfg.app_data(state).configure(routes);
                });
                let stop = stop.clone();
                async move {
                    let app = actix_service::IntoServiceFactory::into_factory(app)
                        .new_service(AppConfig::default())
                        .await?;
                    let app = Rc::new(app);
                    Ok::<_, ()>(fn_service(move |connection: tokio::net::TcpStream| {
                        let (app, stop) = (app.clone(), stop.clone());
                        async move {
                            crate::connection::serve(connection, &*app, &stop).await;
                            Ok::<_, ()>(())
                        }
                    }))
                }
            })
        })?;
    Ok(server.run())
}

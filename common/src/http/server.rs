//! The actix-web servers of a service: binding its ports, building the app
//! every service shares (middleware, edge, the answer to unrouted requests),
//! and running the servers until the drain is over. Signals are ours to
//! handle (see [`crate::shutdown`]), not actix's.

use super::{observe, Draining, Routes};
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::web;
use std::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Binds `address:port` (port 0 picks a free one, as tests do).
fn bind(address: std::net::IpAddr, port: u16) -> anyhow::Result<(TcpListener, u16)> {
    use anyhow::Context;
    let listener = TcpListener::bind((address, port)).with_context(|| {
        format!("binding {address} port {port} (set BIND_ADDRESS or PORT to change it)")
    })?;
    let bound = listener.local_addr()?.port();
    Ok((listener, bound))
}

/// How a service's connections are kept.
#[derive(Debug, Clone, Copy, Default)]
pub struct Serving {
    /// Worker threads; one per core when `None`.
    pub workers: Option<usize>,
    /// The service answers with long-lived streams: a client that closes
    /// its side has left (its stream ends at once, not at its next write),
    /// and a connection whose peer takes nothing for [`STALLED_PEER`] is
    /// dropped by the kernel (`TCP_USER_TIMEOUT`), as actix-http has no
    /// write timeout of its own.
    pub streams: bool,
}

/// How long a streaming connection may leave what is sent to it unread.
pub const STALLED_PEER: std::time::Duration = std::time::Duration::from_secs(30);

/// The ports a page service listens on: its pages, and `/readyz` and
/// `/metrics` on their own port when one is set.
#[derive(Debug)]
pub struct Listeners {
    pages: TcpListener,
    operations: Option<TcpListener>,
}

impl Listeners {
    /// Binds `port`, and `metrics_port` when set; returns the ports bound
    /// (port 0 picks a free one, as tests do).
    pub fn bind(
        address: std::net::IpAddr,
        port: u16,
        metrics_port: Option<u16>,
    ) -> anyhow::Result<(Self, u16, Option<u16>)> {
        let (pages, port) = bind(address, port)?;
        let (operations, metrics_port) = match metrics_port {
            Some(metrics_port) => {
                let (listener, bound) = bind(address, metrics_port)?;
                (Some(listener), Some(bound))
            }
            None => (None, None),
        };
        Ok((Self { pages, operations }, port, metrics_port))
    }
}

/// A service's running HTTP servers (see [`Listeners`]).
pub struct Servers {
    pages: Server,
    operations: Option<Server>,
}

/// The servers on `listeners`: `configure` is called for each app with the
/// routes that server serves. The operational server has one worker thread;
/// probes and scrapes are a few requests a second.
pub(crate) fn servers<F>(
    listeners: Listeners,
    serving: Serving,
    stop: &CancellationToken,
    configure: F,
) -> std::io::Result<Servers>
where
    F: Fn(&mut web::ServiceConfig, Routes) + Clone + Send + 'static,
{
    // Each app knows which routes it serves (readiness tells less to the
    // public than to the operational port).
    let configure = move |cfg: &mut web::ServiceConfig, routes: Routes| {
        cfg.app_data(web::Data::new(routes));
        configure(cfg, routes)
    };
    let Some(operations) = listeners.operations else {
        let pages = server(listeners.pages, serving, stop, move |cfg| {
            configure(cfg, Routes::All)
        })?;
        return Ok(Servers {
            pages,
            operations: None,
        });
    };
    let for_pages = configure.clone();
    let pages = server(listeners.pages, serving, stop, move |cfg| {
        for_pages(cfg, Routes::Pages)
    })?;
    let quiet = Serving {
        workers: Some(1),
        streams: false,
    };
    let operations = server(operations, quiet, stop, move |cfg| {
        configure(cfg, Routes::Operations)
    })?;
    Ok(Servers {
        pages,
        operations: Some(operations),
    })
}

/// An HTTP server on `listener` whose app is [`app`]; signals are ours to
/// handle (see [`serve`]).
fn server<F>(
    listener: TcpListener,
    serving: Serving,
    stop: &CancellationToken,
    configure: F,
) -> std::io::Result<Server>
where
    F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    let stop = stop.clone();
    let mut server = actix_web::HttpServer::new(move || app(&stop, configure.clone()))
        .disable_signals()
        .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS);
    if let Some(workers) = serving.workers {
        server = server.workers(workers);
    }
    if serving.streams {
        server = server
            .h1_allow_half_closed(false)
            .on_connect(|connection, _| {
                let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() else {
                    return;
                };
                if let Err(e) = socket2::SockRef::from(tcp).set_tcp_user_timeout(Some(STALLED_PEER))
                {
                    tracing::debug!(error = %e, "TCP_USER_TIMEOUT not set");
                }
            });
    }
    Ok(server.listen(listener)?.run())
}

/// How long a stopping server waits for its open connections, in seconds.
pub const SHUTDOWN_TIMEOUT_SECS: u64 = 10;

/// A service's app: `configure` plus the request middleware (`observe`,
/// which also does what the edge does around every answer) and the answer
/// to requests no route takes (see [`crate::edge`]). Handlers can ask `web::Data<Draining>` whether `stop` has
/// been cancelled.
fn app<F>(
    stop: &CancellationToken,
    configure: F,
) -> actix_web::App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
>
where
    F: FnOnce(&mut web::ServiceConfig),
{
    let draining = Draining::new(stop);
    let observed = std::rc::Rc::new(draining.clone());
    actix_web::App::new()
        .app_data(web::Data::new(draining))
        .wrap(actix_web::middleware::from_fn(move |req, next| {
            observe(std::rc::Rc::clone(&observed), req, next)
        }))
        .configure(configure)
        .default_service(web::to(crate::edge::unrouted))
}

/// Runs `servers` until `over` (the drain, see [`crate::app`]) has ended,
/// then stops accepting and lets the requests in flight finish.
pub(crate) async fn serve(
    servers: Servers,
    over: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let handles = (
        servers.pages.handle(),
        servers.operations.as_ref().map(Server::handle),
    );
    let stopper = tokio::spawn(async move {
        over.await;
        let (pages, operations) = handles;
        let operations = async {
            if let Some(handle) = operations {
                handle.stop(true).await;
            }
        };
        tokio::join!(pages.stop(true), operations);
    });
    let outcome = match servers.operations {
        None => servers.pages.await,
        Some(operations) => {
            let (pages, operations) = tokio::join!(servers.pages, operations);
            pages.and(operations)
        }
    };
    stopper.abort();
    outcome
}

//! HTTP plumbing every service shares: the listener, graceful stop, request
//! spans and metrics, and the `/healthz`, `/readyz` and `/metrics` endpoints.

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};
use std::net::TcpListener;
use std::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// The route label of requests no route matched (404s, whatever their path).
const UNMATCHED: &str = "unmatched";

/// The header carrying each request's id, echoed on the response.
pub const REQUEST_ID: &str = "x-request-id";

/// Binds `address:port` (port 0 picks a free one, as tests do).
pub fn bind(address: std::net::IpAddr, port: u16) -> anyhow::Result<(TcpListener, u16)> {
    use anyhow::Context;
    let listener = TcpListener::bind((address, port)).with_context(|| {
        format!("binding {address} port {port} (set BIND_ADDRESS or PORT to change it)")
    })?;
    let bound = listener.local_addr()?.port();
    Ok((listener, bound))
}

/// Whether the service is stopping: from the first SIGTERM on, `/readyz`
/// answers 503 so load balancers stop sending new connections, while the
/// server keeps serving for the drain time (see `serve`).
#[derive(Debug, Clone)]
pub struct Draining(CancellationToken);

impl Draining {
    pub fn is_draining(&self) -> bool {
        self.0.is_cancelled()
    }
}

/// The drain after a stop request, shared by every service: `stop` is
/// cancelled on SIGTERM (from then on `/readyz` answers 503 while new
/// connections are still answered), and [`Drain::over`] `time` later, when the
/// server stops accepting, lets the requests in flight finish, and
/// long-lived answers (result's event streams) end.
#[derive(Debug, Clone)]
pub struct Drain {
    over: CancellationToken,
}

impl Drain {
    /// Starts timing the drain: it is over `time` after `stop` is cancelled.
    pub fn after(stop: &CancellationToken, time: std::time::Duration) -> Self {
        let over = CancellationToken::new();
        let (stop, ending) = (stop.clone(), over.clone());
        tokio::spawn(async move {
            stop.cancelled().await;
            if !time.is_zero() {
                tracing::info!(
                    drain_ms = time.as_millis() as u64,
                    "readiness now 503; serving until the drain time is over"
                );
            }
            tokio::time::sleep(time).await;
            ending.cancel();
        });
        Self { over }
    }

    /// Cancelled when the drain time is over.
    pub fn over(&self) -> &CancellationToken {
        &self.over
    }
}

/// Runs `servers` until `drain` is over, then stops accepting and lets the
/// requests in flight finish.
pub async fn serve(servers: Servers, drain: Drain) -> std::io::Result<()> {
    let handles = (
        servers.pages.handle(),
        servers.operations.as_ref().map(Server::handle),
    );
    let stopper = tokio::spawn(async move {
        drain.over.cancelled().await;
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

/// Middleware: the request's id (taken from `x-request-id` or drawn) echoed on
/// the response, `http_requests_total` / `http_request_duration_seconds` by
/// route and status, and a warning naming the id for every 5xx.
///
/// The span around the request, with its id, is at debug level: formatting
/// its fields cost about a tenth of a vote's CPU (callgrind). By default the
/// failure line names the id, and handlers name it in their own lines with
/// [`RequestId::of`]; `RUST_LOG=debug` puts every line under the span.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let route = req.match_pattern().unwrap_or_else(|| UNMATCHED.into());
    let method = method_label(req.method());
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_safe_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(new_request_id);
    let header = HeaderValue::from_str(&request_id).ok();
    if let Some(header) = &header {
        req.extensions_mut().insert(RequestId(header.clone()));
    }
    let span = tracing::debug_span!("request", %method, %route, %request_id);
    let mut res = next.call(req).instrument(span.clone()).await?;
    let status = res.status();
    let elapsed = started.elapsed();
    if let Some(header) = header {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID), header);
    }
    // A draining service's 503 on /readyz is the stop working as designed.
    let draining_probe = route == "/readyz";
    RequestMetrics::with(&route, method, status.as_u16(), |m| {
        m.requests.increment(1);
        m.duration.record(elapsed.as_secs_f64());
    });
    span.in_scope(|| {
        if status.is_server_error() && !draining_probe {
            tracing::warn!(
                %method,
                %route,
                %request_id,
                status = status.as_u16(),
                elapsed_ms = elapsed.as_millis() as u64,
                "request failed"
            );
        } else {
            tracing::debug!(
                status = status.as_u16(),
                elapsed_ms = elapsed.as_millis() as u64,
                "request done"
            );
        }
    });
    Ok(res)
}

/// The id of the request being served, for a handler's log lines.
#[derive(Debug, Clone)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The id `observe` gave this request (empty outside the middleware).
    pub fn of(req: &actix_web::HttpRequest) -> String {
        req.extensions()
            .get::<RequestId>()
            .and_then(|id| id.0.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

/// The method as a metric label: one of the standard methods, else `other`,
/// so that what clients send cannot add series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// `http_requests_total` and `http_request_duration_seconds` of one route,
/// method and status. Looking a labelled metric up builds and hashes its key,
/// so each worker thread keeps the handles it has used, found by route
/// pattern, then method label and status. Every part of the key is bounded:
/// routes are the app's patterns (or `unmatched`), methods [`method_label`],
/// statuses three digits.
struct RequestMetrics {
    requests: metrics::Counter,
    duration: metrics::Histogram,
}

type MetricsByRoute = std::collections::HashMap<
    String,
    std::collections::HashMap<(&'static str, u16), RequestMetrics>,
>;

thread_local! {
    static REQUEST_METRICS: std::cell::RefCell<MetricsByRoute> =
        std::cell::RefCell::new(MetricsByRoute::new());
}

impl RequestMetrics {
    fn with(route: &str, method: &'static str, status: u16, f: impl FnOnce(&Self)) {
        REQUEST_METRICS.with_borrow_mut(|known| {
            if !known.contains_key(route) {
                known.insert(route.to_owned(), Default::default());
            }
            let Some(of_route) = known.get_mut(route) else {
                return;
            };
            let metrics = of_route.entry((method, status)).or_insert_with(|| {
                let labels = [
                    ("route", route.to_owned()),
                    ("method", method.to_owned()),
                    ("status", status.to_string()),
                ];
                Self {
                    requests: metrics::counter!("http_requests_total", &labels),
                    duration: metrics::histogram!("http_request_duration_seconds", &labels),
                }
            });
            f(metrics);
        });
    }
}

fn is_safe_request_id(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn new_request_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Liveness: the process answers; no dependency is checked.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok\n")
}

/// `/metrics` in Prometheus text format.
pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::render())
}

/// An asset embedded in the binary, cacheable for an hour.
pub fn static_asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            actix_web::http::header::CACHE_CONTROL,
            "public, max-age=3600",
        ))
        .body(body)
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

/// Which of a service's routes one server serves: everything on one port,
/// or, with `METRICS_PORT`, the pages on the page port and `/readyz` and
/// `/metrics` on a port of their own that the Service for users and the
/// Ingress do not expose. `/healthz` (liveness, nothing more than "ok") is on
/// both, so `healthcheck` and the images' `HEALTHCHECK` still ask the page port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routes {
    All,
    Pages,
    Operations,
}

impl Routes {
    pub fn pages(self) -> bool {
        self != Self::Operations
    }

    pub fn operations(self) -> bool {
        self != Self::Pages
    }
}

/// The ports a page service listens on: its pages, and `/readyz` and
/// `/metrics` on their own port when one is set.
#[derive(Debug)]
pub struct Listeners {
    pub pages: TcpListener,
    pub operations: Option<TcpListener>,
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
#[allow(missing_debug_implementations)]
pub struct Servers {
    pages: Server,
    operations: Option<Server>,
}

/// The servers on `listeners`: `configure` is called for each app with the
/// routes that server serves. The operational server has one worker thread;
/// probes and scrapes are a few requests a second.
pub fn servers<F>(
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

/// A service's app: `configure` plus the request middleware (`observe`),
/// what the edge adds to every answer and the answer to requests no route
/// takes (see [`crate::edge`]). Handlers can ask `web::Data<Draining>` whether `stop` has
/// been cancelled.
pub fn app<F>(
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
    actix_web::App::new()
        .app_data(web::Data::new(Draining(stop.clone())))
        .wrap(actix_web::middleware::from_fn(crate::edge::close_when_done))
        .wrap(crate::edge::security_headers())
        .wrap(actix_web::middleware::from_fn(observe))
        .configure(configure)
        .default_service(web::to(crate::edge::unrouted))
}

/// Routes every service serves: `/healthz` on every server, `/metrics` where
/// the operational routes are. (Routes are registered as resources so that a
/// known path asked with another method gets 405 with `Allow`, not 404.)
pub fn operational_routes(cfg: &mut web::ServiceConfig, routes: Routes) {
    cfg.service(readable("/healthz", healthz));
    if routes.operations() {
        cfg.service(readable("/metrics", metrics));
    }
}

/// A resource whose `handler` answers GET and HEAD (actix-http sends a HEAD
/// answer's headers without its body).
pub fn readable<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path).get(handler.clone()).head(handler)
}

/// Readiness: 200 while this process can serve its own routes, 503 once it
/// is draining. A dependency that is down does not make it unready (every
/// replica would leave its Service at once, and visitors would get refused
/// connections instead of the page that says the vote may not have been
/// recorded): each dependency's state is reported in the body,
/// `dependencies`, and as the gauge `dependency_up{dependency}`. Where
/// readiness shares the public port (no `METRICS_PORT`), a dependency down
/// is only "unavailable" in the body (its error text, which can name hosts
/// and users, goes to the log); on the operational port the body says why.
#[derive(Debug, Default)]
pub struct Readiness {
    checks: Vec<(&'static str, Result<(), String>)>,
}

impl Readiness {
    pub fn check(mut self, dependency: &'static str, outcome: Result<(), String>) -> Self {
        self.checks.push((dependency, outcome));
        self
    }

    pub fn into_response(self, req: &actix_web::HttpRequest) -> HttpResponse {
        let public = req
            .app_data::<web::Data<Routes>>()
            .is_none_or(|routes| *routes.get_ref() != Routes::Operations);
        let dependencies: serde_json::Map<String, serde_json::Value> = self
            .checks
            .iter()
            .map(|(name, outcome)| {
                metrics::gauge!("dependency_up", "dependency" => *name).set(if outcome.is_ok() {
                    1.0
                } else {
                    0.0
                });
                let state = match outcome {
                    Ok(()) => "ok".to_owned(),
                    Err(e) if public => {
                        tracing::warn!(dependency = *name, error = %e, "dependency unavailable");
                        "unavailable".to_owned()
                    }
                    Err(e) => format!("unavailable: {e}"),
                };
                ((*name).to_owned(), state.into())
            })
            .collect();
        let draining = req
            .app_data::<web::Data<Draining>>()
            .is_some_and(|d| d.is_draining());
        let body = serde_json::json!({
            "status": if draining { "draining" } else { "ready" },
            "dependencies": dependencies,
        });
        if draining {
            HttpResponse::ServiceUnavailable().json(body)
        } else {
            HttpResponse::Ok().json(body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_from_clients_are_kept_only_when_harmless() {
        assert!(is_safe_request_id("abc-123_x.y"));
        assert!(!is_safe_request_id(""));
        assert!(!is_safe_request_id("<script>"));
        assert!(!is_safe_request_id(&"a".repeat(65)));
        assert_eq!(new_request_id().len(), 16);
    }
}

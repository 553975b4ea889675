//! What is recorded of every request: its id (kept from `x-request-id` or
//! drawn, echoed on the answer), `http_requests_total` and
//! `http_request_duration_seconds` by route, method and status, a span, and a
//! warning for every 5xx. Every metric label is bounded, whatever clients send.

use super::Draining;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use std::rc::Rc;
use std::time::Instant;
use tracing::Instrument;

/// The route label of requests no route matched (404s, whatever their path).
const UNMATCHED: &str = "unmatched";

/// The header carrying each request's id, echoed on the response.
pub const REQUEST_ID: &str = "x-request-id";

/// [`REQUEST_ID`] as a header name: looking a header up by a `&str` that is
/// not a standard name copies the name into a new one first.
const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static(REQUEST_ID);

/// Middleware, the app's only one: the request's id (taken from
/// `x-request-id` or drawn) echoed on the response,
/// `http_requests_total` / `http_request_duration_seconds` by route and
/// status, a warning naming the id for every 5xx, and what the edge does
/// around every request ([`crate::edge::Edge`]: the security headers, when
/// the connection closes; `draining` says whether the service is).
///
/// The span around the request, with its id, is at debug level: formatting
/// its fields cost about a tenth of a vote's CPU (callgrind), and they are
/// computed only when it is enabled. By default the failure line names the
/// id, and handlers name it in their own lines with [`RequestId::of`];
/// `RUST_LOG=debug` puts every line under the span.
pub async fn observe(
    draining: Rc<Draining>,
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    // The client's own header is shared, not copied; a drawn id is made
    // as a header value directly.
    let header = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .filter(|v| v.to_str().is_ok_and(is_safe_request_id))
        .cloned()
        .unwrap_or_else(new_request_id);
    req.extensions_mut().insert(RequestId(header.clone()));
    let request_id = header.to_str().unwrap_or_default();
    // The route is looked up by path here only for an enabled span (the
    // macro evaluates its fields only then); the metrics take it from the
    // resource that answered, without walking the routes again.
    let span = tracing::debug_span!(
        "request",
        %method,
        route = %req.match_pattern().as_deref().unwrap_or(UNMATCHED),
        %request_id
    );
    let edge = crate::edge::Edge::enter(&mut req);
    let res = next.call(req).instrument(span.clone()).await?;
    let mut res = edge.leave(res, &draining);
    let status = res.status();
    let elapsed = started.elapsed();
    res.headers_mut().insert(REQUEST_ID_HEADER, header.clone());
    let route = res.request().match_pattern();
    let route = route.as_deref().unwrap_or(UNMATCHED);
    // A draining service's 503 on /readyz is the stop working as designed.
    let draining_probe = route == "/readyz";
    RequestMetrics::with(route, method, status.as_u16(), |m| {
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
/// so each worker thread keeps the handles it has used, in a list scanned
/// for route pattern, method label and status (a few dozen entries at most:
/// cheaper to scan than to hash the route). Every part of the key is
/// bounded: routes are the app's patterns (or `unmatched`), methods
/// [`method_label`], statuses three digits.
struct RequestMetrics {
    route: String,
    method: &'static str,
    status: u16,
    requests: metrics::Counter,
    duration: metrics::Histogram,
}

thread_local! {
    static REQUEST_METRICS: std::cell::RefCell<Vec<RequestMetrics>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl RequestMetrics {
    fn with(route: &str, method: &'static str, status: u16, f: impl FnOnce(&Self)) {
        REQUEST_METRICS.with_borrow_mut(|known| {
            let found = known
                .iter()
                .position(|m| m.status == status && m.method == method && m.route == route);
            let index = found.unwrap_or_else(|| {
                let labels = [
                    ("route", route.to_owned()),
                    ("method", method.to_owned()),
                    ("status", status.to_string()),
                ];
                known.push(Self {
                    route: route.to_owned(),
                    method,
                    status,
                    requests: metrics::counter!("http_requests_total", &labels),
                    duration: metrics::histogram!("http_request_duration_seconds", &labels),
                });
                known.len() - 1
            });
            f(&known[index]);
        });
    }
}

fn is_safe_request_id(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// 16 random hex digits, as the ids we issue.
fn new_request_id() -> HeaderValue {
    let digits = wire::id::hex16(rand::random::<u64>());
    HeaderValue::from_bytes(&digits).expect("hex digits are a valid header value")
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

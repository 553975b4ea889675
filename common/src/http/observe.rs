//! What is recorded of every request: its id (kept from `x-request-id` or
//! drawn, echoed on the answer), `http_requests_total` and
//! `http_request_duration_seconds` by route, method and status, a span, and a
//! warning for every 5xx. Every metric label is bounded, whatever clients send.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use std::time::Instant;
use tracing::Instrument;

/// The route label of requests no route matched (404s, whatever their path).
const UNMATCHED: &str = "unmatched";

/// The header carrying each request's id, echoed on the response.
pub const REQUEST_ID: &str = "x-request-id";

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

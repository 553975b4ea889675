//! The result service's HTTP surface: the page, `/api/results`, the live
//! `/events` stream, readiness and the embedded assets.

use crate::live::{Feed, State, UNAVAILABLE};
use crate::page::{ResultPage, SCRIPT, STYLE};
use crate::tally::Tally;
use actix_web::http::header::{self, ContentType};
use actix_web::http::Version;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use common::http::Routes;
use common::poll::PollOptions;

#[derive(Debug)]
pub struct ResultState {
    pub options: PollOptions,
    /// The totals; it ends on a graceful stop, and every open stream with it.
    pub feed: Feed,
}

pub fn routes(cfg: &mut web::ServiceConfig, routes: Routes) {
    use common::http::readable;
    if routes.pages() {
        cfg.service(readable("/", show))
            .service(readable("/api/results", api))
            .service(web::resource("/events").get(events).head(events_head))
            .service(readable("/static/result.css", style))
            .service(readable("/static/result.js", script));
    }
    if routes.operations() {
        cfg.service(readable("/readyz", readyz));
    }
    common::http::operational_routes(cfg, routes);
}

async fn show(state: web::Data<ResultState>) -> HttpResponse {
    let snapshot = state.feed.borrow().clone();
    let (tally, problem, mut builder) = match &snapshot.state {
        State::Current(tally) => (*tally, None, HttpResponse::Ok()),
        State::Unavailable(_) => (
            Tally::default(),
            Some(UNAVAILABLE),
            HttpResponse::ServiceUnavailable(),
        ),
    };
    match ResultPage::new(&state.options, tally, problem).render() {
        Ok(html) => builder
            .content_type(ContentType::html())
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(html),
        Err(e) => {
            tracing::error!(error = %e, "rendering the result page failed");
            HttpResponse::InternalServerError().body("the page could not be rendered")
        }
    }
}

async fn api(state: web::Data<ResultState>) -> HttpResponse {
    let snapshot = state.feed.borrow().clone();
    match &snapshot.state {
        State::Current(tally) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(tally.report(&state.options)),
        State::Unavailable(_) => HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, "1"))
            .json(serde_json::json!({ "error": UNAVAILABLE })),
    }
}

/// Server-Sent Events: the totals now and at each change (see
/// [`crate::events`]).
async fn events(req: HttpRequest, state: web::Data<ResultState>) -> HttpResponse {
    let mut response = event_stream_head().streaming(crate::events::stream(state.feed.clone()));
    if req.version() < Version::HTTP_11 {
        // actix-http would chunk it, which an HTTP/1.0 client cannot read
        // (RFC 9112, 6.1): the stream runs until the connection closes.
        response.head_mut().no_chunking(true);
    }
    response
}

/// HEAD `/events`: the stream's headers, and no stream (actix-http would
/// keep asking a stream for frames it then drops, for as long as it lasts).
async fn events_head() -> HttpResponse {
    event_stream_head().body(actix_web::body::None::new())
}

fn event_stream_head() -> actix_web::HttpResponseBuilder {
    let mut head = HttpResponse::Ok();
    head.content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"));
    head
}

async fn readyz(req: HttpRequest, state: web::Data<ResultState>) -> HttpResponse {
    let postgres = match &state.feed.borrow().state {
        State::Current(_) => Ok(()),
        State::Unavailable(reason) => Err(reason.clone()),
    };
    common::http::Readiness::default()
        .check("postgres", postgres)
        .into_response(&req)
}

async fn style() -> HttpResponse {
    common::http::static_asset("text/css; charset=utf-8", STYLE)
}

async fn script() -> HttpResponse {
    common::http::static_asset("text/javascript; charset=utf-8", SCRIPT)
}

//! The result service's HTTP surface: the page, `/api/results`, the live
//! `/events` stream, readiness and the embedded assets.

use crate::events::EventStream;
use crate::live::{Feed, State, UNAVAILABLE};
use crate::page::{ResultPage, SCRIPT, STYLE};
use crate::tally::Tally;
use actix_web::http::header::{self, ContentType};
use actix_web::{web, HttpResponse};
use askama::Template;
use common::config::PollOptions;

#[derive(Debug)]
pub struct ResultState {
    pub options: PollOptions,
    /// The totals; it ends on a graceful stop, and every open stream with it.
    pub feed: Feed,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").get(show))
        .service(web::resource("/api/results").get(api))
        .service(web::resource("/events").get(events))
        .service(web::resource("/readyz").get(readyz))
        .service(web::resource("/static/result.css").get(style))
        .service(web::resource("/static/result.js").get(script))
        .configure(common::http::operational_routes);
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

/// Server-Sent Events: the headers, marked so that the connection goes on
/// as the viewer's stream (see [`crate::events`]).
async fn events(state: web::Data<ResultState>) -> HttpResponse {
    let mut answer = HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .finish();
    answer
        .extensions_mut()
        .insert(EventStream(state.feed.clone()));
    answer
}

async fn readyz(
    state: web::Data<ResultState>,
    draining: web::Data<common::http::Draining>,
) -> HttpResponse {
    let postgres = match &state.feed.borrow().state {
        State::Current(_) => Ok(()),
        State::Unavailable(reason) => Err(reason.clone()),
    };
    common::http::Readiness::default()
        .check("postgres", postgres)
        .into_response(&draining)
}

async fn style() -> HttpResponse {
    common::http::static_asset("text/css; charset=utf-8", STYLE)
}

async fn script() -> HttpResponse {
    common::http::static_asset("text/javascript; charset=utf-8", SCRIPT)
}

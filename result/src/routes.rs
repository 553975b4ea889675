//! The result service's HTTP surface: the page, `/api/results`, the live
//! `/events` stream, readiness and the embedded assets.
//!
//! Metrics recorded here: `result_viewers_connected`.

use crate::live::{Feed, State, UNAVAILABLE};
use crate::page::{ResultPage, SCRIPT, STYLE};
use crate::tally::Tally;
use actix_web::http::header::{self, ContentType};
use actix_web::{web, HttpResponse};
use askama::Template;
use bytes::Bytes;
use common::config::PollOptions;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A comment line sent to idle streams so proxies keep them open.
const KEEPALIVE_EVERY: Duration = Duration::from_secs(15);

#[derive(Debug)]
pub struct ResultState {
    pub options: PollOptions,
    pub feed: Feed,
    /// Ends every open stream on a graceful stop.
    pub stop: CancellationToken,
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

/// Counts a viewer while its stream is open.
struct Viewer;

impl Viewer {
    fn arrive() -> Self {
        metrics::gauge!("result_viewers_connected").increment(1.0);
        Viewer
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        metrics::gauge!("result_viewers_connected").decrement(1.0);
    }
}

/// Server-Sent Events: the current totals at once, then each change.
async fn events(state: web::Data<ResultState>) -> HttpResponse {
    let feed = state.feed.clone();
    let stop = state.stop.clone();
    let first = Bytes::from_static(b"retry: 1000\n\n");
    let stream = futures_util::stream::unfold(
        (feed, stop, Some(first), true, Viewer::arrive()),
        |(mut feed, stop, pending, mut initial, viewer)| async move {
            if let Some(frame) = pending {
                return Some((
                    Ok::<_, actix_web::Error>(frame),
                    (feed, stop, None, initial, viewer),
                ));
            }
            let frame = if initial {
                initial = false;
                feed.borrow_and_update().event.clone()
            } else {
                tokio::select! {
                    _ = stop.cancelled() => return None,
                    changed = feed.changed() => match changed {
                        Ok(()) => feed.borrow_and_update().event.clone(),
                        Err(_) => return None,
                    },
                    _ = tokio::time::sleep(KEEPALIVE_EVERY) => Bytes::from_static(b": keepalive\n\n"),
                }
            };
            Some((Ok(frame), (feed, stop, None, initial, viewer)))
        },
    );
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream)
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

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

/// A comment line sent to idle streams so proxies keep them open.
const KEEPALIVE_EVERY: Duration = Duration::from_secs(15);

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
///
/// Per update, each stream only wakes, takes the shared frame and writes it:
/// no timer is set and no lock taken per viewer (the keep-alive timer is reset
/// only when it fires), since one update is pushed to every open stream. The
/// streams end when the feed does, which it does on a graceful stop.
async fn events(state: web::Data<ResultState>) -> HttpResponse {
    let stream = Stream {
        feed: state.feed.clone(),
        pending: Some(Bytes::from_static(b"retry: 1000\n\n")),
        initial: true,
        keepalive: Box::pin(tokio::time::sleep(KEEPALIVE_EVERY)),
        _viewer: Viewer::arrive(),
    };
    let stream = futures_util::stream::unfold(stream, |mut stream| async move {
        let frame = stream.next_frame().await?;
        Some((Ok::<_, actix_web::Error>(frame), stream))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream)
}

/// One viewer's `/events` stream.
struct Stream {
    feed: Feed,
    pending: Option<Bytes>,
    initial: bool,
    keepalive: std::pin::Pin<Box<tokio::time::Sleep>>,
    _viewer: Viewer,
}

impl Stream {
    async fn next_frame(&mut self) -> Option<Bytes> {
        if let Some(frame) = self.pending.take() {
            return Some(frame);
        }
        if self.initial {
            self.initial = false;
            return Some(self.feed.borrow_and_update().event.clone());
        }
        tokio::select! {
            changed = self.feed.changed() => match changed {
                Ok(()) => Some(self.feed.borrow_and_update().event.clone()),
                Err(_) => None,
            },
            _ = self.keepalive.as_mut() => {
                self.keepalive
                    .as_mut()
                    .reset(tokio::time::Instant::now() + KEEPALIVE_EVERY);
                Some(Bytes::from_static(b": keepalive\n\n"))
            }
        }
    }
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

//! The vote service's HTTP surface: the page, the vote itself, readiness and
//! the embedded assets.

use crate::ballot_box::BallotBox;
use crate::error::VoteError;
use crate::page::{Pages, VotePage, SCRIPT, STYLE};
use crate::stamp::Stamper;
use crate::transport::TrustedProxies;
use crate::voter::{clearing_cookie, stamp_cookie, voter_cookie, Visitor, VoterCookies};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use askama::Template;
use bytes::Bytes;
use common::edge::{ServerMethods, BODY_DEADLINE};
use common::http::Routes;
use common::poll::PollOptions;
use futures_util::StreamExt;
use wire::ballot::{Ballot, Choice};

/// Largest form body accepted; `vote=a` is six bytes.
pub const MAX_FORM_BYTES: usize = 1024;

/// What every handler shares, across worker threads. (Each worker thread
/// has its own [`BallotBox`].)
#[derive(Debug)]
pub struct VoteState {
    pub options: PollOptions,
    pub hostname: String,
    pub stamper: Stamper,
    /// The page's everyday forms, rendered at start.
    pub pages: Pages,
    pub accepted: AcceptedVotes,
    /// Whose `X-Forwarded-Proto` makes the voter cookie `Secure`.
    pub trusted_proxies: TrustedProxies,
}

/// `votes_accepted_total{choice}`, looked up once instead of per vote.
#[derive(Debug)]
pub struct AcceptedVotes {
    a: metrics::Counter,
    b: metrics::Counter,
}

impl Default for AcceptedVotes {
    fn default() -> Self {
        Self {
            a: metrics::counter!("votes_accepted_total", "choice" => Choice::A.as_str()),
            b: metrics::counter!("votes_accepted_total", "choice" => Choice::B.as_str()),
        }
    }
}

impl AcceptedVotes {
    fn count(&self, choice: Choice) {
        match choice {
            Choice::A => self.a.increment(1),
            Choice::B => self.b.increment(1),
        }
    }
}

/// `# HELP` of the metrics recorded here.
pub fn describe_metrics() {
    metrics::describe_counter!(
        "votes_accepted_total",
        metrics::Unit::Count,
        "Votes queued in Redis and acknowledged to the voter, by choice."
    );
    metrics::describe_counter!(
        "votes_rejected_total",
        metrics::Unit::Count,
        "Votes refused, by reason (queue_unavailable: Redis did not acknowledge it; not_replicated: its replicas did not confirm it in time; both may still be counted; the others: bad requests, nothing queued)."
    );
}

pub fn routes(cfg: &mut web::ServiceConfig, routes: Routes) {
    use common::http::readable;
    if routes.pages() {
        // POST first: every route whose method guard is tried before the
        // one that matches notes its method for a 405's `Allow` (a vector
        // and two map operations in the request's extensions, about 450
        // instructions each under callgrind), and votes are most of the
        // traffic. The 405 then names the methods itself, in the usual order.
        cfg.app_data(web::Data::new(PAGE_METHODS))
            .service(
                web::resource("/")
                    .post(cast)
                    .get(show)
                    .head(show)
                    .default_service(web::to(page_method_not_allowed)),
            )
            .service(readable("/static/vote.css", style))
            .service(readable("/static/vote.js", script));
    }
    if routes.operations() {
        cfg.service(readable("/readyz", readyz));
    }
    common::http::operational_routes(cfg, routes);
}

/// The methods `/` takes; with the other pages' GET and HEAD, all the
/// methods of the service.
const PAGE_METHODS: ServerMethods = ServerMethods("GET, HEAD, POST");

/// Any other method on `/`: 405 naming the ones it takes, as actix-web's
/// own answer does.
async fn page_method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, PAGE_METHODS.0))
        .finish()
}

async fn show(req: HttpRequest, state: web::Data<VoteState>) -> HttpResponse {
    let visitor = Visitor::from_request(&req);
    // A HEAD is no visit: it gets the headers of a page, not an id.
    let new_id = if req.method() == Method::HEAD {
        NewId::Withhold
    } else {
        NewId::issue(&req, &state)
    };
    respond_html(
        HttpResponse::Ok(),
        &visitor,
        new_id,
        state.pages.after(None),
    )
}

/// Whether an answer gives a new visitor (no cookie yet) its voter id: a
/// page or a vote taken does; a refused vote does not (nothing was cast
/// under the id, and a stream of bad requests would each mint one).
#[derive(Debug, Clone, Copy)]
enum NewId {
    Issue { secure: bool },
    Withhold,
}

impl NewId {
    fn issue(req: &HttpRequest, state: &VoteState) -> Self {
        Self::Issue {
            secure: state.trusted_proxies.over_tls(req),
        }
    }
}

async fn cast(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<VoteState>,
    ballot_box: web::Data<BallotBox>,
) -> HttpResponse {
    let cookies = VoterCookies::of(&req);
    let visitor = Visitor::from_cookies(&cookies);
    let last_stamp = cookies.last_stamp();
    let mut stamped = None;
    let outcome = record_vote(
        &req,
        payload,
        (&visitor, last_stamp),
        &state,
        &ballot_box,
        &mut stamped,
    )
    .await;
    let wants_json = accepts_json(&req);
    let secure = state.trusted_proxies.over_tls(&req);
    let issue = NewId::Issue { secure };
    let respond = |status| with_stamp(HttpResponse::build(status), stamped, secure);
    match outcome {
        Ok(choice) => {
            state.accepted.count(choice);
            let new_id = issue;
            if wants_json {
                return with_cookie(respond(StatusCode::OK), &visitor, new_id)
                    .json(serde_json::json!({ "vote": choice.as_str() }));
            }
            respond_html(
                respond(StatusCode::OK),
                &visitor,
                new_id,
                state.pages.after(Some(choice)),
            )
        }
        Err(error) => {
            metrics::counter!("votes_rejected_total", "reason" => error.reason()).increment(1);
            let request_id = common::http::RequestId::of(&req);
            // A vote Redis may have taken was cast under the visitor's id:
            // the id goes with the answer, so that voting again replaces it.
            let new_id = match &error {
                VoteError::QueueUnavailable(cause) => {
                    tracing::warn!(
                        reason = error.reason(),
                        error = %cause,
                        %request_id,
                        "vote not acknowledged"
                    );
                    issue
                }
                other => {
                    tracing::info!(
                        reason = other.reason(),
                        %request_id,
                        "vote rejected: {other}"
                    );
                    NewId::Withhold
                }
            };
            let builder = respond(error.status());
            if wants_json {
                return with_cookie(builder, &visitor, new_id)
                    .json(serde_json::json!({ "error": error.to_string() }));
            }
            match VotePage::new(&state.options, &state.hostname, None)
                .with_problem(error.to_string())
                .render()
            {
                Ok(page) => respond_html(builder, &visitor, new_id, Bytes::from(page)),
                Err(e) => {
                    tracing::error!(error = %e, "rendering the vote page failed");
                    HttpResponse::InternalServerError().body("the page could not be rendered")
                }
            }
        }
    }
}

/// Reads, checks and queues one vote of `visitor`, whose last vote had
/// `last_stamp`. `stamped` gets the stamp of a ballot sent to Redis,
/// acknowledged or not (an unacknowledged one may still be counted, so the
/// voter's next vote must be ordered after it too).
async fn record_vote(
    req: &HttpRequest,
    payload: web::Payload,
    (visitor, last_stamp): (&Visitor, Option<i64>),
    state: &VoteState,
    ballot_box: &BallotBox,
    stamped: &mut Option<i64>,
) -> Result<Choice, VoteError> {
    let body = read_form(req, payload).await?;
    let choice = parse_choice(&body)?;
    let voter_id = match visitor {
        Visitor::New(id) | Visitor::Returning(id) => id.clone(),
        Visitor::Malformed => return Err(VoteError::MalformedCookie),
    };
    let stamp = state.stamper.next(last_stamp);
    *stamped = Some(stamp);
    let ballot = Ballot {
        voter_id,
        choice,
        cast_at: Some(stamp),
    };
    ballot_box
        .cast(&ballot)
        .await
        .map_err(VoteError::QueueUnavailable)?;
    Ok(choice)
}

async fn read_form(req: &HttpRequest, mut payload: web::Payload) -> Result<Vec<u8>, VoteError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map_or(&b""[..], |v| v.as_bytes());
    if !is_form(content_type) {
        return Err(VoteError::UnsupportedMediaType(shown_media_type(
            content_type,
        )));
    }
    let read = async {
        let mut body = Vec::with_capacity(16);
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| match e {
                actix_web::error::PayloadError::Overflow => VoteError::TooLarge(MAX_FORM_BYTES),
                other => VoteError::Payload(other.to_string()),
            })?;
            if body.len() + chunk.len() > MAX_FORM_BYTES {
                return Err(VoteError::TooLarge(MAX_FORM_BYTES));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    // A body that stalls gets 408, and the edge closes its connection.
    tokio::time::timeout(BODY_DEADLINE, read)
        .await
        .map_err(|_| VoteError::BodyTimeout(BODY_DEADLINE))?
}

const FORM: &str = "application/x-www-form-urlencoded";

/// Whether a `Content-Type` names a form: its media type, trimmed, is
/// [`FORM`] in any case. Read as bytes when it is plain ASCII (every
/// browser's); else as the text it decodes to, with Unicode's spaces
/// trimmed, as the refusal shows it.
fn is_form(content_type: &[u8]) -> bool {
    let media_type = content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default();
    media_type
        .trim_ascii()
        .eq_ignore_ascii_case(FORM.as_bytes())
        || (!media_type.is_ascii() && decoded_media_type(content_type).eq_ignore_ascii_case(FORM))
}

/// The media type as text: the part before any `;`, trimmed.
fn decoded_media_type(content_type: &[u8]) -> String {
    let text = String::from_utf8_lossy(content_type);
    text.split(';').next().unwrap_or("").trim().to_owned()
}

/// How a refused `Content-Type` is named: its media type, at most 64
/// characters.
fn shown_media_type(content_type: &[u8]) -> String {
    let media_type = decoded_media_type(content_type);
    if media_type.is_empty() {
        "a body without a content type".to_owned()
    } else {
        media_type.chars().take(64).collect()
    }
}

/// Exactly one `vote` field, `a` or `b`; other fields are ignored.
pub fn parse_choice(body: &[u8]) -> Result<Choice, VoteError> {
    // The form the page and its script send, read without the form parser.
    match body {
        b"vote=a" => return Ok(Choice::A),
        b"vote=b" => return Ok(Choice::B),
        _ => {}
    }
    if std::str::from_utf8(body).is_err() {
        return Err(VoteError::MalformedBody);
    }
    let mut votes = url::form_urlencoded::parse(body).filter(|(key, _)| key == "vote");
    let (_, value) = votes.next().ok_or(VoteError::MissingChoice)?;
    if votes.next().is_some() {
        return Err(VoteError::SeveralChoices);
    }
    Choice::parse(&value).ok_or_else(|| VoteError::UnknownChoice(value.chars().take(32).collect()))
}

fn accepts_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json"))
}

fn with_cookie(
    mut builder: HttpResponseBuilder,
    visitor: &Visitor,
    new_id: NewId,
) -> HttpResponseBuilder {
    match visitor {
        Visitor::New(id) => {
            if let NewId::Issue { secure } = new_id {
                builder.append_header((header::SET_COOKIE, voter_cookie(id, secure)));
            }
        }
        Visitor::Malformed => {
            builder.cookie(clearing_cookie());
        }
        Visitor::Returning(_) => {}
    }
    builder
}

/// Carries the stamp of the ballot just sent to the voter's next vote.
fn with_stamp(
    mut builder: HttpResponseBuilder,
    stamp: Option<i64>,
    secure: bool,
) -> HttpResponseBuilder {
    if let Some(stamp) = stamp {
        builder.append_header((header::SET_COOKIE, stamp_cookie(stamp, secure)));
    }
    builder
}

/// The page's `Content-Type` and `Cache-Control`, made once: from a `&str`
/// or a media type each answer checked and copied the text again.
const HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

fn respond_html(
    builder: HttpResponseBuilder,
    visitor: &Visitor,
    new_id: NewId,
    page: Bytes,
) -> HttpResponse {
    with_cookie(builder, visitor, new_id)
        .insert_header((header::CONTENT_TYPE, HTML))
        .insert_header((header::CACHE_CONTROL, NO_STORE))
        .body(page)
}

async fn readyz(req: HttpRequest, ballot_box: web::Data<BallotBox>) -> HttpResponse {
    common::http::Readiness::default()
        .check("redis", ballot_box.ping().await)
        .into_response(&req)
}

async fn style() -> HttpResponse {
    common::http::static_asset("text/css; charset=utf-8", STYLE)
}

async fn script() -> HttpResponse {
    common::http::static_asset("text/javascript; charset=utf-8", SCRIPT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_needs_exactly_one_known_vote() {
        assert_eq!(parse_choice(b"vote=a").unwrap(), Choice::A);
        assert_eq!(parse_choice(b"x=1&vote=b").unwrap(), Choice::B);
        assert!(matches!(parse_choice(b""), Err(VoteError::MissingChoice)));
        assert!(matches!(
            parse_choice(b"vote=a&vote=b"),
            Err(VoteError::SeveralChoices)
        ));
        assert!(matches!(parse_choice(b"vote=c"), Err(VoteError::UnknownChoice(v)) if v == "c"));
        assert!(matches!(
            parse_choice(b"vote=%41"),
            Err(VoteError::UnknownChoice(_))
        ));
        assert!(matches!(
            parse_choice(b"vote=\xff"),
            Err(VoteError::MalformedBody)
        ));
    }
}

//! What every answer of a service's HTTP edge carries, the same for vote and
//! result: the security headers, the rules that close a connection after its
//! answer, how long a request body may take to arrive, and the answers to
//! requests no route takes (unknown paths, `OPTIONS *`, CONNECT).
//!
//! All of it is actix-web's own machinery (the response's headers and
//! connection type, set by the one request middleware, `observe`, through
//! [`Edge`]; a default service): actix-http frames and closes; this module
//! only decides when. (One middleware rather than `DefaultHeaders` and a
//! `from_fn` of its own: each layer boxed the request's future twice,
//! about 1,000 instructions a vote under callgrind.)

use actix_web::body::{BodySize, BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{ConnectionType, Method, Version};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use bytes::Bytes;
use futures_util::Stream;
use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

/// How long a request's body may take to arrive once its head has: a
/// client that stalls mid-body gets 408 and its connection closed, instead
/// of holding it (and a worker's attention) for as long as it likes. A vote
/// form is a few bytes; a slow mobile link sends it in well under a second.
pub const BODY_DEADLINE: Duration = Duration::from_secs(5);

/// The pages' Content-Security-Policy: exactly what they load, all from
/// their own origin. Each page has one stylesheet and one script (no inline
/// script or style, no style attribute); vote's script POSTs to `/` and
/// result's opens `/events` (`connect-src`); vote's form posts to `/`
/// (`form-action`). No page may be framed (`frame-ancestors`, with
/// `X-Frame-Options` for browsers older than CSP 2): the one-click ballot
/// cannot be clickjacked.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

/// The headers every response of every service carries (unless its
/// handler set one of the same name).
static SECURITY_HEADERS: [(HeaderName, HeaderValue); 4] = [
    (
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    ),
    (
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    ),
];

/// The methods a service's routes take, together: the `Allow` of its answer
/// to `OPTIONS *`. A service whose routes take more than GET and HEAD
/// registers its own as app data.
#[derive(Debug, Clone, Copy)]
pub struct ServerMethods(pub &'static str);

const READ_ONLY: ServerMethods = ServerMethods("GET, HEAD");

/// What the edge does around every request: [`Edge::enter`] before its
/// handler, [`Edge::leave`] on its answer. The answer carries the security
/// headers, and closes its connection when keeping it would serve a client
/// or an attacker better than us:
///
/// - the service is draining, whenever the request began (no client keeps a
///   connection to a server about to go away);
/// - the request's body was not read to its end (a refusal: 408, 413, 415,
///   a wrong method): reading on only to discard it is work for nothing,
///   and a chunked body can be endless;
/// - an HTTP/1.0 answer whose body ends only when the connection does (a
///   stream): keep-alive would leave the client no way to find its end.
///
/// actix-http 3.20 drains a chunked body its handler dropped, to the end,
/// even when the answer says `Connection: close`; it closes at once only
/// while the body is still held. So the body of a request that has one is
/// shared ([`SharedBody`]), and an answer that leaves it unread holds it
/// until that answer is sent ([`Holding`]).
pub(crate) struct Edge {
    before_1_1: bool,
    body: Option<SharedBody>,
}

impl Edge {
    /// Notes the request's version and shares its body, if it has one.
    pub(crate) fn enter(req: &mut ServiceRequest) -> Self {
        let before_1_1 = req.version() < Version::HTTP_11;
        let body = declares_body(req.headers()).then(|| {
            let body = SharedBody::new(req.take_payload());
            req.set_payload(Payload::Stream {
                payload: Box::pin(body.clone()),
            });
            body
        });
        Self { before_1_1, body }
    }

    /// The answer with the security headers, closing its connection where
    /// the rules above say so (`draining`: whether the service is).
    pub(crate) fn leave<B: MessageBody + 'static>(
        self,
        mut res: ServiceResponse<B>,
        draining: &crate::http::Draining,
    ) -> ServiceResponse<EitherBody<B, Holding>> {
        let headers = res.headers_mut();
        for (name, value) in &SECURITY_HEADERS {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
        let unread = self.body.filter(|body| !body.0.borrow().finished);
        let close = unread.is_some()
            || draining.is_draining()
            || (self.before_1_1 && matches!(res.response().body().size(), BodySize::Stream));
        if close {
            res.response_mut()
                .head_mut()
                .set_connection_type(ConnectionType::Close);
        }
        match unread {
            Some(body) => res.map_body(|_, answer| {
                EitherBody::right(Holding {
                    answer: answer.boxed(),
                    _unread: body,
                })
            }),
            None => res.map_into_left_body(),
        }
    }
}

/// A request's body, read by its handler through a clone, and whether it
/// was read to its end.
#[derive(Clone)]
struct SharedBody(Rc<RefCell<BodyState>>);

struct BodyState {
    payload: Payload,
    finished: bool,
}

impl SharedBody {
    fn new(payload: Payload) -> Self {
        Self(Rc::new(RefCell::new(BodyState {
            payload,
            finished: false,
        })))
    }
}

impl Stream for SharedBody {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut state = self.0.borrow_mut();
        let next = Pin::new(&mut state.payload).poll_next(cx);
        if let Poll::Ready(None) = next {
            state.finished = true;
        }
        next
    }
}

/// An answer's body that holds the request's unread body until it is sent,
/// so that actix-http closes the connection rather than drain it.
pub(crate) struct Holding {
    answer: BoxBody,
    _unread: SharedBody,
}

impl MessageBody for Holding {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        self.answer.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.answer).poll_next(cx)
    }
}

/// Whether the request's head announces a body (RFC 9112 6.3).
fn declares_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0")
}

/// What a request no route takes gets: `OPTIONS *` (the server's own
/// capabilities, RFC 9110 9.3.7) 204 with the methods in `Allow`; CONNECT
/// (no tunnel here) 405; anything else 404 with a line saying so.
pub async fn unrouted(req: HttpRequest) -> HttpResponse {
    let methods = req
        .app_data::<web::Data<ServerMethods>>()
        .map_or(READ_ONLY, |m| *m.get_ref());
    match *req.method() {
        Method::OPTIONS if req.uri() == "*" => HttpResponse::NoContent()
            .insert_header((header::ALLOW, methods.0))
            .finish(),
        Method::CONNECT => HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, methods.0))
            .content_type("text/plain; charset=utf-8")
            .body("CONNECT is not served here\n"),
        _ => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body(format!("Not found: {}\n", req.path())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_announced_by_a_length_above_zero_or_a_transfer_encoding() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(
                    header::HeaderName::from_static(name),
                    header::HeaderValue::from_static(value),
                );
            }
            map
        };
        assert!(!declares_body(&headers(&[])));
        assert!(!declares_body(&headers(&[("content-length", "0")])));
        assert!(declares_body(&headers(&[("content-length", "6")])));
        assert!(declares_body(&headers(&[("transfer-encoding", "chunked")])));
    }
}

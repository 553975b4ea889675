//! One HTTP/1.1 connection to `result`: its requests are read and its answers
//! written here, and each request is answered by the actix-web app (routes,
//! middleware, 404 and 405), called in-process. An answer marked
//! [`EventStream`] turns the connection into that viewer's stream.
//!
//! Why not actix-http's own connection handling: it keeps an 8 KiB read and
//! an 8 KiB write buffer for the life of every connection, and an `/events`
//! viewer stays for hours; with 10,000 viewers that was most of the 116 MB
//! the process held. Here a connection's buffer starts at 512 bytes, grows
//! only as far as a request needs, and is released when the connection
//! becomes an event stream.
//!
//! What it speaks: HTTP/1.0 and 1.1, keep-alive and pipelined requests, HEAD,
//! request bodies with a `Content-Length` up to 64 KiB (passed to the app; no
//! route reads one). Each of these gets its status and then the connection is
//! closed: a malformed head (400), a body in chunks (411), a larger body
//! (413), a head over 16 KiB (431), a head still incomplete 5 s after its
//! first byte (408). A kept-alive connection with no request for 5 s is
//! closed, and so is every idle one once the service starts stopping.

use crate::events::{send, EventStream, Framing};
use actix_http::Request;
use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{ConnectionType, Method, StatusCode, Uri, Version};
use actix_web::HttpResponse;
use bytes::{Buf, BytesMut};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const FIRST_BUFFER: usize = 512;
const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 64 * 1024;
const MAX_HEADERS: usize = 64;
/// From a request's first byte to its last.
const REQUEST_LIMIT: Duration = Duration::from_secs(5);
/// A kept-alive connection's wait for its next request.
const IDLE_LIMIT: Duration = Duration::from_secs(5);
/// How long a connection this side closes is read from before it goes.
const LINGER: Duration = Duration::from_secs(1);

/// A request read off the connection, ready for the app.
struct Incoming {
    request: Request,
    method: Method,
    version: Version,
    keep_alive: bool,
}

/// Why a request is answered without the app, and the connection closed.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    Malformed(String),
    ChunkedBody,
    BodyTooLarge,
    HeadTooLarge,
    TooSlow,
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::Malformed(_) => StatusCode::BAD_REQUEST,
            Refusal::ChunkedBody => StatusCode::LENGTH_REQUIRED,
            Refusal::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::HeadTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Refusal::TooSlow => StatusCode::REQUEST_TIMEOUT,
        }
    }

    fn answer(&self) -> Vec<u8> {
        let reason = match self {
            Refusal::Malformed(why) => format!("Bad request: {why}\n"),
            Refusal::ChunkedBody => "A request body must come with Content-Length.\n".into(),
            Refusal::BodyTooLarge => format!("A request body may be at most {MAX_BODY} bytes.\n"),
            Refusal::HeadTooLarge => format!("A request head may be at most {MAX_HEAD} bytes.\n"),
            Refusal::TooSlow => format!("The request did not arrive within {REQUEST_LIMIT:?}.\n"),
        };
        let answer = HttpResponse::build(self.status())
            .content_type("text/plain; charset=utf-8")
            .finish();
        let mut bytes = head(&answer, Version::HTTP_11, Body::Length(reason.len()), true);
        bytes.extend_from_slice(reason.as_bytes());
        bytes
    }
}

/// Serves `connection` until the client closes it, a request asks to close
/// it, it idles, or `stop` is cancelled while it idles.
pub async fn serve<S, B>(mut connection: TcpStream, app: &S, stop: &CancellationToken)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    let peer = connection.peer_addr().ok();
    let _ = connection.set_nodelay(true);
    let mut buffer = BytesMut::with_capacity(FIRST_BUFFER);
    loop {
        let incoming = match read_request(&mut connection, &mut buffer, peer, stop).await {
            Ok(Some(incoming)) => incoming,
            Ok(None) => return,
            Err(refusal) => {
                tracing::debug!(?peer, ?refusal, "refused a request");
                if send(&connection, &refusal.answer()).await {
                    close(connection).await;
                }
                return;
            }
        };
        let (method, version) = (incoming.method.clone(), incoming.version);
        // Boxed: the app's future is large and lives only while it answers,
        // not for the life of an event stream.
        let answer = match Box::pin(app.call(incoming.request)).await {
            Ok(answer) => answer.into_parts().1.map_into_boxed_body(),
            Err(error) => error.error_response(),
        };
        let keep_alive =
            incoming.keep_alive && answer.head().connection_type() != ConnectionType::Close;
        let stream = answer.extensions().get::<EventStream>().cloned();
        match stream {
            Some(EventStream(feed)) if answer.status() == StatusCode::OK => {
                let (framing, body) = match version {
                    Version::HTTP_10 => (Framing::UntilClose, Body::UntilClose),
                    _ => (Framing::Chunked, Body::Chunked),
                };
                let head = head(&answer, version, body, true);
                drop(answer);
                let sent = send(&connection, &head).await;
                drop(head);
                if !sent {
                    return;
                }
                if method == Method::GET {
                    drop(std::mem::take(&mut buffer));
                    crate::events::stream(connection, feed, framing).await;
                }
                return;
            }
            _ => {
                if !write_answer(&connection, answer, &method, version, keep_alive).await {
                    return;
                }
                if !keep_alive {
                    close(connection).await;
                    return;
                }
            }
        }
        if buffer.is_empty() && buffer.capacity() > 4 * FIRST_BUFFER {
            buffer = BytesMut::with_capacity(FIRST_BUFFER);
        }
    }
}

/// Writes an ordinary answer: head, then its whole body (none for HEAD).
async fn write_answer(
    connection: &TcpStream,
    answer: HttpResponse<BoxBody>,
    method: &Method,
    version: Version,
    keep_alive: bool,
) -> bool {
    let (answer, body) = answer.into_parts();
    let sized = body.size();
    let body = match actix_web::body::to_bytes(body).await {
        Ok(body) => body,
        Err(e) => {
            tracing::warn!(error = %e, "an answer's body failed; closing the connection");
            return false;
        }
    };
    let length = match sized {
        BodySize::None => Body::None,
        _ => Body::Length(body.len()),
    };
    let mut bytes = head(&answer, version, length, !keep_alive);
    if *method != Method::HEAD {
        bytes.extend_from_slice(&body);
    }
    send(connection, &bytes).await
}

/// Closes a connection this side chose to end: what the client sent that
/// was not read would otherwise turn the close into a reset, which can destroy
/// the answer before the client reads it. So: end the writing side, then read
/// and drop what comes for up to a second.
async fn close(mut connection: TcpStream) {
    let _ = connection.shutdown().await;
    let mut scratch = [0u8; 1024];
    let drain = async { while matches!(connection.read(&mut scratch).await, Ok(n) if n > 0) {} };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// Reads the next request: `Ok(None)` when the connection ends or idles out
/// (or `stop` is cancelled) before a request begins.
async fn read_request(
    connection: &mut TcpStream,
    buffer: &mut BytesMut,
    peer: Option<SocketAddr>,
    stop: &CancellationToken,
) -> Result<Option<Incoming>, Refusal> {
    if buffer.is_empty() {
        let read = tokio::select! {
            _ = stop.cancelled() => return Ok(None),
            read = tokio::time::timeout(IDLE_LIMIT, read_more(connection, buffer)) => read,
        };
        if !matches!(read, Ok(Ok(n)) if n > 0) {
            return Ok(None);
        }
    }
    let deadline = Instant::now() + REQUEST_LIMIT;
    let (mut incoming, head_length, body_length) = loop {
        if let Some(parsed) = parse(buffer, peer)? {
            break parsed;
        }
        if buffer.len() >= MAX_HEAD {
            return Err(Refusal::HeadTooLarge);
        }
        if !fill(connection, buffer, deadline).await? {
            return Ok(None);
        }
    };
    buffer.advance(head_length);
    while buffer.len() < body_length {
        if !fill(connection, buffer, deadline).await? {
            return Ok(None);
        }
    }
    if body_length > 0 {
        let body = buffer.split_to(body_length).freeze();
        let head = std::mem::take(incoming.request.head_mut());
        incoming.request = Request::with_payload(actix_http::Payload::from(body));
        *incoming.request.head_mut() = head;
    }
    Ok(Some(incoming))
}

/// Reads more of a request that has begun; its end must come by `deadline`.
/// False when the client went away mid-request: nobody to answer.
async fn fill(
    connection: &mut TcpStream,
    buffer: &mut BytesMut,
    deadline: Instant,
) -> Result<bool, Refusal> {
    match tokio::time::timeout_at(deadline, read_more(connection, buffer)).await {
        Err(_) => Err(Refusal::TooSlow),
        Ok(read) => Ok(matches!(read, Ok(n) if n > 0)),
    }
}

async fn read_more(connection: &mut TcpStream, buffer: &mut BytesMut) -> std::io::Result<usize> {
    if buffer.capacity() - buffer.len() < FIRST_BUFFER / 2 {
        buffer.reserve(FIRST_BUFFER);
    }
    connection.read_buf(buffer).await
}

/// Parses the request head at the start of `buffer`, if all of it is there:
/// the request, the head's length and the body's length.
fn parse(
    buffer: &[u8],
    peer: Option<SocketAddr>,
) -> Result<Option<(Incoming, usize, usize)>, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head_length = match parsed.parse(buffer) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Refusal::HeadTooLarge),
        Err(e) => return Err(Refusal::Malformed(e.to_string())),
    };
    let malformed = |what: &str| Refusal::Malformed(what.to_owned());
    let method = Method::from_bytes(parsed.method.unwrap_or_default().as_bytes())
        .map_err(|_| malformed("invalid method"))?;
    let uri =
        Uri::try_from(parsed.path.unwrap_or_default()).map_err(|_| malformed("invalid path"))?;
    let version = match parsed.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut request = Request::new();
    let head = request.head_mut();
    let mut body_length = 0;
    let mut connection_tokens = String::new();
    for field in parsed.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes())
            .map_err(|_| malformed("invalid header name"))?;
        let value =
            HeaderValue::from_bytes(field.value).map_err(|_| malformed("invalid header value"))?;
        if name == header::TRANSFER_ENCODING {
            return Err(Refusal::ChunkedBody);
        }
        if name == header::CONTENT_LENGTH {
            body_length = value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| malformed("invalid Content-Length"))?;
            if body_length > MAX_BODY {
                return Err(Refusal::BodyTooLarge);
            }
        }
        if name == header::CONNECTION {
            connection_tokens.push_str(&value.to_str().unwrap_or_default().to_ascii_lowercase());
            connection_tokens.push(',');
        }
        head.headers.append(name, value);
    }
    let asks = |token: &str| connection_tokens.split(',').any(|t| t.trim() == token);
    let keep_alive = match version {
        Version::HTTP_10 => asks("keep-alive"),
        _ => !asks("close"),
    };
    head.method = method.clone();
    head.uri = uri;
    head.version = version;
    head.peer_addr = peer;
    let incoming = Incoming {
        request,
        method,
        version,
        keep_alive,
    };
    Ok(Some((incoming, head_length, body_length)))
}

/// How an answer's body is delimited.
#[derive(Debug, Clone, Copy)]
enum Body {
    /// No body may follow (204, 304): no length is sent.
    None,
    Length(usize),
    Chunked,
    UntilClose,
}

/// The status line and headers of `answer`, with this connection's framing.
fn head<B>(answer: &HttpResponse<B>, version: Version, body: Body, close: bool) -> Vec<u8> {
    let status = answer.status();
    let mut bytes = Vec::with_capacity(256);
    let version = if version == Version::HTTP_10 {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    };
    bytes.extend_from_slice(
        format!(
            "{version} {} {}\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )
        .as_bytes(),
    );
    for (name, value) in answer.headers().iter() {
        if [
            header::CONNECTION,
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
            header::DATE,
        ]
        .contains(name)
        {
            continue;
        }
        bytes.extend_from_slice(name.as_str().as_bytes());
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(value.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    match body {
        Body::None | Body::UntilClose => {}
        Body::Length(length) => {
            bytes.extend_from_slice(format!("content-length: {length}\r\n").as_bytes())
        }
        Body::Chunked => bytes.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    bytes.extend_from_slice(format!("date: {date}\r\n").as_bytes());
    if close || matches!(body, Body::UntilClose) {
        bytes.extend_from_slice(b"connection: close\r\n");
    } else if version == "HTTP/1.0" {
        bytes.extend_from_slice(b"connection: keep-alive\r\n");
    }
    bytes.extend_from_slice(b"\r\n");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(head: &str) -> Result<Option<(Incoming, usize, usize)>, Refusal> {
        parse(head.as_bytes(), None)
    }

    #[test]
    fn a_complete_head_is_parsed_with_its_body_length_and_keep_alive() {
        let (incoming, head, body) =
            parsed("POST /x?y=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
                .unwrap()
                .unwrap();
        assert_eq!((head, body), (52, 3));
        assert_eq!(incoming.method, Method::POST);
        assert_eq!(incoming.request.head().uri.path(), "/x");
        assert!(incoming.keep_alive);
        assert!(parsed("GET / HTTP/1.1\r\nHost: a\r\n").unwrap().is_none());
    }

    #[test]
    fn keep_alive_follows_the_version_and_the_connection_header() {
        let keeps = |head: &str| parsed(head).unwrap().unwrap().0.keep_alive;
        assert!(!keeps("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n"));
        assert!(!keeps("GET / HTTP/1.0\r\n\r\n"));
        assert!(keeps("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        assert!(keeps(
            "GET / HTTP/1.1\r\nConnection: TE, keep-alive\r\n\r\n"
        ));
    }

    #[test]
    fn requests_this_server_does_not_take_are_refused_with_their_reason() {
        let refusal = |head: &str| parsed(head).err().unwrap();
        assert!(matches!(
            refusal("GET / HTTP/9\r\n\r\n"),
            Refusal::Malformed(_)
        ));
        assert_eq!(
            refusal("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Refusal::ChunkedBody
        );
        assert_eq!(
            refusal("POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"),
            Refusal::BodyTooLarge
        );
        assert!(matches!(
            refusal("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
            Refusal::Malformed(_)
        ));
        let many = "X-A: 1\r\n".repeat(MAX_HEADERS + 1);
        assert_eq!(
            refusal(&format!("GET / HTTP/1.1\r\n{many}\r\n")),
            Refusal::HeadTooLarge
        );
        let answer = String::from_utf8(Refusal::ChunkedBody.answer()).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 411 Length Required\r\n"),
            "{answer}"
        );
        assert!(answer.contains("connection: close\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\nA request body must come with Content-Length.\n"));
    }

    #[test]
    fn an_answer_head_carries_its_framing_and_not_the_apps_copy_of_it() {
        let answer = HttpResponse::Ok()
            .insert_header((header::CONTENT_LENGTH, "999"))
            .insert_header(("x-request-id", "abc"))
            .finish();
        let text =
            |body, close| String::from_utf8(head(&answer, Version::HTTP_11, body, close)).unwrap();
        let sized = text(Body::Length(5), false);
        assert!(sized.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(sized.contains("content-length: 5\r\n") && !sized.contains("999"));
        assert!(sized.contains("x-request-id: abc\r\n") && sized.contains("date: "));
        assert!(!sized.contains("connection:"));
        let chunked = text(Body::Chunked, true);
        assert!(chunked.contains("transfer-encoding: chunked\r\n"));
        assert!(chunked.contains("connection: close\r\n") && chunked.ends_with("\r\n\r\n"));
        let old =
            String::from_utf8(head(&answer, Version::HTTP_10, Body::Length(0), false)).unwrap();
        assert!(old.starts_with("HTTP/1.0 200 OK\r\n") && old.contains("connection: keep-alive"));
    }
}

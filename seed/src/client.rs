//! One keep-alive HTTP/1.1 connection per task, as wrk keeps one per
//! connection: no shared pool, no lock. The task that sends a request also
//! drives its connection (hyper's connection future is polled in place, not
//! spawned), so a vote never wakes another task or thread.
//!
//! A connection that fails is reopened on the next request. An `https://`
//! target's connections are TLS ([`crate::tls`]); the handshake is per
//! connection, never per request.

use crate::tls::Tls;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, CONTENT_TYPE, COOKIE, HOST};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

/// Longest a request may take before it counts as a timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the votes go: an `http://` or `https://` URL's address, host header
/// and path, and for `https://` what the TLS handshake needs.
#[derive(Debug, Clone)]
pub struct Target {
    address: String,
    host: HeaderValue,
    path: Uri,
    tls: Option<Tls>,
}

impl Target {
    /// `ca_file` holds the CAs an `https://` target is checked against
    /// (default: the system's roots).
    pub fn parse(url: &str, ca_file: Option<&Path>) -> anyhow::Result<Self> {
        let uri: Uri = url.parse().map_err(|e| anyhow::anyhow!("{url:?}: {e}"))?;
        let secure = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => anyhow::bail!("{url:?}: only http:// and https:// URLs are supported"),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| anyhow::anyhow!("{url:?} has no host"))?;
        let port = authority
            .port_u16()
            .unwrap_or(if secure { 443 } else { 80 });
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        Ok(Self {
            address: format!("{}:{port}", authority.host()),
            host: HeaderValue::from_str(authority.as_str())?,
            path: path.parse()?,
            tls: secure
                .then(|| Tls::new(authority.host(), ca_file))
                .transpose()?,
        })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.address, self.path)
    }
}

/// Why a request did not get a 2xx answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Status(u16),
    Connect,
    /// The TLS handshake failed (an untrusted or mismatched certificate).
    Tls,
    Timeout,
    Other,
}

impl Failure {
    pub fn kind(&self) -> String {
        match self {
            Failure::Status(code) => format!("http {code}"),
            Failure::Connect => "connect".into(),
            Failure::Tls => "tls".into(),
            Failure::Timeout => "timeout".into(),
            Failure::Other => "other".into(),
        }
    }
}

/// A plain or a TLS stream: one type for both, so the request path does not
/// branch on it.
type Stream = Either<TcpStream, TlsStream<TcpStream>>;

type Driver = Pin<Box<http1::Connection<TokioIo<Stream>, Full<Bytes>>>>;

/// A task's connection to the target, opened on first use.
pub struct Connection {
    target: Target,
    open: Option<(SendRequest<Full<Bytes>>, Driver)>,
}

impl Connection {
    pub fn new(target: Target) -> Self {
        Self { target, open: None }
    }

    /// GETs the page; the body is read and dropped.
    pub async fn get(&mut self, cookie: Option<&HeaderValue>) -> Result<(), Failure> {
        self.send(Method::GET, cookie, Bytes::new(), None).await
    }

    /// GETs the page and keeps its body (for reading an API, not for load).
    pub async fn get_body(&mut self) -> Result<Vec<u8>, Failure> {
        let mut body = Vec::new();
        self.send(Method::GET, None, Bytes::new(), Some(&mut body))
            .await?;
        Ok(body)
    }

    /// POSTs a form.
    pub async fn post_form(
        &mut self,
        cookie: Option<&HeaderValue>,
        form: Bytes,
    ) -> Result<(), Failure> {
        self.send(Method::POST, cookie, form, None).await
    }

    /// Sends one request; the answer's body goes to `keep` if given, else
    /// it is dropped as it arrives.
    async fn send(
        &mut self,
        method: Method,
        cookie: Option<&HeaderValue>,
        body: Bytes,
        mut keep: Option<&mut Vec<u8>>,
    ) -> Result<(), Failure> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method.clone();
        *request.uri_mut() = self.target.path.clone();
        let headers = request.headers_mut();
        headers.insert(HOST, self.target.host.clone());
        if method == Method::POST {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
        }
        if let Some(cookie) = cookie {
            headers.insert(COOKIE, cookie.clone());
        }
        let exchange = async {
            let (sender, driver) = self.ready().await?;
            let response = drive(driver, sender.send_request(request)).await?;
            let status = response.status();
            // Read the whole answer, so the connection can carry the next request.
            let mut body = response.into_body();
            while let Some(frame) = drive(driver, async { body.frame().await.transpose() }).await? {
                if let (Some(keep), Some(data)) = (keep.as_deref_mut(), frame.data_ref()) {
                    keep.extend_from_slice(data);
                }
            }
            Ok::<StatusCode, Failure>(status)
        };
        let outcome = match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::Timeout),
        };
        match outcome {
            Ok(status) if status.is_success() => Ok(()),
            Ok(status) => Err(Failure::Status(status.as_u16())),
            Err(failure) => {
                // Whatever state the connection is in, the next request gets a new one.
                self.open = None;
                Err(failure)
            }
        }
    }

    async fn ready(&mut self) -> Result<&mut (SendRequest<Full<Bytes>>, Driver), Failure> {
        if let Some((sender, driver)) = &mut self.open {
            if drive(driver, sender.ready()).await.is_err() {
                self.open = None;
            }
        }
        if self.open.is_none() {
            let stream = TcpStream::connect(&self.target.address)
                .await
                .map_err(|_| Failure::Connect)?;
            let _ = stream.set_nodelay(true);
            let stream = match &self.target.tls {
                None => Either::Left(stream),
                Some(tls) => Either::Right(
                    tls.connector
                        .connect(tls.server_name.clone(), stream)
                        .await
                        .map_err(|_| Failure::Tls)?,
                ),
            };
            let (sender, driver) = http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|_| Failure::Connect)?;
            self.open = Some((sender, Box::pin(driver)));
        }
        self.open.as_mut().ok_or(Failure::Connect)
    }
}

/// Runs `work` while driving the connection; a connection that ends first
/// (closed, broken) fails the work.
async fn drive<T, E>(
    driver: &mut Driver,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, Failure> {
    tokio::select! {
        biased;
        done = work => done.map_err(|_| Failure::Other),
        _ = driver => Err(Failure::Other),
    }
}

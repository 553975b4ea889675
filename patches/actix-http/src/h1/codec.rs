use std::{collections::VecDeque, fmt, io};

use bitflags::bitflags;
use bytes::BytesMut;
use http::{Method, Version};
use tokio_util::codec::{Decoder, Encoder};

use super::{
    decoder::{self, PayloadDecoder, PayloadItem, PayloadType},
    encoder, Message, MessageType,
};
use crate::{body::BodySize, error::ParseError, ConnectionType, Request, Response, ServiceConfig};

bitflags! {
    #[derive(Debug, Clone, Copy)]
    struct Flags: u8 {
        const HEAD               = 0b0000_0001;
        const KEEP_ALIVE_ENABLED = 0b0000_0010;
        const STREAM             = 0b0000_0100;
        const CLOSING            = 0b0000_1000;
    }
}

/// What the response to one request needs to know of it.
///
/// Pipelined requests can be decoded before the responses to earlier ones are encoded, so this
/// is kept per request, oldest first, rather than as connection-wide state.
#[derive(Debug, Clone, Copy)]
struct RequestFraming {
    head: bool,
    stream: bool,
    version: Version,
    conn_type: ConnectionType,
}

/// HTTP/1 Codec
pub struct Codec {
    config: ServiceConfig,
    decoder: decoder::MessageDecoder<Request>,
    payload: Option<PayloadDecoder>,
    version: Version,
    conn_type: ConnectionType,
    // requests decoded and not yet answered, oldest first
    unanswered: VecDeque<RequestFraming>,

    // encoder part
    flags: Flags,
    encoder: encoder::MessageEncoder<Response<()>>,
}

impl Default for Codec {
    fn default() -> Self {
        Codec::new(ServiceConfig::default())
    }
}

impl fmt::Debug for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("h1::Codec")
            .field("flags", &self.flags)
            .finish_non_exhaustive()
    }
}

impl Codec {
    /// Create HTTP/1 codec.
    ///
    /// `keepalive_enabled` how response `connection` header get generated.
    pub fn new(config: ServiceConfig) -> Self {
        let flags = if config.keep_alive().enabled() {
            Flags::KEEP_ALIVE_ENABLED
        } else {
            Flags::empty()
        };

        Codec {
            config,
            flags,
            decoder: decoder::MessageDecoder::default(),
            payload: None,
            version: Version::HTTP_11,
            conn_type: ConnectionType::Close,
            unanswered: VecDeque::new(),
            encoder: encoder::MessageEncoder::default(),
        }
    }

    /// Check if request is upgrade.
    #[inline]
    pub fn upgrade(&self) -> bool {
        self.conn_type == ConnectionType::Upgrade
    }

    /// Check if last response is keep-alive.
    #[inline]
    pub fn keep_alive(&self) -> bool {
        self.conn_type == ConnectionType::KeepAlive
    }

    /// Check if last response closes the connection.
    #[inline]
    pub(crate) fn closes(&self) -> bool {
        self.conn_type == ConnectionType::Close
    }

    /// Check if keep-alive enabled on server level.
    #[inline]
    pub fn keep_alive_enabled(&self) -> bool {
        self.flags.contains(Flags::KEEP_ALIVE_ENABLED)
    }

    /// Check last request's message type.
    #[inline]
    pub fn message_type(&self) -> MessageType {
        if self.flags.contains(Flags::STREAM) {
            MessageType::Stream
        } else if self.payload.is_none() {
            MessageType::None
        } else {
            MessageType::Payload
        }
    }

    #[inline]
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }
}

impl Decoder for Codec {
    type Item = Message<Request>;
    type Error = ParseError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        if self.payload.is_none() && self.flags.contains(Flags::CLOSING) {
            // RFC 9112 §9.6: no request after a "close" is processed. What follows is read and
            // discarded, so the peer is not left blocked on a full window until the close.
            src.clear();
            return Ok(None);
        }

        if let Some(ref mut payload) = self.payload {
            Ok(match payload.decode(src)? {
                Some(PayloadItem::Chunk(chunk)) => Some(Message::Chunk(Some(chunk))),
                Some(PayloadItem::Eof) => {
                    self.payload.take();
                    Some(Message::Chunk(None))
                }
                None => None,
            })
        } else if let Some((req, payload)) = self.decoder.decode(src)? {
            let head = req.head();
            self.flags.set(Flags::HEAD, head.method == Method::HEAD);
            self.version = head.version;
            self.conn_type = head.connection_type();

            if self.conn_type == ConnectionType::KeepAlive
                && !self.flags.contains(Flags::KEEP_ALIVE_ENABLED)
            {
                self.conn_type = ConnectionType::Close
            }

            match payload {
                PayloadType::None => self.payload = None,
                PayloadType::Payload(pl) => self.payload = Some(pl),
                PayloadType::Stream(pl) => {
                    self.payload = Some(pl);
                    self.flags.insert(Flags::STREAM);
                }
            }

            self.unanswered.push_back(RequestFraming {
                head: self.flags.contains(Flags::HEAD),
                stream: self.flags.contains(Flags::STREAM),
                version: self.version,
                conn_type: self.conn_type,
            });

            if self.conn_type == ConnectionType::Close {
                self.flags.insert(Flags::CLOSING);
            }

            Ok(Some(Message::Item(req)))
        } else {
            Ok(None)
        }
    }
}

impl Encoder<Message<(Response<()>, BodySize)>> for Codec {
    type Error = io::Error;

    fn encode(
        &mut self,
        item: Message<(Response<()>, BodySize)>,
        dst: &mut BytesMut,
    ) -> Result<(), Self::Error> {
        match item {
            Message::Item((mut res, length)) => {
                // frame the response for the request it answers; a response to no decoded
                // request (e.g. a timeout before the first one) uses the latest state
                let request = self.unanswered.pop_front().unwrap_or(RequestFraming {
                    head: self.flags.contains(Flags::HEAD),
                    stream: self.flags.contains(Flags::STREAM),
                    version: self.version,
                    conn_type: self.conn_type,
                });

                // set response version
                res.head_mut().version = request.version;

                // connection status
                self.conn_type = if let Some(ct) = res.head().conn_type() {
                    if ct == ConnectionType::KeepAlive {
                        request.conn_type
                    } else {
                        ct
                    }
                } else {
                    request.conn_type
                };

                if self.conn_type == ConnectionType::Close {
                    // RFC 9112 §9.6: after a response that closes, no further request is read
                    self.flags.insert(Flags::CLOSING);
                }

                // encode message
                self.encoder.encode(
                    dst,
                    &mut res,
                    request.head,
                    request.stream,
                    request.version,
                    length,
                    self.conn_type,
                    &self.config,
                )?;
            }

            Message::Chunk(Some(bytes)) => {
                self.encoder.encode_chunk(bytes.as_ref(), dst)?;
            }

            Message::Chunk(None) => {
                self.encoder.encode_eof(dst)?;
            }
        }

        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        header::{HeaderValue, UPGRADE},
        HttpMessage as _, StatusCode,
    };

    #[actix_rt::test]
    async fn upgrade_advertisement_preserves_keep_alive() {
        for (version, camel_case, connection) in [
            ("HTTP/1.1", false, "connection: upgrade\r\n"),
            ("HTTP/1.1", true, "Connection: Upgrade\r\n"),
            ("HTTP/1.0", false, "connection: keep-alive, upgrade\r\n"),
            ("HTTP/1.0", true, "Connection: keep-alive, upgrade\r\n"),
        ] {
            let mut codec = Codec::default();
            let mut request = BytesMut::from(
                format!("GET / {version}\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n")
                    .as_bytes(),
            );
            codec.decode(&mut request).unwrap().unwrap();

            let mut response = Response::with_body(StatusCode::OK, ());
            response.head_mut().set_camel_case_headers(camel_case);
            response
                .headers_mut()
                .insert(UPGRADE, HeaderValue::from_static("websocket"));

            let mut output = BytesMut::new();
            codec
                .encode(Message::Item((response, BodySize::Sized(0))), &mut output)
                .unwrap();
            let output = std::str::from_utf8(&output).unwrap();

            assert!(
                output.contains(connection),
                "missing {connection:?}: {output}"
            );
            assert!(codec.keep_alive());
        }
    }

    fn encode_ok(codec: &mut Codec, body: &'static [u8]) -> String {
        let mut output = BytesMut::new();
        let response = Response::with_body(StatusCode::OK, ());
        let length = BodySize::Sized(body.len() as u64);
        codec
            .encode(Message::Item((response, length)), &mut output)
            .unwrap();
        codec
            .encode(Message::Chunk(Some(body.into())), &mut output)
            .unwrap();
        codec.encode(Message::Chunk(None), &mut output).unwrap();
        String::from_utf8(output.to_vec()).unwrap()
    }

    #[actix_rt::test]
    async fn pipelined_responses_are_framed_for_their_own_requests() {
        let mut codec = Codec::default();
        let mut buf = BytesMut::from(
            "GET /a HTTP/1.1\r\nHost: localhost\r\n\r\n\
             HEAD /b HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n\
             GET /c HTTP/1.1\r\nHost: localhost\r\n\r\n",
        );
        // all three are decoded before the first response is encoded
        for _ in 0..3 {
            codec.decode(&mut buf).unwrap().unwrap();
        }

        let get = encode_ok(&mut codec, b"ok");
        assert!(get.starts_with("HTTP/1.1 200 OK\r\n"), "{get}");
        assert!(get.ends_with("\r\n\r\nok"), "{get}");
        assert!(!get.contains("connection:"), "{get}");

        let head = encode_ok(&mut codec, b"ok");
        assert!(head.starts_with("HTTP/1.0 200 OK\r\n"), "{head}");
        assert!(head.contains("content-length: 2\r\n"), "{head}");
        assert!(head.contains("connection: keep-alive\r\n"), "{head}");
        assert!(head.ends_with("\r\n\r\n"), "{head}");

        let get = encode_ok(&mut codec, b"ok");
        assert!(get.starts_with("HTTP/1.1 200 OK\r\n"), "{get}");
        assert!(get.ends_with("\r\n\r\nok"), "{get}");
        assert!(codec.keep_alive());
    }

    #[actix_rt::test]
    async fn no_request_is_decoded_after_one_that_closes() {
        let mut codec = Codec::default();
        let mut buf = BytesMut::from(
            "POST /a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Content-Length: 2\r\n\r\nab\
             GET /b HTTP/1.1\r\nHost: localhost\r\n\r\n",
        );
        let item = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(item.message().path(), "/a");
        // its own body is still read
        assert_eq!(
            codec.decode(&mut buf).unwrap().unwrap().chunk().as_ref(),
            b"ab"
        );
        assert!(codec.decode(&mut buf).unwrap().unwrap().eof());

        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(buf.is_empty(), "what follows is discarded");

        buf.extend_from_slice(b"GET /c HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert!(codec.decode(&mut buf).unwrap().is_none());

        let response = encode_ok(&mut codec, b"");
        assert!(response.contains("connection: close\r\n"), "{response}");
        assert!(!codec.keep_alive());
    }

    #[actix_rt::test]
    async fn no_request_is_decoded_after_a_response_that_closes() {
        let mut codec = Codec::default();
        let mut buf = BytesMut::from("GET /a HTTP/1.1\r\nHost: localhost\r\n\r\n");
        codec.decode(&mut buf).unwrap().unwrap();

        let mut response = Response::with_body(StatusCode::OK, ());
        response
            .head_mut()
            .set_connection_type(ConnectionType::Close);
        let mut output = BytesMut::new();
        codec
            .encode(Message::Item((response, BodySize::Sized(0))), &mut output)
            .unwrap();
        assert!(codec.closes());

        buf.extend_from_slice(b"GET /b HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(buf.is_empty());
    }

    #[actix_rt::test]
    async fn test_http_request_chunked_payload_and_next_message() {
        let mut codec = Codec::default();

        let mut buf = BytesMut::from(
            "GET /test HTTP/1.1\r\n\
             Host: localhost\r\n\
             transfer-encoding: chunked\r\n\r\n",
        );
        let item = codec.decode(&mut buf).unwrap().unwrap();
        let req = item.message();

        assert_eq!(req.method(), Method::GET);
        assert!(req.chunked().unwrap());

        buf.extend(
            b"4\r\ndata\r\n4\r\nline\r\n0\r\n\r\n\
               POST /test2 HTTP/1.1\r\n\
               Host: localhost\r\n\
               transfer-encoding: chunked\r\n\r\n"
                .iter(),
        );

        let msg = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(msg.chunk().as_ref(), b"data");

        let msg = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(msg.chunk().as_ref(), b"line");

        let msg = codec.decode(&mut buf).unwrap().unwrap();
        assert!(msg.eof());

        // decode next message
        let item = codec.decode(&mut buf).unwrap().unwrap();
        let req = item.message();
        assert_eq!(*req.method(), Method::POST);
        assert!(req.chunked().unwrap());
    }

    #[actix_rt::test]
    async fn test_http_request_rejects_content_length_and_chunked() {
        let mut codec = Codec::default();
        let mut buf = BytesMut::from(
            "POST /test HTTP/1.1\r\n\
             Host: localhost\r\n\
             content-length: 11\r\n\
             transfer-encoding: chunked\r\n\r\n\
             0\r\n\r\n\
             GET /test2 HTTP/1.1\r\n\
             Host: localhost\r\n\r\n",
        );

        assert!(codec.decode(&mut buf).is_err());
    }
}

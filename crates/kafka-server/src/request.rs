//! A request as it travels from a Processor to a handler and back as a response.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use kafka_network::{KafkaPrincipal, SendPart};
use kafka_protocol::messages::{RequestKind, ResponseKind};
use kafka_protocol::records::{InlineSize, PartsWriter};
use kafka_protocol::{ApiKey, Encodable, RequestHeader, ResponseHeader};

use crate::error::Result;

/// Who sent a request and how.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The connection id (`local-remote-index`).
    pub connection_id: String,
    /// The client's address.
    pub client_address: Option<SocketAddr>,
    /// The authenticated principal.
    pub principal: KafkaPrincipal,
    /// The listener the connection came through.
    pub listener: String,
    /// The request header.
    pub header: RequestHeader,
}

/// When a request passed each stage, as Kafka's `RequestChannel.Request` records them; the
/// differences give the request-queue, local, remote, response-queue and send times.
#[derive(Debug, Clone, Copy)]
pub struct RequestTimes {
    /// The request was read completely from the socket.
    pub start: Instant,
    /// A handler took it from the request queue.
    pub dequeue: Option<Instant>,
    /// The handler finished its local work (for delayed responses: when it parked it).
    pub api_local_complete: Option<Instant>,
    /// The response was handed to the response queue.
    pub response_complete: Option<Instant>,
    /// The Processor took the response from its queue.
    pub response_dequeue: Option<Instant>,
}

impl RequestTimes {
    pub(crate) fn new(start: Instant) -> Self {
        RequestTimes {
            start,
            dequeue: None,
            api_local_complete: None,
            response_complete: None,
            response_dequeue: None,
        }
    }
}

/// A parsed request waiting for, or being served by, a handler.
#[derive(Debug)]
pub struct Request {
    /// The Processor that owns the connection (where the response goes).
    pub processor: usize,
    /// Who sent it.
    pub context: RequestContext,
    /// The API.
    pub api_key: ApiKey,
    /// The API version.
    pub api_version: i16,
    /// The decoded body; byte and record fields share the received frame's memory.
    pub body: RequestKind,
    /// Bytes of the frame (without the size prefix).
    pub size: usize,
    /// Stage timestamps.
    pub times: RequestTimes,
}

/// What the Processor should do for a request.
#[derive(Debug)]
pub enum ResponseAction {
    /// Write this frame payload (response header and body, no size prefix).
    Send(Vec<SendPart>),
    /// Nothing to write (acks=0 produce): just unmute the channel.
    NoOp,
    /// Close the connection.
    Close,
}

/// The answer to one request, addressed to its Processor and connection.
#[derive(Debug)]
pub struct Response {
    /// The Processor that owns the connection.
    pub processor: usize,
    /// The connection.
    pub connection_id: String,
    /// The API answered (for metrics).
    pub api_key: ApiKey,
    /// The version answered (for metrics).
    pub api_version: i16,
    /// Stage timestamps carried over from the request.
    pub times: RequestTimes,
    /// What to do.
    pub action: ResponseAction,
}

impl Request {
    /// A response with `action`.
    pub fn response(&self, action: ResponseAction) -> Response {
        Response {
            processor: self.processor,
            connection_id: self.context.connection_id.clone(),
            api_key: self.api_key,
            api_version: self.api_version,
            times: self.times,
            action,
        }
    }

    /// Encodes `body` with the right response header for this request. `records` fields
    /// that are file regions become parts of their own, sent with `sendfile` on plaintext.
    pub fn respond(&self, body: &ResponseKind) -> Result<Response> {
        let parts = encode_response_parts(
            self.api_key,
            self.api_version,
            self.context.header.correlation_id,
            body,
        )?;
        Ok(self.response(ResponseAction::Send(parts)))
    }

    /// A response that writes nothing and unmutes the channel.
    pub fn no_response(&self) -> Response {
        self.response(ResponseAction::NoOp)
    }

    /// A response that closes the connection.
    pub fn close_connection(&self) -> Response {
        self.response(ResponseAction::Close)
    }
}

/// Encodes a response header and body as send parts: one buffer allocation for the bytes
/// copied (all of them when the body has no file regions or large in-memory records), and
/// each file region as its own part.
pub fn encode_response_parts(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<Vec<SendPart>> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let header_version = api_key.response_header_version(version);
    // One pass measuring what will be copied sizes the buffer exactly, so file regions do
    // not inflate the allocation.
    let mut size = InlineSize::new();
    header
        .encode(&mut size, header_version)
        .map_err(kafka_network::Error::from)?;
    body.encode(&mut size, version)
        .map_err(kafka_network::Error::from)?;
    let mut writer = PartsWriter::with_capacity(size.bytes());
    header
        .encode(&mut writer, header_version)
        .map_err(kafka_network::Error::from)?;
    body.encode(&mut writer, version)
        .map_err(kafka_network::Error::from)?;
    Ok(writer.finish())
}

/// Encodes a response header and body into one buffer (a body with a file region in a
/// `records` field is an error here: use [`encode_response_parts`]).
pub fn encode_response(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<Bytes> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let header_version = api_key.response_header_version(version);
    let size = header
        .compute_size(header_version)
        .map_err(kafka_network::Error::from)?
        + body
            .compute_size(version)
            .map_err(kafka_network::Error::from)?;
    let mut buf = BytesMut::with_capacity(size);
    header
        .encode(&mut buf, header_version)
        .map_err(kafka_network::Error::from)?;
    body.encode(&mut buf, version)
        .map_err(kafka_network::Error::from)?;
    Ok(buf.freeze())
}

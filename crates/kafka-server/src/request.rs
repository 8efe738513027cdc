//! A request as it travels from a Processor to a handler, and the [`Responder`] through which
//! the handler answers it exactly once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use crossbeam_channel::{Receiver, Sender};
use kafka_network::{ConnectionId, KafkaPrincipal, SendPart};
use kafka_protocol::messages::{RequestKind, ResponseKind};
use kafka_protocol::records::{InlineSize, PartsWriter};
use kafka_protocol::{ApiKey, Encodable, RequestHeader, ResponseHeader};

use crate::error::Result;
use crate::request_channel::RequestChannel;

/// Who sent a request, how, and when it passed each stage so far.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The connection (a small copyable id; its `Display` is short).
    pub connection_id: ConnectionId,
    /// The connection as Kafka names it (`local-remote`), for logs.
    pub connection_name: Arc<str>,
    /// The client's address.
    pub client_address: Option<SocketAddr>,
    /// The authenticated principal.
    pub principal: KafkaPrincipal,
    /// The listener the connection came through.
    pub listener: Arc<str>,
    /// The request header.
    pub header: RequestHeader,
    /// The API.
    pub api_key: ApiKey,
    /// The API version.
    pub api_version: i16,
    /// Bytes of the frame (without the size prefix).
    pub size: usize,
    /// Stage timestamps up to the handler.
    pub times: RequestTimes,
}

impl RequestContext {
    /// A context for a request that did not come through a socket (tests, tools): the
    /// anonymous principal on listener `PLAINTEXT`, connection 0, received now.
    pub fn detached(api_key: ApiKey, api_version: i16, header: RequestHeader) -> Self {
        let now = Instant::now();
        let mut times = RequestTimes::new(now);
        times.dequeue = Some(now);
        RequestContext {
            connection_id: ConnectionId::default(),
            connection_name: Arc::from("detached"),
            client_address: None,
            principal: KafkaPrincipal::anonymous(),
            listener: Arc::from("PLAINTEXT"),
            header,
            api_key,
            api_version,
            size: 0,
            times,
        }
    }
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

/// A parsed request in the request queue.
#[derive(Debug)]
pub(crate) struct Request {
    /// The Processor that owns the connection (where the response goes).
    pub(crate) processor: usize,
    pub(crate) context: RequestContext,
    /// The decoded body; byte and record fields share the received frame's memory.
    pub(crate) body: RequestKind,
}

impl Request {
    /// Splits the request for its handler: the responder answers through `channel`.
    pub(crate) fn into_parts(
        self,
        channel: &Arc<RequestChannel>,
    ) -> (RequestContext, RequestKind, Responder) {
        let responder = Responder::new(
            Sink::Channel(Arc::clone(channel)),
            self.processor,
            &self.context,
        );
        (self.context, self.body, responder)
    }
}

/// What the Processor should do for a request.
#[derive(Debug)]
pub(crate) enum ResponseAction {
    /// Write this frame payload (response header and body, no size prefix).
    Send(Vec<SendPart>),
    /// Nothing to write (acks=0 produce): just unmute the channel.
    NoOp,
    /// Close the connection.
    Close,
}

/// The answer to one request, addressed to its Processor and connection.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) processor: usize,
    pub(crate) connection_id: ConnectionId,
    /// The API answered (for metrics).
    pub(crate) api_key: ApiKey,
    /// The version answered (for metrics).
    pub(crate) api_version: i16,
    /// Stage timestamps carried over from the request.
    pub(crate) times: RequestTimes,
    pub(crate) action: ResponseAction,
}

/// What a [`Responder`] did, as a capturing responder records it.
#[derive(Debug, Clone, PartialEq)]
pub enum Captured {
    /// [`Responder::respond`] with this body (which encoded).
    Response(ResponseKind),
    /// [`Responder::no_response`].
    NoResponse,
    /// [`Responder::close`], or a response that failed to encode.
    Closed,
    /// The responder was dropped unused (the connection is closed and the drop counted).
    Dropped,
}

#[derive(Debug)]
enum Sink {
    Channel(Arc<RequestChannel>),
    Capture(Sender<Captured>),
}

#[derive(Debug)]
struct Target {
    sink: Sink,
    processor: usize,
    connection_id: ConnectionId,
    connection_name: Arc<str>,
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    times: RequestTimes,
}

/// The one way to answer a request. It is not `Clone` and every answer consumes it, so a
/// request is answered at most once by construction; dropping it unanswered closes the
/// connection (the client would otherwise wait forever on a muted channel), logs, and counts
/// in `kafka_server_responder_dropped_total`. A handler that must wait (long-poll fetch,
/// rebalance) keeps only the responder, not the request.
#[derive(Debug)]
#[must_use = "a dropped responder closes the connection"]
pub struct Responder {
    target: Option<Target>,
}

impl Responder {
    fn new(sink: Sink, processor: usize, context: &RequestContext) -> Self {
        Responder {
            target: Some(Target {
                sink,
                processor,
                connection_id: context.connection_id,
                connection_name: Arc::clone(&context.connection_name),
                api_key: context.api_key,
                api_version: context.api_version,
                correlation_id: context.header.correlation_id,
                times: context.times,
            }),
        }
    }

    /// A responder that records what it is asked to do instead of writing to a socket, for
    /// driving handlers in tests.
    pub fn capture(context: &RequestContext) -> (Responder, ResponseCapture) {
        let (tx, rx) = crossbeam_channel::unbounded();
        (
            Responder::new(Sink::Capture(tx), 0, context),
            ResponseCapture { rx },
        )
    }

    /// The API being answered.
    pub fn api_key(&self) -> ApiKey {
        self.target
            .as_ref()
            .map_or(ApiKey::ApiVersions, |t| t.api_key)
    }

    /// The version being answered.
    pub fn api_version(&self) -> i16 {
        self.target.as_ref().map_or(0, |t| t.api_version)
    }

    /// Records that the handler's local work is done and the answer will come later (the
    /// split between local and remote time in the request metrics).
    pub fn park(&mut self) {
        if let Some(t) = self.target.as_mut() {
            t.times.api_local_complete = Some(Instant::now());
        }
    }

    /// Answers with `body`, encoded for the request's version; `records` fields that are file
    /// regions become send parts of their own (`sendfile` on plaintext). A body that cannot be
    /// encoded closes the connection, logged.
    pub fn respond(mut self, body: ResponseKind) {
        let Some(t) = self.target.take() else { return };
        match &t.sink {
            Sink::Channel(_) => {
                match encode_response_parts(t.api_key, t.api_version, t.correlation_id, &body) {
                    Ok(parts) => t.finish(ResponseAction::Send(parts)),
                    Err(e) => t.encoding_failed(&e),
                }
            }
            Sink::Capture(tx) => {
                match encode_response_parts(t.api_key, t.api_version, t.correlation_id, &body) {
                    Ok(_) => {
                        let _ = tx.send(Captured::Response(body));
                    }
                    Err(e) => t.encoding_failed(&e),
                }
            }
        }
    }

    /// Writes nothing and lets the connection read its next request (acks=0 produce).
    pub fn no_response(mut self) {
        if let Some(t) = self.target.take() {
            t.finish(ResponseAction::NoOp);
        }
    }

    /// Closes the connection instead of answering.
    pub fn close(mut self) {
        if let Some(t) = self.target.take() {
            t.finish(ResponseAction::Close);
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let Some(t) = self.target.take() else { return };
        tracing::warn!(
            connection = %t.connection_name,
            api = t.api_key.name(),
            version = t.api_version,
            "a request was dropped unanswered; closing its connection"
        );
        crate::metrics::responder_dropped(t.api_key);
        match &t.sink {
            Sink::Capture(tx) => {
                let _ = tx.send(Captured::Dropped);
            }
            Sink::Channel(_) => t.finish(ResponseAction::Close),
        }
    }
}

impl Target {
    fn finish(self, action: ResponseAction) {
        match self.sink {
            Sink::Channel(channel) => channel.send_response(Response {
                processor: self.processor,
                connection_id: self.connection_id,
                api_key: self.api_key,
                api_version: self.api_version,
                times: self.times,
                action,
            }),
            Sink::Capture(tx) => {
                let captured = match action {
                    ResponseAction::Send(_) => return,
                    ResponseAction::NoOp => Captured::NoResponse,
                    ResponseAction::Close => Captured::Closed,
                };
                let _ = tx.send(captured);
            }
        }
    }

    fn encoding_failed(self, error: &crate::Error) {
        tracing::error!(
            connection = %self.connection_name,
            api = self.api_key.name(),
            version = self.api_version,
            %error,
            "encoding the response failed; closing the connection"
        );
        self.finish(ResponseAction::Close);
    }
}

/// What a capturing [`Responder`] recorded.
#[derive(Debug)]
pub struct ResponseCapture {
    rx: Receiver<Captured>,
}

impl ResponseCapture {
    /// What was recorded, if anything yet.
    pub fn try_take(&self) -> Option<Captured> {
        self.rx.try_recv().ok()
    }

    /// Waits up to `timeout` for the responder to be used (a parked request answers later).
    pub fn wait(&self, timeout: Duration) -> Option<Captured> {
        self.rx.recv_timeout(timeout).ok()
    }
}

/// Encodes a response header and body as send parts: one buffer allocation for the bytes
/// copied (all of them when the body has no file regions or large in-memory records), and
/// each file region as its own part.
pub(crate) fn encode_response_parts(
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
pub(crate) fn encode_response(
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

//! A Processor: one network thread owning a `Selector` and the connections handed to it.
//!
//! Its loop is the one the source documents describe: configure new connections, process new
//! responses, poll, process completed receives, process completed sends, process disconnected.
//! The request header is parsed here, so APIs and versions the broker does not advertise (the
//! [`AdvertisedApis`] it handed down) are answered (or the connection closed) as Kafka does
//! without involving a handler; a channel is muted from a
//! complete receive until its response is sent, which keeps responses in request order.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::Receiver;
use kafka_network::{
    AdvertisedApis, ChannelMuteEvent, ConnectionId, NetworkSend, Selector, SendPart,
};
use kafka_protocol::header::peek_api_key_and_version;
use kafka_protocol::messages::{RequestKind, ResponseKind};
use kafka_protocol::{ApiKey, Decodable, RequestHeader};

use crate::acceptor::NewConnection;
use crate::config::ListenerConfig;
use crate::metrics::{self, Completed, IdleMeter, RequestMetrics};
use crate::quotas::ConnectionQuotas;
use crate::request::{
    encode_response, Request, RequestContext, RequestTimes, Response, ResponseAction,
};
use crate::request_channel::RequestChannel;

/// A response being written, kept for its metrics.
#[derive(Debug)]
struct InFlight {
    api_key: ApiKey,
    api_version: i16,
    bytes: usize,
    times: RequestTimes,
}

#[derive(Debug)]
struct Connection {
    peer: SocketAddr,
    /// `local-remote`, as Kafka names connections in its logs.
    name: Arc<str>,
}

#[derive(Debug)]
pub(crate) struct Processor {
    pub(crate) id: usize,
    pub(crate) listener: ListenerConfig,
    pub(crate) selector: Selector,
    pub(crate) new_connections: Receiver<NewConnection>,
    pub(crate) responses: Receiver<Response>,
    pub(crate) channel: Arc<RequestChannel>,
    pub(crate) quotas: Arc<ConnectionQuotas>,
    pub(crate) shutdown: Arc<AtomicBool>,
    apis: Arc<AdvertisedApis>,
    listener_name: Arc<str>,
    connections: HashMap<ConnectionId, Connection>,
    in_flight: HashMap<ConnectionId, InFlight>,
    metrics: RequestMetrics,
}

/// How often a Processor wakes up with nothing to do (Kafka polls with 300 ms).
const POLL_TIMEOUT: Duration = Duration::from_millis(300);
/// New connections configured per loop iteration, so accepting cannot starve I/O.
const MAX_NEW_CONNECTIONS_PER_LOOP: usize = 20;

impl Processor {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: usize,
        listener: ListenerConfig,
        selector: Selector,
        new_connections: Receiver<NewConnection>,
        responses: Receiver<Response>,
        channel: Arc<RequestChannel>,
        quotas: Arc<ConnectionQuotas>,
        shutdown: Arc<AtomicBool>,
        apis: Arc<AdvertisedApis>,
    ) -> Self {
        Processor {
            listener_name: Arc::from(listener.name.as_str()),
            apis,
            id,
            listener,
            selector,
            new_connections,
            responses,
            channel,
            quotas,
            shutdown,
            connections: HashMap::new(),
            in_flight: HashMap::new(),
            metrics: RequestMetrics::default(),
        }
    }

    pub(crate) fn run(mut self, grace: Duration) {
        let mut idle = IdleMeter::new(metrics::processor_idle_gauge(&self.listener.name, self.id));
        let connection_count = metrics::connection_count(&self.listener.name);
        let response_queue = metrics::response_queue_gauge(self.id);
        let file_bytes_copied = metrics::file_bytes_copied(&self.listener.name);
        let mut copied_reported = 0;
        while !self.shutdown.load(Ordering::Acquire) {
            self.configure_new_connections();
            self.process_new_responses();
            response_queue.set(self.responses.len() as f64);
            let before = Instant::now();
            if let Err(e) = self.selector.poll(Some(POLL_TIMEOUT)) {
                tracing::error!(processor = self.id, error = %e, "selector poll failed");
            }
            let now = Instant::now();
            idle.record_idle(now.saturating_duration_since(before), now);
            let copied = self.selector.file_bytes_copied();
            file_bytes_copied.increment(copied - copied_reported);
            copied_reported = copied;
            self.process_completed_receives(now);
            self.process_completed_sends(now);
            self.process_disconnected();
            connection_count.set(self.connections.len() as f64);
        }
        self.drain(grace);
        self.close_all();
        connection_count.set(0.0);
    }

    /// After shutdown starts: write the responses already produced, within `grace`.
    fn drain(&mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            self.process_new_responses();
            if self.in_flight.is_empty() && self.responses.is_empty() {
                return;
            }
            if self.selector.poll(Some(Duration::from_millis(10))).is_err() {
                return;
            }
            let now = Instant::now();
            self.process_completed_sends(now);
            self.process_disconnected();
        }
    }

    fn close_all(&mut self) {
        let ids: Vec<ConnectionId> = self.connections.keys().copied().collect();
        for id in ids {
            self.close(id);
        }
        // Connections handed over but never configured still hold quota slots.
        while let Ok(conn) = self.new_connections.try_recv() {
            self.quotas.release(&self.listener.name, conn.peer.ip());
        }
    }

    fn configure_new_connections(&mut self) {
        for _ in 0..MAX_NEW_CONNECTIONS_PER_LOOP {
            let Ok(conn) = self.new_connections.try_recv() else {
                return;
            };
            let local = conn
                .stream
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| "?".into());
            let name: Arc<str> = Arc::from(format!("{local}-{}", conn.peer));
            match self.selector.register(conn.stream) {
                Ok(id) => {
                    self.connections.insert(
                        id,
                        Connection {
                            peer: conn.peer,
                            name,
                        },
                    );
                }
                Err(e) => {
                    tracing::warn!(processor = self.id, peer = %conn.peer, error = %e, "registering connection failed");
                    self.quotas.release(&self.listener.name, conn.peer.ip());
                }
            }
        }
    }

    fn process_new_responses(&mut self) {
        while let Ok(mut response) = self.responses.try_recv() {
            response.times.response_dequeue = Some(Instant::now());
            let id = response.connection_id;
            if !self.connections.contains_key(&id) {
                continue; // the connection closed while the request was being handled
            }
            match response.action {
                ResponseAction::Send(parts) => {
                    let send = match NetworkSend::frame(parts) {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::error!(connection = %id, error = %e, "response cannot be framed; closing");
                            self.close(id);
                            continue;
                        }
                    };
                    let bytes = send.size();
                    match self.selector.send(id, send) {
                        Ok(()) => {
                            self.in_flight.insert(
                                id,
                                InFlight {
                                    api_key: response.api_key,
                                    api_version: response.api_version,
                                    bytes,
                                    times: response.times,
                                },
                            );
                        }
                        Err(e) => {
                            tracing::warn!(connection = %id, error = %e, "queueing response failed; closing");
                            self.close(id);
                        }
                    }
                }
                ResponseAction::NoOp => {
                    let _ = self.selector.mute_event(id, ChannelMuteEvent::ResponseSent);
                    let _ = self.selector.unmute(id);
                }
                ResponseAction::Close => self.close(id),
            }
        }
    }

    fn process_completed_receives(&mut self, now: Instant) {
        let receives: Vec<(ConnectionId, Bytes)> = self.selector.completed_receives().collect();
        for (id, frame) in receives {
            match self.parse(id, frame, now) {
                Parsed::Request(request) => {
                    self.metrics.request_received(
                        request.context.api_key,
                        request.context.api_version,
                        request.context.size,
                    );
                    let _ = self.selector.mute(id);
                    let _ = self
                        .selector
                        .mute_event(id, ChannelMuteEvent::RequestReceived);
                    if let Err(r) = self.channel.send_request(*request) {
                        tracing::debug!(connection = %r.context.connection_name, "dropping request: shutting down");
                        return;
                    }
                }
                Parsed::Answer(api_key, api_version, payload) => {
                    self.metrics.request_received(api_key, api_version, 0);
                    let _ = self.selector.mute(id);
                    let _ = self
                        .selector
                        .mute_event(id, ChannelMuteEvent::RequestReceived);
                    let send = NetworkSend::frame(vec![SendPart::Bytes(payload)]);
                    match send.map_err(|e| e.to_string()).and_then(|s| {
                        let bytes = s.size();
                        self.selector
                            .send(id, s)
                            .map(|_| bytes)
                            .map_err(|e| e.to_string())
                    }) {
                        Ok(bytes) => {
                            let mut times = RequestTimes::new(now);
                            times.dequeue = Some(now);
                            times.response_complete = Some(now);
                            times.response_dequeue = Some(now);
                            self.in_flight.insert(
                                id,
                                InFlight {
                                    api_key,
                                    api_version,
                                    bytes,
                                    times,
                                },
                            );
                        }
                        Err(e) => {
                            tracing::warn!(connection = %id, error = %e, "answering failed; closing");
                            self.close(id);
                        }
                    }
                }
                Parsed::Close(reason) => {
                    let name = self.connections.get(&id).map(|c| Arc::clone(&c.name));
                    tracing::info!(processor = self.id, connection = ?name, %reason, "closing connection");
                    self.close(id);
                }
            }
        }
    }

    fn parse(&mut self, id: ConnectionId, frame: Bytes, now: Instant) -> Parsed {
        let size = frame.len();
        let (key, version) = match peek_api_key_and_version(&frame) {
            Ok(kv) => kv,
            Err(e) => return Parsed::Close(format!("unreadable request header: {e}")),
        };
        let Some(api_key) = ApiKey::from_id(key) else {
            return Parsed::Close(format!("unknown API key {key}"));
        };
        let Some(range) = self.apis.range(api_key) else {
            return Parsed::Close(format!("{} is not advertised", api_key.name()));
        };
        if !range.contains(version) {
            if api_key == ApiKey::ApiVersions && version > range.max {
                // A client newer than us: answer in v0 with our ranges so it can pick one.
                let Some(correlation_id) = frame
                    .get(4..8)
                    .and_then(|b| b.try_into().ok())
                    .map(i32::from_be_bytes)
                else {
                    return Parsed::Close("truncated ApiVersions header".into());
                };
                let body = ResponseKind::ApiVersions(self.apis.unsupported_version_response());
                return match encode_response(ApiKey::ApiVersions, 0, correlation_id, &body) {
                    Ok(p) => Parsed::Answer(api_key, version, p),
                    Err(e) => Parsed::Close(format!("encoding ApiVersions failed: {e}")),
                };
            }
            return Parsed::Close(format!(
                "unsupported version {version} of {}",
                api_key.name()
            ));
        }
        let mut buf = frame;
        let header = match RequestHeader::decode(&mut buf, api_key.request_header_version(version))
        {
            Ok(h) => h,
            Err(e) => {
                return Parsed::Close(format!("malformed {} request header: {e}", api_key.name()))
            }
        };
        let body = match RequestKind::decode(api_key, &mut buf, version) {
            Ok(b) => b,
            Err(e) => {
                return Parsed::Close(format!(
                    "malformed {} v{version} request: {e}",
                    api_key.name()
                ))
            }
        };
        let Some(conn) = self.connections.get(&id) else {
            return Parsed::Close("unknown connection".into());
        };
        let principal = self
            .selector
            .channel(id)
            .and_then(|c| c.principal().cloned())
            .unwrap_or_else(kafka_network::KafkaPrincipal::anonymous);
        Parsed::Request(Box::new(Request {
            processor: self.id,
            context: RequestContext {
                connection_id: id,
                connection_name: Arc::clone(&conn.name),
                client_address: Some(conn.peer),
                principal,
                listener: Arc::clone(&self.listener_name),
                header,
                api_key,
                api_version: version,
                size,
                times: RequestTimes::new(now),
            },
            body,
        }))
    }

    fn process_completed_sends(&mut self, now: Instant) {
        let sends: Vec<ConnectionId> = self.selector.completed_sends().collect();
        for id in sends {
            if let Some(f) = self.in_flight.remove(&id) {
                self.metrics.response_sent(
                    f.api_key,
                    f.api_version,
                    f.bytes,
                    Completed {
                        start: f.times.start,
                        dequeue: f.times.dequeue,
                        api_local_complete: f.times.api_local_complete,
                        response_complete: f.times.response_complete,
                        response_dequeue: f.times.response_dequeue,
                        send_complete: now,
                    },
                );
            }
            let _ = self.selector.mute_event(id, ChannelMuteEvent::ResponseSent);
            let _ = self.selector.unmute(id);
        }
    }

    fn process_disconnected(&mut self) {
        let gone: Vec<_> = self.selector.disconnected().collect();
        for (id, reason) in gone {
            tracing::debug!(processor = self.id, connection = %id, ?reason, "connection closed");
            self.forget(id);
        }
    }

    fn close(&mut self, id: ConnectionId) {
        self.selector.close(id);
        self.forget(id);
    }

    fn forget(&mut self, id: ConnectionId) {
        self.in_flight.remove(&id);
        if let Some(conn) = self.connections.remove(&id) {
            self.quotas.release(&self.listener.name, conn.peer.ip());
            metrics::connection_closed(&self.listener.name).increment(1);
        }
    }
}

enum Parsed {
    Request(Box<Request>),
    /// Answered by the Processor itself: API, version, response payload.
    Answer(ApiKey, i16, Bytes),
    Close(String),
}

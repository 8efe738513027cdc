//! `NetworkClient`: requests to many brokers over one [`Selector`], Kafka's
//! `org.apache.kafka.clients.NetworkClient`.
//!
//! One connection per node. A connection goes Disconnected → Connecting (TCP, then TLS and
//! SASL inside the channel) → CheckingApiVersions → Ready. Failed connections wait an
//! exponential backoff with 20% jitter (`reconnect.backoff.ms` doubling up to
//! `reconnect.backoff.max.ms`); a connection that takes longer than
//! `socket.connection.setup.timeout.ms` to become ready is abandoned.
//!
//! Every request is sent at the highest version both sides speak (ApiVersions on each new
//! connection). At most `max.in.flight.requests.per.connection` requests wait for an answer
//! per node, and a request is only handed to the channel once the previous one is fully
//! written. Responses come back in order per connection; each is matched to its request by
//! correlation id and decoded at the request's version. A request unanswered after
//! `request.timeout.ms` fails with a timeout and closes its connection, failing every other
//! request on it, as Java does: a late answer on a reused connection could otherwise be
//! taken for a newer request's.
//!
//! The client also keeps [`Metadata`] fresh: when an update is due it sends a Metadata request
//! to the least loaded node and applies the answer.

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_network::{
    AuthMode, ConnectionId, DisconnectReason, NetworkSend, SecureChannelBuilder, Selector,
    SelectorConfig, TlsMode,
};
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::messages::{RequestKind, ResponseKind};
use kafka_protocol::records::{InlineSize, PartsWriter};
use kafka_protocol::{ApiKey, Decodable, ErrorCode, RequestHeader, ResponseHeader, VersionRange};

use crate::config::CommonConfig;
use crate::error::{Error, Result};
use crate::metadata::{Metadata, Node};
use crate::producer::SplitMix;
use crate::types::{deadline_after, NodeId};

/// What the client says it is in ApiVersions v3+.
const CLIENT_SOFTWARE_NAME: &str = "kafka-rs";
const CLIENT_SOFTWARE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// An answer (or the failure to get one) to a request sent with [`NetworkClient::send`].
#[derive(Debug)]
pub struct ClientResponse {
    /// The node the request went to.
    pub node: NodeId,
    /// The request's API.
    pub api_key: ApiKey,
    /// The version it was sent at.
    pub version: i16,
    /// Its correlation id.
    pub correlation_id: i32,
    /// The caller's tag given to `send`.
    pub tag: u64,
    /// When it was handed to the channel.
    pub sent_at: Instant,
    /// The decoded body; `Ok(None)` for a request that expects no answer (Produce with
    /// `acks=0`) once it is written.
    pub result: Result<Option<ResponseKind>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ConnState {
    Disconnected,
    Connecting,
    CheckingApiVersions,
    Ready,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Internal {
    No,
    ApiVersions,
    Metadata,
}

#[derive(Debug)]
struct InFlight {
    correlation_id: i32,
    api_key: ApiKey,
    version: i16,
    expect_response: bool,
    tag: u64,
    sent_at: Instant,
    deadline: Instant,
    internal: Internal,
}

#[derive(Debug)]
struct NodeConnection {
    state: ConnState,
    host: String,
    port: u16,
    /// Consecutive failed attempts, for the backoff.
    failures: u32,
    reconnect_at: Option<Instant>,
    setup_deadline: Option<Instant>,
    /// For each API the broker speaks, the versions both sides speak.
    versions: HashMap<i16, VersionRange>,
    in_flight: VecDeque<InFlight>,
    send_in_progress: bool,
    last_error: Option<String>,
    auth_failed: bool,
    /// Which address of the host's to try next.
    address_index: usize,
}

impl NodeConnection {
    fn new(host: String, port: u16) -> Self {
        NodeConnection {
            state: ConnState::Disconnected,
            host,
            port,
            failures: 0,
            reconnect_at: None,
            setup_deadline: None,
            versions: HashMap::new(),
            in_flight: VecDeque::new(),
            send_in_progress: false,
            last_error: None,
            auth_failed: false,
            address_index: 0,
        }
    }
}

/// Kafka's `ExponentialBackoff(initial, 2, max, 0.2)` after `attempts` failures: the one
/// backoff of the client (reconnects, retried batches, InitProducerId, FindCoordinator,
/// JoinGroup, admin retries). The exponent stops where the term reaches `max`, so the ±20%
/// jitter still spreads capped backoffs below it.
pub(crate) fn backoff(initial: Duration, max: Duration, attempts: u32) -> Duration {
    const JITTER: f64 = 0.2;
    if max <= initial {
        return initial;
    }
    let exp_max = (max.as_secs_f64() / initial.as_secs_f64().max(1e-3)).log2();
    let exp = f64::from(attempts).min(exp_max.max(0.0));
    let jitter = 1.0 - JITTER + 2.0 * JITTER * random_unit();
    let term = initial.as_secs_f64() * 2f64.powf(exp) * jitter;
    Duration::try_from_secs_f64(term).unwrap_or(max).min(max)
}

/// A uniform number in [0, 1) from one process-wide generator seeded by the OS: jitter and
/// node choice need spread, not secrecy, and not a system call each.
pub(crate) fn random_unit() -> f64 {
    static RNG: std::sync::OnceLock<SplitMix> = std::sync::OnceLock::new();
    RNG.get_or_init(SplitMix::from_entropy).unit_f64()
}

/// Requests to many nodes over one selector. Not thread-safe: one thread drives it (the
/// producer's Sender, the consumer's caller, the admin client); others use
/// [`NetworkClient::waker`] to interrupt its poll.
#[derive(Debug)]
pub struct NetworkClient {
    selector: Selector,
    config: CommonConfig,
    nodes: HashMap<NodeId, NodeConnection>,
    metadata: Metadata,
    metadata_in_flight: Option<NodeId>,
    correlation: i32,
    responses: Vec<ClientResponse>,
    closed: bool,
    /// Nodes that metadata does not list under these ids: group coordinators get a
    /// connection of their own (Java's `Integer.MAX_VALUE - id`), so a JoinGroup the broker
    /// holds for a rebalance does not hold up fetches queued behind it on one connection.
    extra_nodes: HashMap<NodeId, (String, u16)>,
    /// The selector's connection of each node, and back.
    node_channels: HashMap<NodeId, ConnectionId>,
    channels: HashMap<ConnectionId, NodeId>,
    /// A metadata update is due but no node can take it before this (all connecting or
    /// backing off): polls wait instead of spinning, as Java's `DefaultMetadataUpdater`.
    metadata_blocked_until: Option<Instant>,
}

impl NetworkClient {
    /// A client for `config`'s cluster and security settings. Nothing connects until the
    /// first poll or [`NetworkClient::ready`].
    pub fn new(config: &CommonConfig) -> Result<Self> {
        let tls = match &config.ssl {
            Some(ssl) => TlsMode::Client(Arc::clone(ssl)),
            None => TlsMode::None,
        };
        let auth = match &config.sasl {
            Some(sasl) => AuthMode::SaslClient(sasl.clone()),
            None => AuthMode::None,
        };
        let selector_config = SelectorConfig {
            max_receive_size: config.max_receive_size,
            connections_max_idle: Some(config.connections_max_idle),
            ..SelectorConfig::default()
        };
        let selector = Selector::with_builder(
            selector_config,
            Box::new(SecureChannelBuilder::new(tls, auth)),
        )?;
        Ok(NetworkClient {
            selector,
            metadata: Metadata::new(
                &config.bootstrap_servers,
                config.retry_backoff,
                config.metadata_max_age,
            ),
            config: config.clone(),
            nodes: HashMap::new(),
            metadata_in_flight: None,
            correlation: 0,
            responses: Vec::new(),
            closed: false,
            extra_nodes: HashMap::new(),
            node_channels: HashMap::new(),
            channels: HashMap::new(),
            metadata_blocked_until: None,
        })
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &CommonConfig {
        &self.config
    }

    /// The metadata cache.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The metadata cache, to add topics or ask for an update.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// A handle another thread uses to interrupt [`NetworkClient::poll`].
    pub fn waker(&self) -> Arc<mio::Waker> {
        self.selector.waker()
    }

    /// Registers a node reachable at `host:port` under `id`, for connections that metadata
    /// does not describe (a group coordinator's dedicated connection).
    pub fn add_node(&mut self, id: NodeId, host: &str, port: u16) {
        self.extra_nodes.insert(id, (host.to_string(), port));
    }

    fn node_address(&self, node: NodeId) -> Option<(String, u16)> {
        if let Some(extra) = self.extra_nodes.get(&node) {
            return Some(extra.clone());
        }
        self.metadata
            .cluster()
            .nodes
            .get(&node)
            .map(|n| (n.host.clone(), n.port))
            .or_else(|| self.nodes.get(&node).map(|c| (c.host.clone(), c.port)))
    }

    /// Whether a request can be sent to `node` now; if it is disconnected and its backoff
    /// has passed, starts connecting.
    pub fn ready(&mut self, node: NodeId, now: Instant) -> bool {
        if self.is_ready(node) {
            return true;
        }
        if self.can_connect(node, now) {
            self.initiate_connect(node, now);
        }
        false
    }

    /// Whether a request can be sent to `node` now: connected, versions known, fewer than
    /// `max.in.flight.requests.per.connection` in flight and the last request written.
    pub fn is_ready(&self, node: NodeId) -> bool {
        self.nodes.get(&node).is_some_and(|c| {
            c.state == ConnState::Ready
                && !c.send_in_progress
                && c.in_flight.len() < self.config.max_in_flight
        })
    }

    /// Whether `node` is connected (requests may still be limited by in-flight counts).
    pub fn is_connected(&self, node: NodeId) -> bool {
        self.nodes
            .get(&node)
            .is_some_and(|c| c.state == ConnState::Ready)
    }

    fn can_connect(&self, node: NodeId, now: Instant) -> bool {
        if self.closed {
            return false;
        }
        match self.nodes.get(&node) {
            None => true,
            Some(c) => {
                c.state == ConnState::Disconnected && c.reconnect_at.is_none_or(|t| t <= now)
            }
        }
    }

    /// How long until a request to `node` might be sendable: the rest of its reconnect
    /// backoff when disconnected, zero otherwise.
    pub fn connection_delay(&self, node: NodeId, now: Instant) -> Duration {
        match self.nodes.get(&node) {
            Some(c) if c.state == ConnState::Disconnected => c
                .reconnect_at
                .map_or(Duration::ZERO, |t| t.saturating_duration_since(now)),
            _ => Duration::ZERO,
        }
    }

    /// Whether the last connection attempt to `node` failed and it waits out its backoff.
    pub fn connection_failed(&self, node: NodeId) -> bool {
        self.nodes
            .get(&node)
            .is_some_and(|c| c.state == ConnState::Disconnected && c.failures > 0)
    }

    /// The authentication failure of the last connection to `node`, if that is how it failed.
    pub fn authentication_error(&self, node: NodeId) -> Option<Error> {
        let c = self.nodes.get(&node)?;
        c.auth_failed.then(|| {
            Error::Authentication(format!(
                "authentication with node {node} failed: {}",
                c.last_error.as_deref().unwrap_or("unknown reason")
            ))
        })
    }

    /// An authentication failure of any node's last connection attempt (SASL refused, TLS
    /// certificate rejected): retrying will not help, so callers report it instead of waiting
    /// out their timeouts, as Java's clients throw `AuthenticationException`.
    pub fn last_authentication_error(&self) -> Option<Error> {
        let (&node, _) = self
            .nodes
            .iter()
            .find(|(_, c)| c.auth_failed && c.state == ConnState::Disconnected)?;
        self.authentication_error(node)
    }

    fn initiate_connect(&mut self, node: NodeId, now: Instant) {
        let Some((host, port)) = self.node_address(node) else {
            return;
        };
        let conn = self
            .nodes
            .entry(node)
            .or_insert_with(|| NodeConnection::new(host.clone(), port));
        if conn.host != host || conn.port != port {
            conn.host = host.clone();
            conn.port = port;
            conn.address_index = 0;
        }
        let addrs: Vec<SocketAddr> = match (host.as_str(), port).to_socket_addrs() {
            Ok(a) => a.collect(),
            Err(e) => {
                let reason = format!("cannot resolve {host}:{port}: {e}");
                Self::mark_failed(conn, &self.config, now, reason, false);
                return;
            }
        };
        let Some(addr) = addrs.get(conn.address_index % addrs.len().max(1)).copied() else {
            let reason = format!("{host} resolves to no address");
            Self::mark_failed(conn, &self.config, now, reason, false);
            return;
        };
        conn.address_index = conn.address_index.wrapping_add(1);
        // A channel left over from an earlier connection must not shadow the new one.
        if let Some(old) = self.node_channels.remove(&node) {
            self.channels.remove(&old);
            self.selector.close(old);
        }
        match self.selector.connect(addr, &host) {
            Ok(id) => {
                self.channels.insert(id, node);
                self.node_channels.insert(node, id);
                tracing::debug!(node, %addr, "connecting");
                conn.state = ConnState::Connecting;
                conn.setup_deadline =
                    Some(deadline_after(now, self.config.connection_setup_timeout));
            }
            Err(e) => {
                let reason = format!("connect to {addr} failed: {e}");
                Self::mark_failed(conn, &self.config, now, reason, false);
            }
        }
    }

    fn mark_failed(
        conn: &mut NodeConnection,
        config: &CommonConfig,
        now: Instant,
        reason: String,
        auth: bool,
    ) {
        tracing::debug!(host = %conn.host, port = conn.port, %reason, "connection failed");
        conn.state = ConnState::Disconnected;
        conn.reconnect_at = Some(
            now + backoff(
                config.reconnect_backoff,
                config.reconnect_backoff_max,
                conn.failures,
            ),
        );
        conn.failures = conn.failures.saturating_add(1);
        conn.setup_deadline = None;
        conn.send_in_progress = false;
        conn.versions.clear();
        conn.last_error = Some(reason);
        conn.auth_failed = auth;
    }

    /// The highest version of `key` both this client and `node` speak, if connected.
    pub fn api_version(&self, node: NodeId, key: ApiKey) -> Option<i16> {
        self.nodes
            .get(&node)
            .and_then(|c| c.versions.get(&key.id()))
            .map(|r| r.max)
    }

    /// The versions of `key` both sides speak on `node`'s connection.
    pub fn api_versions(&self, node: NodeId, key: ApiKey) -> Option<VersionRange> {
        self.nodes
            .get(&node)
            .and_then(|c| c.versions.get(&key.id()))
            .copied()
    }

    /// Requests to `node` not yet answered.
    pub fn in_flight_count(&self, node: NodeId) -> usize {
        self.nodes.get(&node).map_or(0, |c| c.in_flight.len())
    }

    /// Whether any request is waiting for an answer.
    pub fn has_in_flight(&self) -> bool {
        self.nodes.values().any(|c| !c.in_flight.is_empty())
    }

    /// Sends `request` at `version` to `node`, which must be [ready](Self::ready). Returns the
    /// correlation id; the answer comes back from a later [`poll`](Self::poll) with `tag`.
    pub fn send(
        &mut self,
        node: NodeId,
        request: &RequestKind,
        version: i16,
        expect_response: bool,
        tag: u64,
        now: Instant,
    ) -> Result<i32> {
        if !self.is_ready(node) {
            return Err(Error::Other(format!(
                "node {node} is not ready for a request"
            )));
        }
        let range = self.api_versions(node, request.api_key()).ok_or_else(|| {
            Error::UnsupportedVersion(format!(
                "node {node} does not support {:?}",
                request.api_key()
            ))
        })?;
        if !range.contains(version) {
            return Err(Error::UnsupportedVersion(format!(
                "{:?} v{version} is outside {}..={} on node {node}",
                request.api_key(),
                range.min,
                range.max
            )));
        }
        self.send_internal(
            node,
            request,
            version,
            expect_response,
            tag,
            Internal::No,
            now,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn send_internal(
        &mut self,
        node: NodeId,
        request: &RequestKind,
        version: i16,
        expect_response: bool,
        tag: u64,
        internal: Internal,
        now: Instant,
    ) -> Result<i32> {
        let api_key = request.api_key();
        self.correlation = self.correlation.wrapping_add(1) & i32::MAX;
        let correlation_id = self.correlation;
        let header = RequestHeader::default()
            .with_request_api_key(api_key.id())
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.config.client_id.clone()));
        // Large records fields (a producer's batches) go out as their own parts of a
        // vectored write instead of being copied into the frame; the measuring pass sizes
        // the one buffer for the rest.
        let header_version = api_key.request_header_version(version);
        let mut size = InlineSize::new();
        kafka_protocol::Encodable::encode(&header, &mut size, header_version)?;
        request.encode(&mut size, version)?;
        let mut sink = PartsWriter::with_capacity(size.bytes());
        kafka_protocol::Encodable::encode(&header, &mut sink, header_version)?;
        request.encode(&mut sink, version)?;
        let send = NetworkSend::frame(sink.finish())?;
        let id = self
            .node_channels
            .get(&node)
            .copied()
            .ok_or_else(|| kafka_network::Error::UnknownConnection(node.to_string()))?;
        self.selector.send(id, send)?;
        let conn = self
            .nodes
            .get_mut(&node)
            .ok_or_else(|| Error::Other(format!("no connection to node {node}")))?;
        conn.send_in_progress = true;
        conn.in_flight.push_back(InFlight {
            correlation_id,
            api_key,
            version,
            expect_response,
            tag,
            sent_at: now,
            deadline: deadline_after(now, self.config.request_timeout),
            internal,
        });
        Ok(correlation_id)
    }

    /// The node with the fewest requests in flight among those that can take one now;
    /// failing that, one being connected, or one whose backoff is over (Java's
    /// `leastLoadedNode`). `None` when every node waits out a backoff.
    pub fn least_loaded_node(&self, now: Instant) -> Option<NodeId> {
        let mut ids: Vec<NodeId> = self.metadata.cluster().nodes.keys().copied().collect();
        if ids.is_empty() {
            return None;
        }
        ids.sort_unstable();
        // A random start spreads bootstrap and metadata load across brokers.
        let start = (random_unit() * ids.len() as f64) as usize;
        let mut best: Option<(usize, NodeId)> = None;
        let mut connecting = None;
        let mut connectable = None;
        for i in 0..ids.len() {
            let Some(&id) = ids.get((start + i) % ids.len()) else {
                continue;
            };
            let in_flight = self.in_flight_count(id);
            if self.is_ready(id) {
                if in_flight == 0 {
                    return Some(id);
                }
                if best.is_none_or(|(n, _)| in_flight < n) {
                    best = Some((in_flight, id));
                }
            } else if matches!(
                self.nodes.get(&id).map(|c| &c.state),
                Some(ConnState::Connecting | ConnState::CheckingApiVersions)
            ) {
                connecting.get_or_insert(id);
            } else if self.can_connect(id, now) {
                connectable.get_or_insert(id);
            }
        }
        best.map(|(_, id)| id).or(connecting).or(connectable)
    }

    /// Closes the connection to `node`, failing its requests as disconnected.
    pub fn disconnect(&mut self, node: NodeId, now: Instant) {
        self.close_channel(node);
        self.handle_disconnect(node, "closed by the client".into(), false, now);
    }

    /// The shortest time until something is due: a request's deadline, a connection's
    /// setup deadline, the metadata refresh.
    fn next_deadline(&self, now: Instant) -> Duration {
        let mut next = self.metadata.time_to_next_update(now);
        if self.metadata_in_flight.is_some() {
            next = Duration::MAX;
        } else if let Some(blocked) = self.metadata_blocked_until {
            next = next.max(blocked.saturating_duration_since(now));
        }
        for c in self.nodes.values() {
            if let Some(first) = c.in_flight.front() {
                next = next.min(first.deadline.saturating_duration_since(now));
            }
            if let Some(d) = c.setup_deadline {
                next = next.min(d.saturating_duration_since(now));
            }
        }
        next
    }

    /// Does all the I/O possible within `timeout` and returns the answers it completed (and
    /// failures: disconnections, timeouts).
    pub fn poll(&mut self, timeout: Duration) -> Vec<ClientResponse> {
        // Answers already known (acks=0 sends, local failures, answers kept by `wait_io`):
        // hand them over without waiting.
        let wait = if self.responses.is_empty() {
            timeout
        } else {
            Duration::ZERO
        };
        self.wait_io(wait);
        std::mem::take(&mut self.responses)
    }

    /// Does the I/O possible within `timeout` and keeps the answers for a later
    /// [`poll`](Self::poll) or [`take_response`](Self::take_response): how a caller waiting for
    /// one answer (or a connection) waits without taking the answers others wait for.
    pub fn wait_io(&mut self, timeout: Duration) {
        let now = Instant::now();
        self.maybe_update_metadata(now);
        let wait = timeout.min(self.next_deadline(now));
        if let Err(e) = self.selector.poll(Some(wait)) {
            tracing::warn!(error = %e, "selector poll failed");
        }
        let now = Instant::now();
        self.handle_completed_sends();
        self.handle_completed_receives(now);
        self.handle_disconnections(now);
        self.handle_connections(now);
        self.handle_timeouts(now);
        self.maybe_update_metadata(now);
    }

    /// Removes and returns the first kept answer `matches` selects.
    pub fn take_response(
        &mut self,
        matches: impl Fn(&ClientResponse) -> bool,
    ) -> Option<ClientResponse> {
        let i = self.responses.iter().position(matches)?;
        Some(self.responses.remove(i))
    }

    fn handle_completed_sends(&mut self) {
        let ids: Vec<ConnectionId> = self.selector.completed_sends().collect();
        for id in ids {
            let Some(node) = self.channels.get(&id).copied() else {
                continue;
            };
            let Some(conn) = self.nodes.get_mut(&node) else {
                continue;
            };
            conn.send_in_progress = false;
            // A request without an answer is done once written; it is the newest one.
            if conn.in_flight.back().is_some_and(|r| !r.expect_response) {
                if let Some(req) = conn.in_flight.pop_back() {
                    self.responses.push(ClientResponse {
                        node,
                        api_key: req.api_key,
                        version: req.version,
                        correlation_id: req.correlation_id,
                        tag: req.tag,
                        sent_at: req.sent_at,
                        result: Ok(None),
                    });
                }
            }
        }
    }

    fn handle_completed_receives(&mut self, now: Instant) {
        let receives: Vec<(ConnectionId, Bytes)> = self.selector.completed_receives().collect();
        for (id, mut frame) in receives {
            let Some(node) = self.channels.get(&id).copied() else {
                continue;
            };
            let Some(req) = self
                .nodes
                .get_mut(&node)
                .and_then(|c| c.in_flight.pop_front())
            else {
                self.close_broken(node, "a response with no request in flight".into(), now);
                continue;
            };
            let header_version = req.api_key.response_header_version(req.version);
            let header = match ResponseHeader::decode(&mut frame, header_version) {
                Ok(h) => h,
                Err(e) => {
                    self.fail_request(node, req, Error::Protocol(e));
                    self.close_broken(node, "undecodable response header".into(), now);
                    continue;
                }
            };
            if header.correlation_id != req.correlation_id {
                let reason = format!(
                    "correlation id {} does not match the request's {}",
                    header.correlation_id, req.correlation_id
                );
                self.fail_request(node, req, Error::Other(reason.clone()));
                self.close_broken(node, reason, now);
                continue;
            }
            let body = ResponseKind::decode(req.api_key, &mut frame, req.version);
            match req.internal {
                Internal::ApiVersions => self.handle_api_versions(node, body, now),
                Internal::Metadata => {
                    self.metadata_in_flight = None;
                    match body {
                        Ok(ResponseKind::Metadata(m)) => self.metadata.update(&m, now),
                        _ => self.metadata.failed_update(now),
                    }
                }
                Internal::No => {
                    let result = body.map(Some).map_err(Error::Protocol);
                    self.responses.push(ClientResponse {
                        node,
                        api_key: req.api_key,
                        version: req.version,
                        correlation_id: req.correlation_id,
                        tag: req.tag,
                        sent_at: req.sent_at,
                        result,
                    });
                }
            }
        }
    }

    fn handle_api_versions(
        &mut self,
        node: NodeId,
        body: kafka_protocol::Result<ResponseKind>,
        now: Instant,
    ) {
        let response: ApiVersionsResponse = match body {
            Ok(ResponseKind::ApiVersions(r)) => r,
            Ok(_) | Err(_) => {
                self.close_broken(node, "undecodable ApiVersions response".into(), now);
                return;
            }
        };
        let code = ErrorCode::from(response.error_code);
        if code == ErrorCode::UnsupportedVersion {
            // The broker lists the ApiVersions versions it speaks; ask again within them.
            let max = response
                .api_keys
                .iter()
                .find(|k| k.api_key == ApiKey::ApiVersions.id())
                .map_or(0, |k| k.max_version)
                .min(ApiKey::ApiVersions.valid_versions().max);
            self.send_api_versions(node, max, now);
            return;
        }
        if code.is_error() {
            self.close_broken(node, format!("ApiVersions failed: {code}"), now);
            return;
        }
        let Some(conn) = self.nodes.get_mut(&node) else {
            return;
        };
        conn.versions.clear();
        for k in &response.api_keys {
            let Some(key) = ApiKey::from_id(k.api_key) else {
                continue;
            };
            if let Some(common) = key
                .valid_versions()
                .intersect(&VersionRange::new(k.min_version, k.max_version))
            {
                conn.versions.insert(k.api_key, common);
            }
        }
        conn.state = ConnState::Ready;
        conn.failures = 0;
        conn.setup_deadline = None;
        conn.auth_failed = false;
        tracing::debug!(node, "connection ready");
    }

    fn send_api_versions(&mut self, node: NodeId, version: i16, now: Instant) {
        let request = RequestKind::ApiVersions(
            ApiVersionsRequest::default()
                .with_client_software_name(CLIENT_SOFTWARE_NAME.into())
                .with_client_software_version(CLIENT_SOFTWARE_VERSION.into()),
        );
        if let Some(conn) = self.nodes.get_mut(&node) {
            conn.state = ConnState::CheckingApiVersions;
        }
        if let Err(e) =
            self.send_internal(node, &request, version, true, 0, Internal::ApiVersions, now)
        {
            self.close_broken(node, format!("cannot send ApiVersions: {e}"), now);
        }
    }

    fn handle_connections(&mut self, now: Instant) {
        let connected: Vec<ConnectionId> = self.selector.connected().collect();
        for id in connected {
            let Some(node) = self.channels.get(&id).copied() else {
                continue;
            };
            self.send_api_versions(node, ApiKey::ApiVersions.valid_versions().max, now);
        }
    }

    fn handle_disconnections(&mut self, now: Instant) {
        let gone: Vec<(ConnectionId, DisconnectReason)> = self.selector.disconnected().collect();
        for (id, reason) in gone {
            let Some(node) = self.channels.remove(&id) else {
                continue;
            };
            if self.node_channels.get(&node) == Some(&id) {
                self.node_channels.remove(&node);
            }
            let (text, auth) = match reason {
                DisconnectReason::AuthenticationFailed(m) => (m, true),
                DisconnectReason::ConnectFailed(m) => (format!("connect failed: {m}"), false),
                DisconnectReason::PeerClosed => ("closed by the broker".into(), false),
                DisconnectReason::Idle => ("idle".into(), false),
                other => (format!("{other:?}"), false),
            };
            self.handle_disconnect(node, text, auth, now);
        }
    }

    fn handle_disconnect(&mut self, node: NodeId, reason: String, auth: bool, now: Instant) {
        let Some(conn) = self.nodes.get_mut(&node) else {
            return;
        };
        let was_ready = conn.state == ConnState::Ready;
        let requests: Vec<InFlight> = conn.in_flight.drain(..).collect();
        if was_ready {
            // A connection that worked and then dropped is retried at the base backoff.
            conn.failures = 0;
        }
        Self::mark_failed(conn, &self.config, now, reason.clone(), auth);
        for req in requests {
            let err = Error::Disconnected {
                node,
                reason: reason.clone(),
            };
            self.fail_request(node, req, err);
        }
        // A broker going away usually means leadership moves.
        self.metadata.request_update();
    }

    fn fail_request(&mut self, node: NodeId, req: InFlight, err: Error) {
        match req.internal {
            Internal::No => self.responses.push(ClientResponse {
                node,
                api_key: req.api_key,
                version: req.version,
                correlation_id: req.correlation_id,
                tag: req.tag,
                sent_at: req.sent_at,
                result: Err(err),
            }),
            Internal::Metadata => {
                self.metadata_in_flight = None;
                self.metadata.failed_update(Instant::now());
            }
            Internal::ApiVersions => {}
        }
    }

    /// Closes the selector's connection of `node`, if it has one.
    fn close_channel(&mut self, node: NodeId) {
        if let Some(id) = self.node_channels.remove(&node) {
            self.channels.remove(&id);
            self.selector.close(id);
        }
    }

    /// Closes a connection whose peer broke the protocol.
    fn close_broken(&mut self, node: NodeId, reason: String, now: Instant) {
        tracing::warn!(node, %reason, "closing connection");
        self.close_channel(node);
        self.handle_disconnect(node, reason, false, now);
    }

    fn handle_timeouts(&mut self, now: Instant) {
        let mut expired_nodes = Vec::new();
        for (&node, c) in &self.nodes {
            if c.in_flight.front().is_some_and(|r| r.deadline <= now) {
                expired_nodes.push((node, false));
            } else if c.setup_deadline.is_some_and(|d| d <= now) {
                expired_nodes.push((node, true));
            }
        }
        for (node, setup) in expired_nodes {
            self.close_channel(node);
            let Some(conn) = self.nodes.get_mut(&node) else {
                continue;
            };
            let requests: Vec<InFlight> = conn.in_flight.drain(..).collect();
            let reason = if setup {
                format!(
                    "connection not ready within socket.connection.setup.timeout.ms ({} ms)",
                    self.config.connection_setup_timeout.as_millis()
                )
            } else {
                format!(
                    "no response within request.timeout.ms ({} ms)",
                    self.config.request_timeout.as_millis()
                )
            };
            Self::mark_failed(conn, &self.config, now, reason.clone(), false);
            for req in requests {
                let err = if req.deadline <= now {
                    Error::Timeout(format!("{:?} to node {node}: {reason}", req.api_key))
                } else {
                    Error::Disconnected {
                        node,
                        reason: reason.clone(),
                    }
                };
                self.fail_request(node, req, err);
            }
            self.metadata.request_update();
        }
    }

    fn maybe_update_metadata(&mut self, now: Instant) {
        if self.closed
            || self.metadata_in_flight.is_some()
            || !self.metadata.time_to_next_update(now).is_zero()
        {
            return;
        }
        self.metadata_blocked_until = None;
        let Some(node) = self.least_loaded_node(now) else {
            // Every node waits out a reconnect backoff: wake when the first one ends.
            let wake = self
                .nodes
                .values()
                .filter_map(|c| c.reconnect_at)
                .min()
                .unwrap_or(now + self.config.reconnect_backoff);
            self.metadata_blocked_until = Some(wake.max(now + Duration::from_millis(1)));
            return;
        };
        if !self.ready(node, now) {
            // Connecting: the connection's own events (or its backoff) wake the poll.
            let delay = self
                .connection_delay(node, now)
                .max(self.config.reconnect_backoff)
                .max(Duration::from_millis(1));
            self.metadata_blocked_until = Some(now + delay);
            return;
        }
        let version = self
            .api_version(node, ApiKey::Metadata)
            .unwrap_or(0)
            .min(12);
        let request = RequestKind::Metadata(self.metadata.build_request(version));
        match self.send_internal(node, &request, version, true, 0, Internal::Metadata, now) {
            Ok(_) => {
                self.metadata_in_flight = Some(node);
                self.metadata.record_attempt(now);
            }
            Err(e) => {
                tracing::debug!(node, error = %e, "metadata request not sent");
                self.metadata.failed_update(now);
            }
        }
    }

    /// The node `id` as metadata knows it.
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.metadata.cluster().nodes.get(&id)
    }

    /// Closes every connection; later polls do nothing but report nothing.
    pub fn close(&mut self) {
        self.closed = true;
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        let now = Instant::now();
        for id in ids {
            self.disconnect(id, now);
        }
    }

    // ---- Blocking helpers for callers without an event loop of their own (admin, consumer).

    /// Polls until `node` is ready or `deadline` passes.
    pub fn await_ready(&mut self, node: NodeId, deadline: Instant) -> Result<()> {
        loop {
            let now = Instant::now();
            if self.ready(node, now) {
                return Ok(());
            }
            if let Some(e) = self.authentication_error(node) {
                return Err(e);
            }
            if now >= deadline {
                let why = self
                    .nodes
                    .get(&node)
                    .and_then(|c| c.last_error.clone())
                    .unwrap_or_else(|| "not connected".into());
                return Err(Error::Timeout(format!("node {node} not ready: {why}")));
            }
            let wait = deadline
                .saturating_duration_since(now)
                .min(
                    self.connection_delay(node, now)
                        .max(Duration::from_millis(5)),
                )
                .min(Duration::from_millis(100));
            self.wait_io(wait);
        }
    }

    /// Polls until metadata has been updated since `version` or `deadline` passes.
    pub fn await_metadata_update(&mut self, version: u64, deadline: Instant) -> Result<()> {
        self.metadata.request_update();
        loop {
            if self.metadata.version() > version {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout("metadata not updated in time".into()));
            }
            self.wait_io(
                deadline
                    .saturating_duration_since(now)
                    .min(Duration::from_millis(100)),
            );
        }
    }

    /// Sends a request built for the newest version `node` and this client share (at most
    /// `max_version`); `node` must be ready. Returns the correlation id to wait for with
    /// [`await_response`](Self::await_response).
    pub fn send_versioned(
        &mut self,
        node: NodeId,
        key: ApiKey,
        max_version: Option<i16>,
        build: impl FnOnce(i16) -> Result<RequestKind>,
        now: Instant,
    ) -> Result<i32> {
        let range = self.api_versions(node, key).ok_or_else(|| {
            Error::UnsupportedVersion(format!("node {node} does not support {key:?}"))
        })?;
        let version = max_version.map_or(range.max, |m| m.min(range.max));
        if version < range.min {
            return Err(Error::UnsupportedVersion(format!(
                "{key:?} v{version} or older is needed; node {node} speaks v{}-v{}",
                range.min, range.max
            )));
        }
        let request = build(version)?;
        self.send(node, &request, version, true, 0, now)
    }

    /// Waits for the answer to request `correlation` on `node`, keeping every other answer
    /// for a later [`poll`](Self::poll).
    pub fn await_response(
        &mut self,
        node: NodeId,
        correlation: i32,
        deadline: Instant,
    ) -> Result<ResponseKind> {
        loop {
            if let Some(r) =
                self.take_response(|r| r.node == node && r.correlation_id == correlation)
            {
                return match r.result {
                    Ok(Some(body)) => Ok(body),
                    Ok(None) => Err(Error::Other(format!(
                        "{:?} to node {node}: no response body",
                        r.api_key
                    ))),
                    Err(e) => Err(e),
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout(format!(
                    "no answer to request {correlation} from node {node}"
                )));
            }
            self.wait_io(deadline.saturating_duration_since(now));
        }
    }

    /// [`await_ready`](Self::await_ready), [`send_versioned`](Self::send_versioned) and
    /// [`await_response`](Self::await_response) in one call.
    pub fn send_and_receive(
        &mut self,
        node: NodeId,
        key: ApiKey,
        max_version: Option<i16>,
        build: impl FnOnce(i16) -> Result<RequestKind>,
        deadline: Instant,
    ) -> Result<ResponseKind> {
        self.await_ready(node, deadline)?;
        let correlation = self.send_versioned(node, key, max_version, build, Instant::now())?;
        self.await_response(node, correlation, deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::primitives::Sink;
    use kafka_protocol::records::{Records, SendPart, MIN_SEPARATE_RECORDS};

    #[test]
    fn backoff_grows_within_jitter_and_caps() {
        let base = Duration::from_millis(50);
        let max = Duration::from_millis(1000);
        for attempt in 0..10 {
            let d = backoff(base, max, attempt);
            let nominal = (base * (1 << attempt)).min(max);
            assert!(
                d >= nominal.mul_f64(0.8) && d <= nominal.mul_f64(1.2),
                "{attempt}: {d:?}"
            );
        }
        assert_eq!(backoff(Duration::ZERO, max, 3), Duration::ZERO);
    }

    #[test]
    fn large_records_are_not_copied() {
        let big = Bytes::from(vec![7u8; MIN_SEPARATE_RECORDS]);
        let mut sink = PartsWriter::default();
        sink.put_slice(b"head");
        sink.put_records(&Records::Memory(big.clone())).unwrap();
        sink.put_slice(b"tail");
        sink.put_records(&Records::from(&b"small"[..])).unwrap();
        let parts = sink.finish();
        assert_eq!(parts.len(), 3);
        match &parts[1] {
            SendPart::Bytes(b) => assert_eq!(b.as_ptr(), big.as_ptr()),
            SendPart::File(_) => panic!("unexpected file part"),
        }
    }
}

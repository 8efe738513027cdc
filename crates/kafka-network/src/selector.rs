//! The `Selector`: many channels on one `mio::Poll`, as Kafka's
//! `org.apache.kafka.common.network.Selector`.
//!
//! `poll` performs all the I/O that is possible and leaves the results in four lists, drained
//! by the caller after each poll: completed receives (at most one per channel per poll, so a
//! server can mute the channel before reading the next request), completed sends, newly
//! connected ids and disconnected ids with the reason.
//!
//! mio is edge-triggered, Java's NIO is not: a channel's readiness is latched until a read or
//! write would block, and a channel that can make progress without a new event (a muted channel
//! unmuted with data waiting, TLS data already decrypted, memory released to the pool) makes the
//! next poll return at once instead of waiting for an event that will never come.

use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::channel::{ChannelBuilder, KafkaChannel, PlaintextChannelBuilder};
use crate::error::{DisconnectReason, Error, Result};
use crate::memory_pool::MemoryPool;
use crate::mute::ChannelMuteEvent;
use crate::send::NetworkSend;

/// A connection of one [`Selector`]: its slot and the slot's generation, so an id outlives
/// its connection harmlessly (a response for a closed connection cannot reach the next
/// connection in the same slot). Copied, compared and hashed as two integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct ConnectionId {
    index: u32,
    generation: u32,
}

impl ConnectionId {
    /// The slot of the connection in its selector.
    pub fn index(self) -> u32 {
        self.index
    }

    /// How many connections used the slot before this one.
    pub fn generation(self) -> u32 {
        self.generation
    }
}

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.index, self.generation)
    }
}

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    channel: Option<KafkaChannel>,
}

const WAKER_TOKEN: Token = Token(usize::MAX);

/// How a [`Selector`] treats its channels.
#[derive(Debug, Clone)]
pub struct SelectorConfig {
    /// The largest frame a channel accepts (`socket.request.max.bytes`).
    pub max_receive_size: usize,
    /// Close channels idle for longer than this (`connections.max.idle.ms`); `None` never.
    pub connections_max_idle: Option<Duration>,
    /// Where receive buffers come from (`queued.max.request.bytes`).
    pub memory_pool: MemoryPool,
    /// Capacity of the mio event buffer.
    pub events_capacity: usize,
}

impl Default for SelectorConfig {
    fn default() -> Self {
        SelectorConfig {
            max_receive_size: 100 * 1024 * 1024,
            connections_max_idle: Some(Duration::from_millis(600_000)),
            memory_pool: MemoryPool::unbounded(),
            events_capacity: 1024,
        }
    }
}

/// Many channels on one poll.
#[derive(Debug)]
pub struct Selector {
    poll: Poll,
    events: Events,
    waker: Arc<Waker>,
    config: SelectorConfig,
    builder: Box<dyn ChannelBuilder>,
    slots: Vec<Slot>,
    free: Vec<usize>,
    open: usize,
    /// Channels that may progress without a new event.
    work: HashSet<usize>,
    completed_receives: Vec<(ConnectionId, Bytes)>,
    completed_sends: Vec<ConnectionId>,
    connected: Vec<ConnectionId>,
    disconnected: Vec<(ConnectionId, DisconnectReason)>,
    next_idle_check: Option<Instant>,
    file_bytes_copied: u64,
}

impl Selector {
    /// A selector building plaintext channels.
    pub fn new(config: SelectorConfig) -> Result<Self> {
        Self::with_builder(config, Box::new(PlaintextChannelBuilder))
    }

    /// A selector building channels with `builder` (TLS, SASL).
    pub fn with_builder(config: SelectorConfig, builder: Box<dyn ChannelBuilder>) -> Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER_TOKEN)?);
        Ok(Selector {
            events: Events::with_capacity(config.events_capacity.max(16)),
            poll,
            waker,
            config,
            builder,
            slots: Vec::new(),
            free: Vec::new(),
            open: 0,
            work: HashSet::new(),
            completed_receives: Vec::new(),
            completed_sends: Vec::new(),
            connected: Vec::new(),
            disconnected: Vec::new(),
            next_idle_check: None,
            file_bytes_copied: 0,
        })
    }

    /// A handle another thread uses to interrupt [`Selector::poll`].
    pub fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }

    /// Registers an accepted socket (server side); returns its id.
    pub fn register(&mut self, stream: TcpStream) -> Result<ConnectionId> {
        let peer = stream
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        self.add(stream, &peer, false)
    }

    /// Starts connecting to `addr` (client side); `host` is the name used for TLS server
    /// verification. Completion is reported under the returned id through
    /// [`Selector::connected`] or [`Selector::disconnected`].
    pub fn connect(&mut self, addr: SocketAddr, host: &str) -> Result<ConnectionId> {
        let stream = TcpStream::connect(addr)?;
        let _ = stream.set_nodelay(true);
        self.add(stream, host, true)
    }

    fn add(
        &mut self,
        stream: TcpStream,
        peer_host: &str,
        connecting: bool,
    ) -> Result<ConnectionId> {
        let slot = self.free.pop().unwrap_or(self.slots.len());
        if slot == self.slots.len() {
            self.slots.push(Slot::default());
        }
        let Some(entry) = self.slots.get_mut(slot) else {
            return Err(Error::UnknownConnection(format!("slot {slot}")));
        };
        let Ok(index) = u32::try_from(slot) else {
            self.free.push(slot);
            return Err(Error::Config(
                "too many connections for one selector".into(),
            ));
        };
        let id = ConnectionId {
            index,
            generation: entry.generation,
        };
        let built = self
            .builder
            .build(id, stream, peer_host)
            .and_then(|(transport, factory)| {
                let mut channel = KafkaChannel::new(
                    id,
                    transport,
                    factory,
                    self.config.max_receive_size,
                    connecting,
                    Instant::now(),
                );
                self.poll.registry().register(
                    channel.transport_mut().source(),
                    Token(slot),
                    Interest::READABLE | Interest::WRITABLE,
                )?;
                Ok(channel)
            });
        let channel = match built {
            Ok(c) => c,
            Err(e) => {
                self.free.push(slot);
                return Err(e);
            }
        };
        entry.channel = Some(channel);
        self.open += 1;
        if !connecting {
            self.work.insert(slot);
        }
        Ok(id)
    }

    /// Queues `send` on channel `id`; fails if a send is already in progress there.
    pub fn send(&mut self, id: ConnectionId, send: NetworkSend) -> Result<()> {
        let slot = self.slot(id)?;
        let channel = self.channel_mut(slot)?;
        channel.set_send(send)?;
        self.work.insert(slot);
        Ok(())
    }

    /// Mutes channel `id`: no further receives until it is unmuted.
    pub fn mute(&mut self, id: ConnectionId) -> Result<()> {
        let slot = self.slot(id)?;
        self.channel_mut(slot)?.mute();
        Ok(())
    }

    /// Applies a mute event (request received, response sent, throttle) to channel `id`.
    /// Returns false if the event does not fit the channel's state.
    pub fn mute_event(&mut self, id: ConnectionId, event: ChannelMuteEvent) -> Result<bool> {
        let slot = self.slot(id)?;
        Ok(self.channel_mut(slot)?.handle_mute_event(event))
    }

    /// Unmutes channel `id` unless a pending response or throttle holds it; returns whether
    /// it is unmuted.
    pub fn unmute(&mut self, id: ConnectionId) -> Result<bool> {
        let slot = self.slot(id)?;
        let unmuted = self.channel_mut(slot)?.maybe_unmute();
        if unmuted {
            self.work.insert(slot);
        }
        Ok(unmuted)
    }

    /// Closes channel `id` now. As in Kafka, a local close is not reported as a disconnection.
    pub fn close(&mut self, id: ConnectionId) {
        if let Ok(slot) = self.slot(id) {
            self.remove(slot);
        }
    }

    /// The channel `id`, if open.
    pub fn channel(&self, id: ConnectionId) -> Option<&KafkaChannel> {
        self.slots
            .get(id.index as usize)
            .filter(|s| s.generation == id.generation)
            .and_then(|s| s.channel.as_ref())
    }

    /// Whether channel `id` carries application data.
    pub fn is_ready(&self, id: ConnectionId) -> bool {
        self.channel(id).is_some_and(KafkaChannel::ready)
    }

    /// Number of open channels.
    pub fn num_channels(&self) -> usize {
        self.open
    }

    /// Ids of all open channels.
    pub fn channel_ids(&self) -> impl Iterator<Item = ConnectionId> + '_ {
        self.slots
            .iter()
            .filter_map(|s| s.channel.as_ref().map(KafkaChannel::id))
    }

    /// Receives completed by the last poll.
    pub fn completed_receives(&mut self) -> std::vec::Drain<'_, (ConnectionId, Bytes)> {
        self.completed_receives.drain(..)
    }

    /// File-region bytes that sends on this selector's channels read into memory since it
    /// was created (TLS channels); zero while every file part went out with `sendfile`.
    pub fn file_bytes_copied(&self) -> u64 {
        self.file_bytes_copied
    }

    /// Sends completed by the last poll.
    pub fn completed_sends(&mut self) -> std::vec::Drain<'_, ConnectionId> {
        self.completed_sends.drain(..)
    }

    /// Client connections established (and authenticated) by the last poll.
    pub fn connected(&mut self) -> std::vec::Drain<'_, ConnectionId> {
        self.connected.drain(..)
    }

    /// Channels closed by the last poll, with the reason.
    pub fn disconnected(&mut self) -> std::vec::Drain<'_, (ConnectionId, DisconnectReason)> {
        self.disconnected.drain(..)
    }

    fn slot(&self, id: ConnectionId) -> Result<usize> {
        self.channel(id)
            .map(|_| id.index as usize)
            .ok_or_else(|| Error::UnknownConnection(id.to_string()))
    }

    fn channel_mut(&mut self, slot: usize) -> Result<&mut KafkaChannel> {
        self.slots
            .get_mut(slot)
            .and_then(|s| s.channel.as_mut())
            .ok_or_else(|| Error::UnknownConnection(format!("slot {slot}")))
    }

    fn remove(&mut self, slot: usize) -> Option<ConnectionId> {
        let entry = self.slots.get_mut(slot)?;
        let mut channel = entry.channel.take()?;
        entry.generation = entry.generation.wrapping_add(1);
        let _ = self
            .poll
            .registry()
            .deregister(channel.transport_mut().source());
        channel.close();
        self.free.push(slot);
        self.open = self.open.saturating_sub(1);
        self.work.remove(&slot);
        Some(channel.id())
    }

    fn disconnect(&mut self, slot: usize, reason: DisconnectReason) {
        if let Some(id) = self.remove(slot) {
            tracing::debug!(connection = %id, ?reason, "channel closed");
            self.disconnected.push((id, reason));
        }
    }

    /// Performs the I/O that is possible, waiting up to `timeout` (`None`: until an event or a
    /// wake-up) when nothing can progress without one. Clears the previous poll's results.
    pub fn poll(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.completed_receives.clear();
        self.completed_sends.clear();
        self.connected.clear();
        self.disconnected.clear();

        let memory_waiters = self
            .slots
            .iter()
            .filter_map(|s| s.channel.as_ref())
            .any(KafkaChannel::awaiting_memory);
        let mut timeout = if self.work.is_empty() {
            timeout
        } else {
            Some(Duration::ZERO)
        };
        if memory_waiters && !self.config.memory_pool.is_out_of_memory() {
            timeout = Some(Duration::ZERO);
        } else if memory_waiters {
            // Memory comes back when handlers drop request buffers, which wakes nobody: look
            // again soon.
            timeout = Some(timeout.map_or(Duration::from_millis(10), |t| {
                t.min(Duration::from_millis(10))
            }));
        }
        if let (Some(idle), Some(next)) = (self.config.connections_max_idle, self.next_idle_check) {
            let until = next.saturating_duration_since(Instant::now()).min(idle);
            timeout = Some(timeout.map_or(until, |t| t.min(until)));
        }
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Io(e)),
        }
        let now = Instant::now();

        let mut touched: Vec<usize> =
            Vec::with_capacity(self.events.iter().count() + self.work.len());
        for event in self.events.iter() {
            let token = event.token();
            if token == WAKER_TOKEN {
                continue;
            }
            let slot = token.0;
            let Some(channel) = self.slots.get_mut(slot).and_then(|s| s.channel.as_mut()) else {
                continue;
            };
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                channel.readable = true;
            }
            if event.is_writable() || event.is_write_closed() || event.is_error() {
                channel.writable = true;
            }
            touched.push(slot);
        }
        touched.extend(self.work.drain());
        if memory_waiters && !self.config.memory_pool.is_out_of_memory() {
            touched.extend(
                self.slots
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| {
                        s.channel
                            .as_ref()
                            .is_some_and(KafkaChannel::awaiting_memory)
                    })
                    .map(|(i, _)| i),
            );
        }
        touched.sort_unstable();
        touched.dedup();

        for slot in touched {
            self.process(slot, now);
        }
        self.expire_idle(now);
        Ok(())
    }

    fn process(&mut self, slot: usize, now: Instant) {
        let pool = self.config.memory_pool.clone();
        let Some(channel) = self.slots.get_mut(slot).and_then(|s| s.channel.as_mut()) else {
            return;
        };
        if *channel.state() == crate::ChannelState::Connecting {
            if !channel.writable {
                return;
            }
            match finish_connect(channel) {
                Ok(true) => channel.connected(),
                Ok(false) => return,
                Err(e) => {
                    self.disconnect(slot, DisconnectReason::ConnectFailed(e.to_string()));
                    return;
                }
            }
        }
        let was_ready = channel.ready();
        let io = channel.poll_io(&pool, now);
        self.file_bytes_copied += channel.take_file_bytes_copied();
        match io {
            Ok(progress) => {
                let id = channel.id();
                if progress.receive.is_some() || progress.send_completed || progress.became_ready {
                    channel.last_activity = now;
                }
                let more = channel.has_work();
                if progress.became_ready && !was_ready {
                    self.connected.push(id);
                }
                if let Some(frame) = progress.receive {
                    self.completed_receives.push((id, frame));
                }
                if progress.send_completed {
                    self.completed_sends.push(id);
                }
                if more {
                    self.work.insert(slot);
                }
            }
            Err(e) => {
                let reason = match &e {
                    Error::PeerClosed => DisconnectReason::PeerClosed,
                    Error::Authentication(m)
                    | Error::IllegalSaslState(m)
                    | Error::UnsupportedSaslMechanism(m) => {
                        DisconnectReason::AuthenticationFailed(m.clone())
                    }
                    Error::Tls(m) => DisconnectReason::AuthenticationFailed(m.clone()),
                    other => DisconnectReason::Error(other.to_string()),
                };
                self.disconnect(slot, reason);
            }
        }
    }

    fn expire_idle(&mut self, now: Instant) {
        let Some(idle) = self.config.connections_max_idle else {
            return;
        };
        if self.next_idle_check.is_some_and(|t| now < t) {
            return;
        }
        // A full scan at most ten times per idle period keeps the cost proportional to the
        // connection count, not to the poll rate.
        self.next_idle_check = Some(now + (idle / 10).max(Duration::from_millis(1)));
        let expired: Vec<usize> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.channel.as_ref().map(|c| (i, c)))
            .filter(|(_, c)| now.saturating_duration_since(c.last_activity) > idle)
            .map(|(i, _)| i)
            .collect();
        for slot in expired {
            self.disconnect(slot, DisconnectReason::Idle);
        }
    }
}

/// Completes a non-blocking connect: true when connected, false when still in progress.
fn finish_connect(channel: &mut KafkaChannel) -> io::Result<bool> {
    let Some(stream) = channel.transport_mut().tcp_stream() else {
        return Ok(true);
    };
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    match stream.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(e) => Err(e),
    }
}

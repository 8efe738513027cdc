//! `KafkaChannel`: one connection's transport, authenticator, principal, current receive and
//! send, and mute state.
//!
//! The channel holds what the [`crate::Selector`] needs to drive a connection: it performs
//! reads and writes when asked and reports what completed; readiness latching, registration and
//! the lists of completed work belong to the selector.

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

use bytes::Bytes;
use mio::net::TcpStream;

use crate::auth::Authenticator;
use crate::error::{Error, Result};
use crate::memory_pool::MemoryPool;
use crate::mute::{ChannelMuteEvent, ChannelMuteState};
use crate::principal::KafkaPrincipal;
use crate::receive::{NetworkReceive, ReadStatus};
use crate::selector::ConnectionId;
use crate::send::NetworkSend;
use crate::transport::{PlaintextTransportLayer, ReadAdapter, TransportLayer};

/// Creates the authenticator once the transport is ready, from the principal the transport
/// established (a TLS client certificate's subject, or anonymous).
pub type AuthenticatorFactory = Box<dyn FnOnce(KafkaPrincipal) -> Box<dyn Authenticator> + Send>;

/// Builds the transport and authenticator of each new connection, as Kafka's `ChannelBuilder`.
pub trait ChannelBuilder: Send + fmt::Debug {
    /// Wraps `stream` for connection `id`; `peer_host` is the host a client connected to (for
    /// TLS server-name checks), or the peer's address on a server.
    fn build(
        &self,
        id: ConnectionId,
        stream: TcpStream,
        peer_host: &str,
    ) -> Result<(Box<dyn TransportLayer>, AuthenticatorFactory)>;
}

/// Plaintext connections with no authentication (`PLAINTEXT`).
#[derive(Debug, Clone, Default)]
pub struct PlaintextChannelBuilder;

impl ChannelBuilder for PlaintextChannelBuilder {
    fn build(
        &self,
        _id: ConnectionId,
        stream: TcpStream,
        _peer_host: &str,
    ) -> Result<(Box<dyn TransportLayer>, AuthenticatorFactory)> {
        Ok((
            Box::new(PlaintextTransportLayer::new(stream)),
            Box::new(|principal| Box::new(crate::auth::NoAuthenticator::new(principal))),
        ))
    }
}

/// Where a channel is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelState {
    /// A client connection whose TCP connect has not completed.
    Connecting,
    /// The transport handshake (TLS) is in progress.
    Handshaking,
    /// The authenticator (SASL) is exchanging frames.
    Authenticating,
    /// Carrying application requests and responses.
    Ready,
    /// Authentication failed; the error response is being flushed before closing.
    FailedAuthentication(String),
}

/// What one round of I/O on a channel produced.
#[derive(Debug, Default)]
pub(crate) struct ChannelProgress {
    /// The channel became ready for application data.
    pub(crate) became_ready: bool,
    /// A complete application receive.
    pub(crate) receive: Option<Bytes>,
    /// The application send completed.
    pub(crate) send_completed: bool,
    /// Reading stopped because the pool is out of memory.
    pub(crate) awaiting_memory: bool,
}

/// One connection.
pub struct KafkaChannel {
    id: ConnectionId,
    transport: Box<dyn TransportLayer>,
    authenticator: Option<Box<dyn Authenticator>>,
    authenticator_factory: Option<AuthenticatorFactory>,
    state: ChannelState,
    receive: NetworkReceive,
    send: Option<NetworkSend>,
    auth_sends: VecDeque<NetworkSend>,
    mute_state: ChannelMuteState,
    failure: Option<Error>,
    principal: Option<KafkaPrincipal>,
    /// The frame limit once authenticated.
    max_receive_size: usize,
    pub(crate) last_activity: Instant,
    /// Edge-triggered readiness, latched until a read or write would block.
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// File bytes that application sends read into memory, not yet taken by the selector.
    file_bytes_copied: u64,
}

impl fmt::Debug for KafkaChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaChannel")
            .field("id", &self.id)
            .field("state", &self.state)
            .field("mute_state", &self.mute_state)
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

impl KafkaChannel {
    pub(crate) fn new(
        id: ConnectionId,
        transport: Box<dyn TransportLayer>,
        factory: AuthenticatorFactory,
        max_receive_size: usize,
        connecting: bool,
        now: Instant,
    ) -> Self {
        KafkaChannel {
            id,
            transport,
            authenticator: None,
            authenticator_factory: Some(factory),
            state: if connecting {
                ChannelState::Connecting
            } else {
                ChannelState::Handshaking
            },
            receive: NetworkReceive::new(max_receive_size),
            send: None,
            auth_sends: VecDeque::new(),
            mute_state: ChannelMuteState::NotMuted,
            failure: None,
            principal: None,
            max_receive_size,
            last_activity: now,
            readable: true,
            writable: true,
            file_bytes_copied: 0,
        }
    }

    /// File bytes read into memory by sends since the last call (see
    /// [`NetworkSend::file_bytes_copied`]).
    pub(crate) fn take_file_bytes_copied(&mut self) -> u64 {
        std::mem::take(&mut self.file_bytes_copied)
    }

    /// The connection id.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// Where the channel is in its life.
    pub fn state(&self) -> &ChannelState {
        &self.state
    }

    /// The authenticated principal, once ready.
    pub fn principal(&self) -> Option<&KafkaPrincipal> {
        self.principal.as_ref()
    }

    /// Whether application data flows.
    pub fn ready(&self) -> bool {
        self.state == ChannelState::Ready
    }

    /// The mute state.
    pub fn mute_state(&self) -> ChannelMuteState {
        self.mute_state
    }

    /// When the authenticated session expires, if it does.
    pub fn session_expiration(&self) -> Option<Instant> {
        self.authenticator
            .as_ref()
            .and_then(|a| a.session_expiration())
    }

    pub(crate) fn transport_mut(&mut self) -> &mut dyn TransportLayer {
        self.transport.as_mut()
    }

    pub(crate) fn mute(&mut self) {
        self.mute_state.mute();
    }

    pub(crate) fn handle_mute_event(&mut self, event: ChannelMuteEvent) -> bool {
        self.mute_state.handle(event)
    }

    pub(crate) fn maybe_unmute(&mut self) -> bool {
        self.mute_state.maybe_unmute()
    }

    /// Whether a send is in progress.
    pub fn has_send(&self) -> bool {
        self.send.is_some()
    }

    pub(crate) fn set_send(&mut self, send: NetworkSend) -> Result<()> {
        if self.send.is_some() {
            return Err(Error::SendInProgress(self.id.to_string()));
        }
        self.send = Some(send);
        Ok(())
    }

    pub(crate) fn connected(&mut self) {
        if self.state == ChannelState::Connecting {
            self.state = ChannelState::Handshaking;
        }
    }

    /// Whether another round of I/O could make progress without a new readiness event.
    pub(crate) fn has_work(&self) -> bool {
        if self.state == ChannelState::Connecting {
            return false;
        }
        let can_read = (self.readable || self.transport.has_buffered_read())
            && !self.receive.awaiting_memory()
            && (self.state != ChannelState::Ready || !self.mute_state.is_muted());
        let can_write = self.writable
            && (self.send.is_some()
                || !self.auth_sends.is_empty()
                || self.transport.has_pending_writes());
        can_read || can_write || (self.failure.is_some() && self.auth_sends.is_empty())
    }

    pub(crate) fn awaiting_memory(&self) -> bool {
        self.receive.awaiting_memory()
    }

    /// Runs the handshake, authentication, writes and reads this channel can do now.
    pub(crate) fn poll_io(&mut self, pool: &MemoryPool, now: Instant) -> Result<ChannelProgress> {
        let mut progress = ChannelProgress::default();
        if self.state == ChannelState::Connecting {
            return Ok(progress);
        }
        if self.state == ChannelState::Handshaking {
            self.transport.handshake()?;
            if !self.transport.ready() {
                self.flush_transport()?;
                return Ok(progress);
            }
            let factory = self.authenticator_factory.take();
            let mut auth = match factory {
                Some(f) => f(self.transport.peer_principal()),
                None => {
                    return Err(Error::IllegalSaslState(
                        "authenticator already built".into(),
                    ))
                }
            };
            if let Some(limit) = auth.max_receive_size() {
                self.max_receive_size = self.receive.max_size();
                self.receive.set_max_size(limit.min(self.max_receive_size));
            }
            for frame in auth.start(now)? {
                self.auth_sends.push_back(NetworkSend::from_payload(frame)?);
            }
            self.authenticator = Some(auth);
            self.state = ChannelState::Authenticating;
        }
        if self.state == ChannelState::Authenticating {
            self.write_auth_sends()?;
            self.authenticate(pool, now)?;
            if self.state == ChannelState::Ready {
                progress.became_ready = true;
            }
        }
        if let ChannelState::FailedAuthentication(_) = self.state {
            self.write_auth_sends()?;
            if self.auth_sends.is_empty() && !self.transport.has_pending_writes() {
                return Err(self
                    .failure
                    .take()
                    .unwrap_or(Error::Authentication("failed".into())));
            }
            return Ok(progress);
        }
        if self.state == ChannelState::Ready {
            if self.writable {
                progress.send_completed = self.write_app_send()?;
            }
            if !self.mute_state.is_muted() && (self.readable || self.transport.has_buffered_read())
            {
                match self.read_frame(pool)? {
                    ReadStatus::Complete => progress.receive = self.receive.payload(),
                    ReadStatus::AwaitingMemory => progress.awaiting_memory = true,
                    ReadStatus::WouldBlock => {}
                }
            }
        }
        Ok(progress)
    }

    fn read_frame(&mut self, pool: &MemoryPool) -> Result<ReadStatus> {
        let status = self
            .receive
            .read_from(&mut ReadAdapter(self.transport.as_mut()), pool)?;
        if status == ReadStatus::WouldBlock {
            self.readable = false;
        }
        Ok(status)
    }

    fn authenticate(&mut self, pool: &MemoryPool, now: Instant) -> Result<()> {
        loop {
            if self.authenticator.as_ref().is_some_and(|a| a.complete())
                && self.auth_sends.is_empty()
            {
                self.principal = self.authenticator.as_ref().and_then(|a| a.principal());
                self.receive.set_max_size(self.max_receive_size);
                self.state = ChannelState::Ready;
                return Ok(());
            }
            if !(self.readable || self.transport.has_buffered_read()) {
                return Ok(());
            }
            match self.read_frame(pool)? {
                ReadStatus::Complete => {}
                ReadStatus::WouldBlock | ReadStatus::AwaitingMemory => return Ok(()),
            }
            let Some(frame) = self.receive.payload() else {
                return Ok(());
            };
            let Some(auth) = self.authenticator.as_mut() else {
                return Ok(());
            };
            let step = auth.handle_receive(frame, now)?;
            for frame in step.sends {
                self.auth_sends.push_back(NetworkSend::from_payload(frame)?);
            }
            if let Some(err) = step.failure {
                self.state = ChannelState::FailedAuthentication(err.to_string());
                self.failure = Some(err);
                self.write_auth_sends()?;
                return Ok(());
            }
            self.write_auth_sends()?;
        }
    }

    fn write_auth_sends(&mut self) -> Result<()> {
        while let Some(send) = self.auth_sends.front_mut() {
            send.write_to(self.transport.as_mut())?;
            if send.completed(self.transport.as_ref()) {
                self.auth_sends.pop_front();
            } else {
                self.writable = false;
                return Ok(());
            }
        }
        self.flush_transport()
    }

    fn flush_transport(&mut self) -> Result<()> {
        if self.transport.has_pending_writes() && !self.transport.flush_pending()? {
            self.writable = false;
        }
        Ok(())
    }

    fn write_app_send(&mut self) -> Result<bool> {
        let Some(send) = self.send.as_mut() else {
            return self.flush_transport().map(|_| false);
        };
        let before = send.file_bytes_copied();
        let written = send.write_to(self.transport.as_mut());
        self.file_bytes_copied += send.file_bytes_copied() - before;
        written?;
        if send.completed(self.transport.as_ref()) {
            self.send = None;
            Ok(true)
        } else {
            self.writable = false;
            Ok(false)
        }
    }

    pub(crate) fn close(&mut self) {
        self.transport.close();
    }

    /// Whether a frame is partly read (for deciding if an idle close loses data).
    pub fn receive_in_progress(&self) -> bool {
        self.receive.started()
    }
}

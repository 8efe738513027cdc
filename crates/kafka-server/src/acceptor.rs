//! The Acceptor: one thread per listener accepting connections and handing them round-robin
//! to that listener's Processors, after the connection quotas.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use socket2::{Domain, SockRef, Socket, TcpKeepalive, Type};

use crate::config::{ListenerConfig, SocketServerConfig};
use crate::metrics;
use crate::quotas::{ConnectionQuotas, QuotaViolation};

/// A connection on its way from the Acceptor to a Processor.
#[derive(Debug)]
pub(crate) struct NewConnection {
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
}

/// Binds the listen socket with socket2 (SO_REUSEADDR, backlog, receive buffer).
pub(crate) fn bind(
    listener: &ListenerConfig,
    config: &SocketServerConfig,
) -> io::Result<std::net::TcpListener> {
    let host = if listener.host.is_empty() {
        "0.0.0.0"
    } else {
        listener.host.as_str()
    };
    let addr: SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(&(host, listener.port))?
        .next()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot resolve {host}"),
            )
        })?;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if let Some(size) = config.socket_receive_buffer_bytes {
        socket.set_recv_buffer_size(size)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(config.socket_listen_backlog_size.max(1))?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// One processor's hand-off queue and waker.
#[derive(Debug, Clone)]
pub(crate) struct ProcessorInbox {
    pub(crate) tx: Sender<NewConnection>,
    pub(crate) waker: Arc<Waker>,
}

#[derive(Debug)]
pub(crate) struct Acceptor {
    pub(crate) listener: ListenerConfig,
    pub(crate) socket: TcpListener,
    pub(crate) poll: Poll,
    pub(crate) processors: Vec<ProcessorInbox>,
    pub(crate) quotas: Arc<ConnectionQuotas>,
    pub(crate) config: SocketServerConfig,
    pub(crate) shutdown: Arc<AtomicBool>,
}

const LISTENER: Token = Token(0);
pub(crate) const ACCEPTOR_WAKER: Token = Token(1);

impl Acceptor {
    pub(crate) fn new(
        listener: ListenerConfig,
        std_socket: std::net::TcpListener,
        processors: Vec<ProcessorInbox>,
        quotas: Arc<ConnectionQuotas>,
        config: SocketServerConfig,
        shutdown: Arc<AtomicBool>,
    ) -> io::Result<(Self, Arc<Waker>)> {
        let poll = Poll::new()?;
        let mut socket = TcpListener::from_std(std_socket);
        poll.registry()
            .register(&mut socket, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), ACCEPTOR_WAKER)?);
        Ok((
            Acceptor {
                listener,
                socket,
                poll,
                processors,
                quotas,
                config,
                shutdown,
            },
            waker,
        ))
    }

    pub(crate) fn run(mut self) {
        let mut events = Events::with_capacity(16);
        let mut next = 0usize;
        let created = metrics::connection_created(&self.listener.name);
        // Edge-triggered: after an event, accept until WouldBlock; while the broker is full,
        // keep the pending connections in the kernel's backlog and look again shortly.
        let mut pending = false;
        while !self.shutdown.load(Ordering::Acquire) {
            let timeout = if pending {
                Duration::from_millis(20)
            } else {
                Duration::from_millis(500)
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::error!(listener = %self.listener.name, error = %e, "acceptor poll failed");
                    return;
                }
            }
            if events.iter().any(|e| e.token() == LISTENER) {
                pending = true;
            }
            while pending && !self.shutdown.load(Ordering::Acquire) {
                if !self.quotas.slot_available(&self.listener.name) {
                    break;
                }
                match self.socket.accept() {
                    Ok((stream, peer)) => {
                        match self.quotas.try_acquire(
                            &self.listener.name,
                            peer.ip(),
                            Instant::now(),
                        ) {
                            Ok(()) => {}
                            Err(v) => {
                                tracing::info!(listener = %self.listener.name, %peer, reason = v.label(), "connection refused by quota");
                                metrics::connection_rejected(&self.listener.name, v.label());
                                if v == QuotaViolation::NoSlot {
                                    // Raced with another listener; the connection is dropped.
                                }
                                continue;
                            }
                        }
                        if let Err(e) = configure(&stream, &self.config) {
                            tracing::debug!(%peer, error = %e, "configuring accepted socket failed");
                        }
                        created.increment(1);
                        self.hand_off(NewConnection { stream, peer }, &mut next);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => pending = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(listener = %self.listener.name, error = %e, "accept failed");
                        std::thread::sleep(Duration::from_millis(50));
                        break;
                    }
                }
            }
        }
    }

    /// Round-robin hand-off: a Processor whose queue is full is skipped; if all are full, wait
    /// on the chosen one (as Kafka's Acceptor blocks), so accepting slows down with them.
    fn hand_off(&self, mut conn: NewConnection, next: &mut usize) {
        let n = self.processors.len();
        for _ in 0..n {
            let p = &self.processors[*next % n];
            *next = next.wrapping_add(1);
            match p.tx.try_send(conn) {
                Ok(()) => {
                    let _ = p.waker.wake();
                    return;
                }
                Err(TrySendError::Full(c)) => conn = c,
                Err(TrySendError::Disconnected(c)) => conn = c,
            }
        }
        let p = &self.processors[*next % n];
        *next = next.wrapping_add(1);
        loop {
            match p.tx.send_timeout(conn, Duration::from_millis(100)) {
                Ok(()) => {
                    let _ = p.waker.wake();
                    return;
                }
                Err(crossbeam_channel::SendTimeoutError::Timeout(c)) => {
                    let _ = p.waker.wake();
                    if self.shutdown.load(Ordering::Acquire) {
                        self.quotas.release(&self.listener.name, c.peer.ip());
                        return;
                    }
                    conn = c;
                }
                Err(crossbeam_channel::SendTimeoutError::Disconnected(c)) => {
                    self.quotas.release(&self.listener.name, c.peer.ip());
                    return;
                }
            }
        }
    }
}

fn configure(stream: &TcpStream, config: &SocketServerConfig) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let sock = SockRef::from(stream);
    sock.set_tcp_keepalive(&TcpKeepalive::new())?;
    sock.set_keepalive(true)?;
    if let Some(size) = config.socket_send_buffer_bytes {
        sock.set_send_buffer_size(size)?;
    }
    if let Some(size) = config.socket_receive_buffer_bytes {
        sock.set_recv_buffer_size(size)?;
    }
    Ok(())
}

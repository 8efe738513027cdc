//! [`SslTransportLayer`]: a rustls connection driven by socket readiness.

use std::fmt;
use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;

use mio::Interest;
use rustls::{ClientConnection, Connection, ServerConnection};
use rustls_pki_types::{CertificateDer, ServerName};

use super::config::{iana_suite_name, SslClientConfig, SslServerConfig, TlsVersion};
use super::principal;
use crate::error::{Error, Result};
use crate::principal::KafkaPrincipal;
use crate::transport::TransportLayer;

/// Size of the buffer encrypted bytes are read into from the socket: room for two full TLS
/// records, so one `read(2)` usually brings in several.
const NET_READ_BUFFER_SIZE: usize = 32 * 1024;

/// Largest slice of a file [`SslTransportLayer::transfer_from`] reads and encrypts per call.
const TRANSFER_CHUNK_SIZE: usize = 32 * 1024;

/// What one attempt to bring in encrypted bytes achieved.
enum Pump {
    /// Bytes went into rustls (and were processed).
    Fed,
    /// The socket is at end of stream and everything read has been processed.
    Eof,
}

/// A TLS connection over a non-blocking stream, server or client side.
///
/// The handshake is driven by [`SslTransportLayer::handshake`] whenever the socket is ready
/// for [`SslTransportLayer::handshake_interest`]; it keeps reading while its own output
/// waits, so two peers with full buffers cannot deadlock. Once [`SslTransportLayer::ready`]
/// (handshake complete and its last flight on the socket), reads and writes carry
/// application data.
///
/// Buffering, which the selector must know about:
///
/// - Encrypted bytes rustls must send stay in rustls until the socket takes them: a partial
///   socket write loses nothing. [`SslTransportLayer::has_pending_writes`] reports them and
///   [`SslTransportLayer::flush_pending`] pushes them; writes are refused (`WouldBlock`)
///   while any are pending, which bounds memory to one write's worth (64 KiB).
/// - One socket read brings in up to 32 KiB, often several TLS records; rustls hands back
///   one record's worth at a time. What is left (decrypted or not), and an end of stream not
///   yet returned, produce no new socket readiness: [`SslTransportLayer::has_buffered_read`]
///   says so, and the selector must keep reading the channel (without waiting for an event)
///   while it is true, including right after the handshake completes, since the peer's first
///   request may have arrived with its last handshake flight.
/// - Post-handshake messages (TLS 1.3 session tickets, key updates) are handled inside
///   `read`; an answer the socket does not take is reported as a pending write.
///
/// The stream is generic so tests can drive the layer through an in-memory pipe; the
/// [`TransportLayer`] implementation needs a mio source with a file descriptor
/// (`mio::net::TcpStream`).
pub struct SslTransportLayer<S = mio::net::TcpStream> {
    stream: S,
    conn: Connection,
    /// Encrypted bytes read from the socket, `net_in[net_start..net_end]` not yet given to rustls.
    net_in: Vec<u8>,
    net_start: usize,
    net_end: usize,
    /// The socket returned end of stream.
    socket_eof: bool,
    /// Decrypted bytes waiting in rustls.
    plaintext_buffered: usize,
    /// The peer's close_notify was received.
    peer_closed: bool,
    /// `read` has returned end of stream.
    eof_reported: bool,
    handshake_complete: bool,
    close_notify_sent: bool,
    principal: KafkaPrincipal,
    transfer_buf: Vec<u8>,
}

impl<S: fmt::Debug> fmt::Debug for SslTransportLayer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SslTransportLayer")
            .field("stream", &self.stream)
            .field("side", &self.side_name())
            .field("handshake_complete", &self.handshake_complete)
            .field("protocol", &self.conn.protocol_version())
            .field("encrypted_buffered", &(self.net_end - self.net_start))
            .field("plaintext_buffered", &self.plaintext_buffered)
            .field("pending_writes", &self.conn.wants_write())
            .field("principal", &self.principal)
            .finish()
    }
}

fn would_block() -> io::Error {
    io::Error::from(io::ErrorKind::WouldBlock)
}

fn tls_io_error(error: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

impl<S> SslTransportLayer<S> {
    fn side_name(&self) -> &'static str {
        match self.conn {
            Connection::Client(_) => "client",
            Connection::Server(_) => "server",
        }
    }
}

impl<S: Read + Write> SslTransportLayer<S> {
    /// The server side of a connection accepted on `stream`.
    pub fn server(stream: S, config: &SslServerConfig) -> Result<Self> {
        let conn =
            ServerConnection::new(config.inner.clone()).map_err(|e| Error::Tls(e.to_string()))?;
        Ok(Self::with_connection(stream, Connection::Server(conn)))
    }

    /// The client side of a connection to `server_name` (a host name or an IP address: the
    /// name sent for SNI and, with `ssl.endpoint.identification.algorithm=https`, checked
    /// against the server's certificate).
    pub fn client(stream: S, config: &SslClientConfig, server_name: &str) -> Result<Self> {
        let name = ServerName::try_from(server_name.to_string())
            .map_err(|e| Error::Config(format!("invalid TLS server name {server_name:?}: {e}")))?;
        let conn = ClientConnection::new(config.inner.clone(), name)
            .map_err(|e| Error::Tls(e.to_string()))?;
        Ok(Self::with_connection(stream, Connection::Client(conn)))
    }

    fn with_connection(stream: S, conn: Connection) -> Self {
        SslTransportLayer {
            stream,
            conn,
            net_in: Vec::new(),
            net_start: 0,
            net_end: 0,
            socket_eof: false,
            plaintext_buffered: 0,
            peer_closed: false,
            eof_reported: false,
            handshake_complete: false,
            close_notify_sent: false,
            principal: KafkaPrincipal::anonymous(),
            transfer_buf: Vec::new(),
        }
    }

    /// The underlying stream.
    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// The underlying stream, e.g. to register it with a poll. Reading or writing it directly
    /// corrupts the TLS session.
    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// True once the handshake has completed and its last flight is on the socket.
    pub fn ready(&self) -> bool {
        self.handshake_complete
    }

    /// The negotiated protocol version, once known.
    pub fn protocol_version(&self) -> Option<TlsVersion> {
        self.conn
            .protocol_version()
            .and_then(TlsVersion::from_rustls)
    }

    /// The negotiated cipher suite's IANA name, once known.
    pub fn cipher_suite(&self) -> Option<String> {
        self.conn
            .negotiated_cipher_suite()
            .and_then(|s| iana_suite_name(s.suite()))
    }

    /// The peer's certificate chain (end entity first), if it presented one.
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.conn.peer_certificates()
    }

    /// Advances the handshake as far as the socket allows. `Ok` whether or not it finished
    /// (see [`SslTransportLayer::ready`]); `Err` if it failed (a TLS alert has then been
    /// queued and, if the socket allowed, sent; the error wraps the `rustls::Error`), or if
    /// the peer closed the connection during the handshake (`UnexpectedEof`).
    pub fn handshake(&mut self) -> io::Result<()> {
        if self.handshake_complete {
            return Ok(());
        }
        loop {
            let flushed = self.flush_tls()?;
            if !self.conn.is_handshaking() {
                // Ready only once the last flight is on the socket.
                if flushed {
                    self.complete_handshake();
                }
                return Ok(());
            }
            // Keep reading even while our output waits: if both peers stopped reading until
            // their writes went through, full buffers on both sides would deadlock.
            match self.pump_in() {
                Ok(Pump::Fed) => {}
                Ok(Pump::Eof) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed by peer during the TLS handshake",
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    fn complete_handshake(&mut self) {
        self.handshake_complete = true;
        self.principal = principal::peer_principal(self.conn.peer_certificates());
        tracing::debug!(
            side = self.side_name(),
            protocol = ?self.conn.protocol_version(),
            cipher_suite = ?self.conn.negotiated_cipher_suite().map(|s| s.suite()),
            principal = %self.principal,
            "TLS handshake complete"
        );
    }

    /// What the handshake waits for: readable while the handshake expects more from the
    /// peer, plus writable while rustls has bytes the socket did not take (only writable
    /// once our last flight is all that is left).
    pub fn handshake_interest(&self) -> Interest {
        match (self.conn.wants_write(), self.conn.is_handshaking()) {
            (true, true) => Interest::READABLE | Interest::WRITABLE,
            (true, false) => Interest::WRITABLE,
            (false, _) => Interest::READABLE,
        }
    }

    /// Reads decrypted application data. `Ok(0)` is end of stream: the peer's close_notify,
    /// or the socket closed without one (a truncation Kafka's framing detects anyway).
    /// `WouldBlock` when no decrypted byte is available and the socket has no more.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.handshake_complete {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "TLS handshake not complete",
            ));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.conn.reader().read(buf) {
                Ok(0) => {
                    self.eof_reported = true;
                    return Ok(0);
                }
                Ok(n) => {
                    self.plaintext_buffered = self.plaintext_buffered.saturating_sub(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.eof_reported = true;
                    return Ok(0);
                }
                Err(e) => return Err(e),
            }
            self.plaintext_buffered = 0;
            // Nothing decrypted is waiting: bring in more (or learn of end of stream; the
            // reader then reports it on the next turn).
            self.pump_in()?;
            // Post-handshake messages (a TLS 1.3 key update) may need an answer.
            if self.conn.wants_write() {
                let _ = self.flush_tls();
            }
        }
    }

    /// Moves encrypted bytes into rustls: from our read buffer, refilled from the socket
    /// when empty. `WouldBlock` when the socket has nothing.
    fn pump_in(&mut self) -> io::Result<Pump> {
        if self.net_start == self.net_end {
            if self.socket_eof {
                return Ok(Pump::Eof);
            }
            if self.net_in.is_empty() {
                self.net_in = vec![0; NET_READ_BUFFER_SIZE];
            }
            self.net_start = 0;
            self.net_end = 0;
            let n = loop {
                match self.stream.read(&mut self.net_in) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            };
            if n == 0 {
                self.socket_eof = true;
                // Tell rustls, so that its reader distinguishes a clean close from truncation.
                self.conn.read_tls(&mut io::empty())?;
                self.process()?;
                return Ok(Pump::Eof);
            }
            self.net_end = n;
        }
        let mut encrypted = &self.net_in[self.net_start..self.net_end];
        let n = self.conn.read_tls(&mut encrypted)?;
        if n == 0 {
            if self.peer_closed {
                // rustls takes nothing more after close_notify: what follows is ignored.
                self.net_start = self.net_end;
                return Ok(Pump::Eof);
            }
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "TLS layer accepted no input",
            ));
        }
        self.net_start += n;
        self.process()?;
        Ok(Pump::Fed)
    }

    fn process(&mut self) -> io::Result<()> {
        match self.conn.process_new_packets() {
            Ok(state) => {
                self.plaintext_buffered = state.plaintext_bytes_to_read();
                self.peer_closed = state.peer_has_closed();
                Ok(())
            }
            Err(error) => {
                // rustls has queued an alert for the peer: send it if the socket allows.
                let _ = self.flush_tls();
                Err(tls_io_error(error))
            }
        }
    }

    /// Writes rustls' pending TLS bytes; true when none remain.
    fn flush_tls(&mut self) -> io::Result<bool> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.stream) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    fn check_writable(&self) -> io::Result<()> {
        if !self.handshake_complete {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "TLS handshake not complete",
            ));
        }
        if self.close_notify_sent {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "TLS connection closed",
            ));
        }
        Ok(())
    }

    /// Encrypts application data. Returns how many bytes were accepted (at most rustls'
    /// outgoing buffer limit, 64 KiB, per call); accepted bytes are either on the socket or
    /// pending (see [`SslTransportLayer::has_pending_writes`]). `WouldBlock` while earlier
    /// encrypted bytes are still pending, so memory stays bounded.
    pub fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.check_writable()?;
        if bufs.iter().all(|b| b.is_empty()) {
            return Ok(0);
        }
        if !self.flush_tls()? {
            return Err(would_block());
        }
        let accepted = self.conn.writer().write_vectored(bufs)?;
        if accepted == 0 {
            return Err(would_block());
        }
        self.flush_tls()?;
        Ok(accepted)
    }

    /// Encrypts application data from one buffer; see [`SslTransportLayer::write_vectored`].
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    /// Sends up to `count` bytes of `file` from `position`: reads at most 32 KiB with
    /// `pread`, encrypts them and writes what the socket takes (TLS cannot use `sendfile`).
    /// Returns the bytes accepted, `Ok(0)` at the end of the file, `WouldBlock` while earlier
    /// encrypted bytes are pending.
    pub fn transfer_from(&mut self, file: &File, position: u64, count: usize) -> io::Result<usize> {
        self.check_writable()?;
        if count == 0 {
            return Ok(0);
        }
        if !self.flush_tls()? {
            return Err(would_block());
        }
        let chunk = count.min(TRANSFER_CHUNK_SIZE);
        if self.transfer_buf.len() < chunk {
            self.transfer_buf.resize(chunk, 0);
        }
        let n = loop {
            match file.read_at(&mut self.transfer_buf[..chunk], position) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            return Ok(0);
        }
        let accepted = self.conn.writer().write(&self.transfer_buf[..n])?;
        if accepted == 0 {
            return Err(would_block());
        }
        self.flush_tls()?;
        Ok(accepted)
    }

    /// Whether data is waiting that produces no new socket readiness: decrypted bytes not
    /// yet read, encrypted bytes read from the socket but not yet decrypted, or an end of
    /// stream (close_notify or socket EOF) not yet returned by `read`.
    pub fn has_buffered_read(&self) -> bool {
        self.handshake_complete
            && !self.eof_reported
            && (self.plaintext_buffered > 0
                || self.net_start < self.net_end
                || self.peer_closed
                || self.socket_eof)
    }

    /// Whether encrypted bytes wait for the socket.
    pub fn has_pending_writes(&self) -> bool {
        self.conn.wants_write()
    }

    /// Writes pending encrypted bytes; true when none remain.
    pub fn flush_pending(&mut self) -> io::Result<bool> {
        self.flush_tls()
    }

    /// The peer's principal: with a verified client certificate (or, on the client side, the
    /// server's certificate), `User:` and its subject as [`certificate_subject`](super::certificate_subject) formats it,
    /// which is what Kafka's default principal builder produces; `User:ANONYMOUS` otherwise.
    ///
    /// `ssl.principal.mapping.rules` is not implemented: the name is always the one its
    /// `DEFAULT` rule gives.
    pub fn peer_principal(&self) -> KafkaPrincipal {
        self.principal.clone()
    }

    /// Queues a close_notify alert and writes what the socket takes (best effort). Further
    /// writes fail; reads still drain what the peer sent.
    pub fn send_close_notify(&mut self) {
        if !self.close_notify_sent {
            self.conn.send_close_notify();
            self.close_notify_sent = true;
        }
        let _ = self.flush_tls();
    }
}

impl<S> TransportLayer for SslTransportLayer<S>
where
    S: Read + Write + AsFd + mio::event::Source + Send + fmt::Debug + 'static,
{
    fn ready(&self) -> bool {
        SslTransportLayer::ready(self)
    }

    fn handshake(&mut self) -> io::Result<()> {
        SslTransportLayer::handshake(self)
    }

    fn handshake_interest(&self) -> Interest {
        SslTransportLayer::handshake_interest(self)
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        SslTransportLayer::read(self, buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        SslTransportLayer::write_vectored(self, bufs)
    }

    fn transfer_from(&mut self, file: &File, position: u64, count: usize) -> io::Result<usize> {
        SslTransportLayer::transfer_from(self, file, position, count)
    }

    fn has_buffered_read(&self) -> bool {
        SslTransportLayer::has_buffered_read(self)
    }

    fn has_pending_writes(&self) -> bool {
        SslTransportLayer::has_pending_writes(self)
    }

    fn flush_pending(&mut self) -> io::Result<bool> {
        SslTransportLayer::flush_pending(self)
    }

    fn peer_principal(&self) -> KafkaPrincipal {
        SslTransportLayer::peer_principal(self)
    }

    /// Sends close_notify (best effort: whatever the socket takes now), then shuts the
    /// socket down in both directions.
    fn close(&mut self) {
        self.send_close_notify();
        let _ = socket2::SockRef::from(&self.stream).shutdown(std::net::Shutdown::Both);
    }

    fn source(&mut self) -> &mut dyn mio::event::Source {
        &mut self.stream
    }

    fn tcp_stream(&self) -> Option<&mio::net::TcpStream> {
        (&self.stream as &dyn std::any::Any).downcast_ref::<mio::net::TcpStream>()
    }
}

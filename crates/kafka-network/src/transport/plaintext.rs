//! The plaintext transport: a TCP socket as it is.

use std::fs::File;
use std::io::{self, IoSlice, Read, Write};

use mio::net::TcpStream;
use mio::Interest;

use super::{sendfile, TransportLayer};
use crate::principal::KafkaPrincipal;

/// A plaintext TCP connection: ready at once, zero-copy file transfers with `sendfile`.
#[derive(Debug)]
pub struct PlaintextTransportLayer {
    stream: TcpStream,
}

impl PlaintextTransportLayer {
    /// Wraps a connected (or connecting) non-blocking socket.
    pub fn new(stream: TcpStream) -> Self {
        PlaintextTransportLayer { stream }
    }

    /// The socket.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

impl TransportLayer for PlaintextTransportLayer {
    fn ready(&self) -> bool {
        true
    }

    fn handshake(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn handshake_interest(&self) -> Interest {
        Interest::READABLE
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.stream.write_vectored(bufs)
    }

    fn transfer_from(&mut self, file: &File, position: u64, count: usize) -> io::Result<usize> {
        sendfile::sendfile(&self.stream, file, position, count)
    }

    fn transfers_without_copy(&self) -> bool {
        cfg!(target_os = "linux")
    }

    fn has_buffered_read(&self) -> bool {
        false
    }

    fn has_pending_writes(&self) -> bool {
        false
    }

    fn flush_pending(&mut self) -> io::Result<bool> {
        Ok(true)
    }

    fn peer_principal(&self) -> KafkaPrincipal {
        KafkaPrincipal::anonymous()
    }

    fn close(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }

    fn source(&mut self) -> &mut dyn mio::event::Source {
        &mut self.stream
    }

    fn tcp_stream(&self) -> Option<&TcpStream> {
        Some(&self.stream)
    }
}

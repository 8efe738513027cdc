//! Writing one size-prefixed frame, made of byte buffers and file regions, across any number
//! of partial writes.
//!
//! Consecutive buffers go out with one vectored write; a [`FileRegion`] goes out through
//! [`TransportLayer::transfer_from`], which is `sendfile(2)` on plaintext, so record data
//! read from the log never enters user space. A send is complete when every part is written
//! and the transport holds no pending bytes (TLS).
//!
//! The part types are the codec's ([`kafka_protocol::records::SendPart`], made by
//! [`kafka_protocol::records::PartsWriter`]), re-exported here.

use std::io::{self, IoSlice};
use std::sync::Arc;

use bytes::Bytes;
pub use kafka_protocol::records::{FileRegion, SendPart};

use crate::error::{Error, Result};
use crate::transport::TransportLayer;

/// At most this many buffers are handed to one vectored write.
const MAX_IOVECS: usize = 64;

/// One frame being written.
#[derive(Debug)]
pub struct NetworkSend {
    parts: Vec<SendPart>,
    /// Index of the part being written and the bytes of it already written.
    current: usize,
    offset: usize,
    size: usize,
    remaining: usize,
    /// File bytes that went through user space (read into memory by the transport).
    file_bytes_copied: u64,
}

impl NetworkSend {
    /// A frame whose payload is `parts`: the 4-byte size prefix is added in front.
    pub fn frame(parts: Vec<SendPart>) -> Result<Self> {
        let payload: usize = parts.iter().map(SendPart::len).sum();
        let prefix = i32::try_from(payload).map_err(|_| Error::FrameTooLarge {
            size: payload,
            max: i32::MAX as usize,
        })?;
        let mut all = Vec::with_capacity(parts.len() + 1);
        all.push(SendPart::Bytes(Bytes::copy_from_slice(
            &prefix.to_be_bytes(),
        )));
        all.extend(parts.into_iter().filter(|p| !p.is_empty()));
        Ok(Self::raw(all))
    }

    /// A frame with one in-memory payload.
    pub fn from_payload(payload: Bytes) -> Result<Self> {
        Self::frame(vec![SendPart::Bytes(payload)])
    }

    /// Parts written as they are, with no size prefix added.
    pub fn raw(parts: Vec<SendPart>) -> Self {
        let size = parts.iter().map(SendPart::len).sum();
        NetworkSend {
            parts,
            current: 0,
            offset: 0,
            size,
            remaining: size,
            file_bytes_copied: 0,
        }
    }

    /// File-region bytes written so far that the transport had to read into memory (TLS, or
    /// no `sendfile`); zero when every file part went out with `sendfile`.
    pub fn file_bytes_copied(&self) -> u64 {
        self.file_bytes_copied
    }

    /// Total bytes, prefix included.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Bytes not yet accepted by the transport.
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    /// Writes as much as the transport accepts; returns the bytes written by this call.
    /// `WouldBlock` is not an error: check [`NetworkSend::completed`].
    pub fn write_to<T: TransportLayer + ?Sized>(&mut self, transport: &mut T) -> Result<usize> {
        let mut written = 0;
        loop {
            if self.remaining == 0 {
                transport.flush_pending()?;
                return Ok(written);
            }
            let result = match &self.parts[self.current..] {
                [SendPart::File(region), ..] => {
                    let position = region.position + self.offset as u64;
                    let count = region.len - self.offset;
                    let file = Arc::clone(&region.file);
                    let sent = transport.transfer_from(&file, position, count);
                    if let Ok(n) = sent {
                        if !transport.transfers_without_copy() {
                            self.file_bytes_copied += n as u64;
                        }
                    }
                    sent
                }
                rest => {
                    let mut slices = Vec::with_capacity(rest.len().min(MAX_IOVECS));
                    for (i, part) in rest.iter().take(MAX_IOVECS).enumerate() {
                        match part {
                            SendPart::Bytes(b) if i == 0 => {
                                slices.push(IoSlice::new(&b[self.offset..]))
                            }
                            SendPart::Bytes(b) => slices.push(IoSlice::new(b)),
                            SendPart::File(_) => break,
                        }
                    }
                    transport.write_vectored(&slices)
                }
            };
            match result {
                Ok(0) => return Err(Error::Io(io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    written += n;
                    self.advance(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(written),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Io(e)),
            }
        }
    }

    fn advance(&mut self, mut n: usize) {
        self.remaining -= n.min(self.remaining);
        while n > 0 {
            let Some(part) = self.parts.get(self.current) else {
                return;
            };
            let left = part.len() - self.offset;
            if n < left {
                self.offset += n;
                return;
            }
            n -= left;
            self.current += 1;
            self.offset = 0;
        }
        // Skip parts that are already fully written (zero-length ones).
        while self
            .parts
            .get(self.current)
            .is_some_and(|p| p.len() == self.offset)
            && self.remaining > 0
        {
            self.current += 1;
            self.offset = 0;
        }
    }

    /// Whether every byte is written and the transport has flushed it.
    pub fn completed<T: TransportLayer + ?Sized>(&self, transport: &T) -> bool {
        self.remaining == 0 && !transport.has_pending_writes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::KafkaPrincipal;
    use mio::Interest;
    use std::fs::File;
    use std::io::Write;

    /// A transport that accepts at most `chunk` bytes per call and every other call blocks.
    #[derive(Debug)]
    struct Sink {
        out: Vec<u8>,
        chunk: usize,
        block_next: bool,
        source: mio::net::UdpSocket,
    }

    impl Sink {
        fn new(chunk: usize) -> Self {
            Sink {
                out: Vec::new(),
                chunk,
                block_next: false,
                source: mio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap(),
            }
        }
        fn gate(&mut self) -> io::Result<()> {
            if self.block_next {
                self.block_next = false;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.block_next = true;
            Ok(())
        }
    }

    impl TransportLayer for Sink {
        fn ready(&self) -> bool {
            true
        }
        fn handshake(&mut self) -> io::Result<()> {
            Ok(())
        }
        fn handshake_interest(&self) -> Interest {
            Interest::READABLE
        }
        fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
            Err(io::ErrorKind::WouldBlock.into())
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.gate()?;
            let mut left = self.chunk;
            let mut n = 0;
            for b in bufs {
                let take = left.min(b.len());
                self.out.extend_from_slice(&b[..take]);
                n += take;
                left -= take;
                if left == 0 {
                    break;
                }
            }
            Ok(n)
        }
        fn transfer_from(&mut self, file: &File, position: u64, count: usize) -> io::Result<usize> {
            use std::os::unix::fs::FileExt;
            self.gate()?;
            let mut buf = vec![0; count.min(self.chunk)];
            let n = file.read_at(&mut buf, position)?;
            self.out.extend_from_slice(&buf[..n]);
            Ok(n)
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
        fn close(&mut self) {}
        fn source(&mut self) -> &mut dyn mio::event::Source {
            &mut self.source
        }
    }

    #[test]
    fn buffers_and_file_regions_survive_one_byte_writes() {
        let mut file = tempfile();
        file.write_all(b"0123456789").unwrap();
        let region = FileRegion {
            file: Arc::new(file),
            position: 2,
            len: 5,
        };
        let mut send = NetworkSend::frame(vec![
            SendPart::Bytes(Bytes::from_static(b"head")),
            SendPart::File(region),
            SendPart::Bytes(Bytes::new()),
            SendPart::Bytes(Bytes::from_static(b"tail")),
        ])
        .unwrap();
        assert_eq!(send.size(), 4 + 4 + 5 + 4);
        let mut sink = Sink::new(1);
        for _ in 0..1000 {
            send.write_to(&mut sink).unwrap();
            if send.completed(&sink) {
                break;
            }
        }
        assert!(send.completed(&sink));
        assert_eq!(&sink.out[..], b"\0\0\0\x0dhead23456tail");
        // This transport reads file parts into memory, and says so.
        assert_eq!(send.file_bytes_copied(), 5);
    }

    #[test]
    fn one_vectored_write_takes_many_parts() {
        let parts = (0..10)
            .map(|i| SendPart::Bytes(Bytes::from(vec![i as u8; 3])))
            .collect();
        let mut send = NetworkSend::frame(parts).unwrap();
        let mut sink = Sink::new(usize::MAX);
        let n = send.write_to(&mut sink).unwrap();
        assert_eq!(n, 34);
        assert!(send.completed(&sink));
    }

    fn tempfile() -> File {
        let path = std::env::temp_dir().join(format!(
            "kafka-network-send-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let _ = std::fs::remove_file(&path);
        f
    }
}

//! Assembling one size-prefixed frame from any number of partial reads.
//!
//! The 4-byte big-endian size is read first and checked (negative, or above the channel's
//! maximum, `socket.request.max.bytes`) before anything is allocated; then exactly that many
//! bytes are read into a buffer taken from the [`MemoryPool`]. Nothing past the frame is read,
//! so the next frame stays in the socket (or the transport's buffer) for the next receive.

use std::io::{self, Read};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::memory_pool::{MemoryPool, PooledBuffer};

/// Outcome of one [`NetworkReceive::read_from`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadStatus {
    /// The frame is complete.
    Complete,
    /// The source has no more data now (`WouldBlock`).
    WouldBlock,
    /// The size is known but the pool has no memory: retry when memory is released.
    AwaitingMemory,
}

/// One frame being read.
#[derive(Debug)]
pub struct NetworkReceive {
    max_size: usize,
    size_buf: [u8; 4],
    size_read: usize,
    size: Option<usize>,
    buffer: Option<PooledBuffer>,
    filled: usize,
    bytes_read: u64,
}

impl NetworkReceive {
    /// A receive accepting frames of at most `max_size` bytes.
    pub fn new(max_size: usize) -> Self {
        NetworkReceive {
            max_size,
            size_buf: [0; 4],
            size_read: 0,
            size: None,
            buffer: None,
            filled: 0,
            bytes_read: 0,
        }
    }

    /// Reads from `src` until the frame is complete, `src` would block, or memory runs out.
    /// `Ok(0)` from `src` (end of stream) is [`Error::PeerClosed`].
    pub fn read_from(&mut self, src: &mut impl Read, pool: &MemoryPool) -> Result<ReadStatus> {
        while self.size.is_none() {
            match src.read(&mut self.size_buf[self.size_read..]) {
                Ok(0) => return Err(Error::PeerClosed),
                Ok(n) => {
                    self.size_read += n;
                    self.bytes_read += n as u64;
                    if self.size_read == 4 {
                        let size = i32::from_be_bytes(self.size_buf);
                        if size < 0 {
                            return Err(Error::NegativeFrameSize(size));
                        }
                        let size = size as usize;
                        if size > self.max_size {
                            return Err(Error::FrameTooLarge {
                                size,
                                max: self.max_size,
                            });
                        }
                        self.size = Some(size);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(ReadStatus::WouldBlock)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Io(e)),
            }
        }
        let size = self.size.unwrap_or(0);
        if self.buffer.is_none() {
            match pool.try_allocate(size) {
                Some(b) => self.buffer = Some(b),
                None => return Ok(ReadStatus::AwaitingMemory),
            }
        }
        let Some(buffer) = self.buffer.as_mut() else {
            return Ok(ReadStatus::AwaitingMemory);
        };
        while self.filled < size {
            match src.read(&mut buffer.as_mut_slice()[self.filled..]) {
                Ok(0) => return Err(Error::PeerClosed),
                Ok(n) => {
                    self.filled += n;
                    self.bytes_read += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(ReadStatus::WouldBlock)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Io(e)),
            }
        }
        Ok(ReadStatus::Complete)
    }

    /// Changes the largest frame accepted, for frames not yet started.
    pub fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
    }

    /// The largest frame accepted.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// Whether the whole frame has been read.
    pub fn complete(&self) -> bool {
        self.size
            .is_some_and(|s| self.buffer.is_some() && self.filled == s)
    }

    /// Whether any byte of a frame has been read (a frame is in progress).
    pub fn started(&self) -> bool {
        self.size_read > 0
    }

    /// Whether the frame's size is known and it waits for pool memory.
    pub fn awaiting_memory(&self) -> bool {
        self.size.is_some() && self.buffer.is_none()
    }

    /// The frame's payload (without the size prefix), once complete. The pool's memory is
    /// released when the last clone of the returned `Bytes` is dropped.
    pub fn payload(&mut self) -> Option<Bytes> {
        if !self.complete() {
            return None;
        }
        let buffer = self.buffer.take()?;
        self.size_buf = [0; 4];
        self.size_read = 0;
        self.size = None;
        self.filled = 0;
        Some(Bytes::from_owner(buffer))
    }

    /// Bytes read from the wire by this receive so far, prefix included.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that hands out at most `chunk` bytes per read and then `WouldBlock`s once
    /// every `chunk` bytes, as a slow socket would.
    struct Trickle<'a> {
        data: &'a [u8],
        chunk: usize,
        block_next: bool,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.block_next {
                self.block_next = false;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            if self.data.is_empty() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = self.chunk.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            self.block_next = true;
            Ok(n)
        }
    }

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut v = (payload.len() as i32).to_be_bytes().to_vec();
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn one_byte_at_a_time_and_many_frames_back_to_back() {
        let pool = MemoryPool::unbounded();
        let mut wire = frame(b"hello");
        wire.extend(frame(b""));
        wire.extend(frame(&[7u8; 300]));
        let mut src = Trickle {
            data: &wire,
            chunk: 1,
            block_next: false,
        };
        let mut rx = NetworkReceive::new(1000);
        let mut got = Vec::new();
        for _ in 0..10_000 {
            if rx.read_from(&mut src, &pool).unwrap() == ReadStatus::Complete {
                got.push(rx.payload().unwrap());
            }
            if got.len() == 3 {
                break;
            }
        }
        assert_eq!(got.len(), 3);
        assert_eq!(&got[0][..], b"hello");
        assert!(got[1].is_empty());
        assert_eq!(&got[2][..], &[7u8; 300][..]);
        assert!(src.data.is_empty());
    }

    #[test]
    fn does_not_read_past_the_frame() {
        let pool = MemoryPool::unbounded();
        let mut wire = frame(b"ab");
        wire.extend(frame(b"cd"));
        let mut src: &[u8] = &wire;
        let mut rx = NetworkReceive::new(10);
        assert_eq!(rx.read_from(&mut src, &pool).unwrap(), ReadStatus::Complete);
        assert_eq!(src.len(), 6, "the second frame is untouched");
    }

    #[test]
    fn oversize_and_negative_sizes_fail_before_allocating() {
        let pool = MemoryPool::bounded(16);
        let mut src: &[u8] = &[0, 0, 0, 17];
        let mut rx = NetworkReceive::new(16);
        assert!(matches!(
            rx.read_from(&mut src, &pool),
            Err(Error::FrameTooLarge { size: 17, max: 16 })
        ));
        let mut src: &[u8] = &[0xff, 0xff, 0xff, 0xfe];
        let mut rx = NetworkReceive::new(16);
        assert!(matches!(
            rx.read_from(&mut src, &pool),
            Err(Error::NegativeFrameSize(-2))
        ));
        assert_eq!(pool.available(), 16);
    }

    #[test]
    fn peer_reset_mid_frame_is_peer_closed() {
        let pool = MemoryPool::unbounded();
        let mut src: &[u8] = &[0, 0, 0, 5, 1, 2];
        let mut rx = NetworkReceive::new(16);
        assert!(matches!(
            rx.read_from(&mut src, &pool),
            Err(Error::PeerClosed)
        ));
    }

    #[test]
    fn waits_for_memory_then_completes() {
        let pool = MemoryPool::bounded(8);
        let hog = pool.try_allocate(8).unwrap();
        let wire = frame(b"xyz");
        let mut src: &[u8] = &wire;
        let mut rx = NetworkReceive::new(16);
        assert_eq!(
            rx.read_from(&mut src, &pool).unwrap(),
            ReadStatus::AwaitingMemory
        );
        assert!(rx.awaiting_memory());
        drop(hog);
        assert_eq!(rx.read_from(&mut src, &pool).unwrap(), ReadStatus::Complete);
        let payload = rx.payload().unwrap();
        assert_eq!(pool.available(), 5);
        drop(payload);
        assert_eq!(pool.available(), 8);
    }
}

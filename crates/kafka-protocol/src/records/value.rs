//! The value of a `records` field, and encoding a message into send parts.
//!
//! A broker answers a Fetch with record batches that already sit in its log files; copying
//! them into the response buffer would cost a read and a copy per byte. So a [`Records`]
//! value is either bytes in memory or a [`FileRegion`], and encoding a message through
//! [`PartsWriter`] yields [`SendPart`]s: the encoded bytes, with each file region (and each
//! large in-memory records field) as its own part, for the network layer to send with
//! `sendfile` or a vectored write. Encoding a file region into a plain byte buffer is an
//! [`Error::FileRegionInBuffer`]: the bytes are not there to copy.

use std::fs::File;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};
use crate::primitives::Sink;

/// In-memory records fields at least this long go out as their own send part instead of
/// being copied into the frame's buffer.
pub const MIN_SEPARATE_RECORDS: usize = 4096;

/// A region of a file, sent without copying it through user space where the transport
/// allows (`sendfile` on plaintext).
#[derive(Debug, Clone)]
pub struct FileRegion {
    /// The file (shared with the log segment that owns it).
    pub file: Arc<File>,
    /// Where the region starts.
    pub position: u64,
    /// Its length in bytes.
    pub len: usize,
}

impl PartialEq for FileRegion {
    /// The same region of the same open file: compared by handle, not by content, which
    /// would need a read.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.file, &other.file)
            && self.position == other.position
            && self.len == other.len
    }
}

/// The value of a `records` field: concatenated record batches, in memory or in a file.
///
/// Cloning is cheap (a reference count either way). Decoding always yields
/// [`Records::Memory`], a slice of the received frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Records {
    /// Bytes in memory.
    Memory(Bytes),
    /// A region of a log file.
    File(FileRegion),
}

impl Records {
    /// No records (in memory).
    pub const fn new() -> Self {
        Records::Memory(Bytes::new())
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Records::Memory(b) => b.len(),
            Records::File(f) => f.len,
        }
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, when in memory.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Records::Memory(b) => Some(b),
            Records::File(_) => None,
        }
    }

    /// The bytes, when in memory.
    pub fn into_bytes(self) -> Option<Bytes> {
        match self {
            Records::Memory(b) => Some(b),
            Records::File(_) => None,
        }
    }

    /// The file region, when in a file.
    pub fn as_file(&self) -> Option<&FileRegion> {
        match self {
            Records::Memory(_) => None,
            Records::File(f) => Some(f),
        }
    }
}

impl Default for Records {
    fn default() -> Self {
        Records::new()
    }
}

impl From<Bytes> for Records {
    fn from(b: Bytes) -> Self {
        Records::Memory(b)
    }
}

impl From<Vec<u8>> for Records {
    fn from(v: Vec<u8>) -> Self {
        Records::Memory(Bytes::from(v))
    }
}

impl From<&'static [u8]> for Records {
    fn from(s: &'static [u8]) -> Self {
        Records::Memory(Bytes::from_static(s))
    }
}

impl From<FileRegion> for Records {
    fn from(f: FileRegion) -> Self {
        Records::File(f)
    }
}

/// One part of a frame to send.
#[derive(Debug, Clone, PartialEq)]
pub enum SendPart {
    /// Bytes in memory.
    Bytes(Bytes),
    /// A file region.
    File(FileRegion),
}

impl SendPart {
    /// Length in bytes.
    pub fn len(&self) -> usize {
        match self {
            SendPart::Bytes(b) => b.len(),
            SendPart::File(f) => f.len,
        }
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether an in-memory records field is large enough to be worth its own part.
fn separate(b: &Bytes) -> bool {
    b.len() >= MIN_SEPARATE_RECORDS
}

/// A [`Sink`] collecting a message as [`SendPart`]s: consecutive writes join one buffer;
/// file regions and in-memory records of at least [`MIN_SEPARATE_RECORDS`] bytes become
/// parts of their own, uncopied.
///
/// Every buffer part is a slice of one allocation when the capacity given covers the bytes
/// copied, which [`InlineSize`] measures.
#[derive(Debug, Default)]
pub struct PartsWriter {
    parts: Vec<SendPart>,
    current: BytesMut,
}

impl PartsWriter {
    /// A writer whose buffer holds `capacity` bytes before it grows.
    pub fn with_capacity(capacity: usize) -> Self {
        PartsWriter {
            parts: Vec::new(),
            current: BytesMut::with_capacity(capacity),
        }
    }

    fn cut(&mut self, then: SendPart) {
        // `split` hands out the filled bytes and keeps the rest of the allocation for what
        // follows, so a frame with file parts still makes one buffer allocation.
        let head = self.current.split().freeze();
        if !head.is_empty() {
            self.parts.push(SendPart::Bytes(head));
        }
        self.parts.push(then);
    }

    /// The parts, in order; no part is empty.
    pub fn finish(mut self) -> Vec<SendPart> {
        if !self.current.is_empty() {
            self.parts.push(SendPart::Bytes(self.current.freeze()));
        }
        self.parts
    }
}

impl Sink for PartsWriter {
    #[inline]
    fn put_u8(&mut self, v: u8) {
        BufMut::put_u8(&mut self.current, v);
    }
    #[inline]
    fn put_slice(&mut self, src: &[u8]) {
        self.current.extend_from_slice(src);
    }
    #[inline]
    fn put_i16(&mut self, v: i16) {
        BufMut::put_i16(&mut self.current, v);
    }
    #[inline]
    fn put_i32(&mut self, v: i32) {
        BufMut::put_i32(&mut self.current, v);
    }
    #[inline]
    fn put_i64(&mut self, v: i64) {
        BufMut::put_i64(&mut self.current, v);
    }

    fn put_records(&mut self, records: &Records) -> Result<()> {
        match records {
            Records::Memory(b) if separate(b) => self.cut(SendPart::Bytes(b.clone())),
            Records::Memory(b) => self.current.extend_from_slice(b),
            Records::File(f) if f.len == 0 => {}
            Records::File(f) => self.cut(SendPart::File(f.clone())),
        }
        Ok(())
    }
}

/// A [`Sink`] that only counts the bytes a [`PartsWriter`] would copy into its buffer (all
/// but the records it keeps as parts of their own): the capacity to give it.
#[derive(Debug, Default, Clone, Copy)]
pub struct InlineSize {
    bytes: usize,
}

impl InlineSize {
    /// Nothing counted yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes counted.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Sink for InlineSize {
    #[inline]
    fn put_u8(&mut self, _: u8) {
        self.bytes += 1;
    }
    #[inline]
    fn put_slice(&mut self, src: &[u8]) {
        self.bytes += src.len();
    }

    fn put_records(&mut self, records: &Records) -> Result<()> {
        match records {
            Records::Memory(b) if !separate(b) => self.bytes += b.len(),
            _ => {}
        }
        Ok(())
    }
}

/// The default [`Sink::put_records`]: copies memory, refuses a file region.
pub(crate) fn copy_records<S: Sink + ?Sized>(sink: &mut S, records: &Records) -> Result<()> {
    match records {
        Records::Memory(b) => {
            sink.put_slice(b);
            Ok(())
        }
        Records::File(f) => Err(Error::FileRegionInBuffer { len: f.len }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(content: &[u8]) -> Arc<File> {
        let path = std::env::temp_dir().join(format!(
            "kafka-protocol-records-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        f.write_all(content).unwrap();
        Arc::new(f)
    }

    #[test]
    fn writer_cuts_at_file_regions_and_large_records() {
        let file = file_with(b"0123456789");
        let big = Bytes::from(vec![7u8; MIN_SEPARATE_RECORDS]);
        let region = |position, len| {
            Records::File(FileRegion {
                file: Arc::clone(&file),
                position,
                len,
            })
        };
        let mut w = PartsWriter::with_capacity(16);
        w.put_slice(b"hd");
        w.put_records(&region(2, 3)).unwrap();
        w.put_records(&Records::from(&b"mem"[..])).unwrap();
        w.put_records(&region(5, 3)).unwrap();
        w.put_records(&region(5, 0)).unwrap();
        w.put_records(&Records::Memory(big.clone())).unwrap();
        w.put_u8(b'!');
        let kinds: Vec<String> = w
            .finish()
            .iter()
            .map(|p| match p {
                SendPart::Bytes(b) if b.as_ptr() == big.as_ptr() => "big".to_string(),
                SendPart::Bytes(b) => format!("b:{}", String::from_utf8_lossy(b)),
                SendPart::File(f) => format!("f:{}+{}", f.position, f.len),
            })
            .collect();
        assert_eq!(kinds, ["b:hd", "f:2+3", "b:mem", "f:5+3", "big", "b:!"]);
    }

    #[test]
    fn inline_size_counts_what_the_writer_copies() {
        let file = file_with(b"0123456789");
        let all = [
            Records::from(&b"small"[..]),
            Records::from(vec![1u8; MIN_SEPARATE_RECORDS]),
            Records::File(FileRegion {
                file,
                position: 0,
                len: 10,
            }),
        ];
        let mut size = InlineSize::new();
        let mut w = PartsWriter::with_capacity(0);
        for r in &all {
            size.put_i32(1);
            size.put_records(r).unwrap();
            w.put_i32(1);
            w.put_records(r).unwrap();
        }
        let copied: usize = w
            .finish()
            .iter()
            .filter_map(|p| match p {
                SendPart::Bytes(b) if b.len() < MIN_SEPARATE_RECORDS => Some(b.len()),
                _ => None,
            })
            .sum();
        assert_eq!(size.bytes(), copied);
        assert_eq!(size.bytes(), 3 * 4 + 5);
    }

    #[test]
    fn a_file_region_in_a_byte_buffer_is_an_error() {
        let file = file_with(b"0123456789");
        let records = Records::File(FileRegion {
            file,
            position: 0,
            len: 4,
        });
        let mut buf = BytesMut::new();
        assert_eq!(
            buf.put_records(&records),
            Err(Error::FileRegionInBuffer { len: 4 })
        );
        assert!(buf.is_empty());
        buf.put_records(&Records::from(&b"ok"[..])).unwrap();
        assert_eq!(&buf[..], b"ok");
    }

    /// A Fetch response whose records are a file region encodes, at every version, to
    /// [bytes, file, bytes] parts that read back to exactly the in-memory encoding.
    #[test]
    fn fetch_response_with_a_file_region_encodes_to_parts() {
        use crate::message::{Encodable, Message};
        use crate::messages::fetch_response::{
            FetchResponse, FetchableTopicResponse, PartitionData,
        };
        use std::os::unix::fs::FileExt;

        let content: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let file = file_with(&content);
        let region = FileRegion {
            file: Arc::clone(&file),
            position: 100,
            len: 9_000,
        };
        let response = |records: Records, version: i16| {
            let topic = if version < 13 {
                FetchableTopicResponse::default().with_topic("t".into())
            } else {
                FetchableTopicResponse::default().with_topic_id(crate::Uuid::from_u64_pair(1, 7))
            };
            FetchResponse::default().with_responses(vec![topic.with_partitions(vec![
                PartitionData::default()
                    .with_partition_index(3)
                    .with_high_watermark(42)
                    .with_records(Some(records)),
                // A partition after the region, so every version has bytes after it.
                PartitionData::default()
                    .with_partition_index(4)
                    .with_records(Some(Records::from(&b"mem"[..]))),
            ])])
        };
        for version in FetchResponse::VERSIONS.min..=FetchResponse::VERSIONS.max {
            let in_file = response(Records::File(region.clone()), version);
            let in_memory = response(Records::from(content[100..9_100].to_vec()), version);
            let mut expected = BytesMut::new();
            in_memory.encode(&mut expected, version).unwrap();

            let mut size = InlineSize::new();
            in_file.encode(&mut size, version).unwrap();
            let mut w = PartsWriter::with_capacity(size.bytes());
            in_file.encode(&mut w, version).unwrap();
            let parts = w.finish();
            assert_eq!(size.bytes() + region.len, expected.len(), "v{version}");
            assert!(
                matches!(
                    parts.as_slice(),
                    [SendPart::Bytes(_), SendPart::File(f), SendPart::Bytes(_)] if *f == region
                ),
                "v{version}: {parts:?}"
            );
            let mut joined = Vec::new();
            for part in &parts {
                match part {
                    SendPart::Bytes(b) => joined.extend_from_slice(b),
                    SendPart::File(f) => {
                        let mut buf = vec![0u8; f.len];
                        f.file.read_exact_at(&mut buf, f.position).unwrap();
                        joined.extend_from_slice(&buf);
                    }
                }
            }
            assert_eq!(joined, &expected[..], "v{version}");

            // A plain buffer cannot take the region.
            let mut plain = BytesMut::new();
            assert_eq!(
                in_file.encode(&mut plain, version),
                Err(Error::FileRegionInBuffer { len: 9_000 })
            );
        }
    }

    #[test]
    fn records_compare_files_by_handle() {
        let a = file_with(b"x");
        let region = FileRegion {
            file: Arc::clone(&a),
            position: 0,
            len: 1,
        };
        assert_eq!(Records::File(region.clone()), Records::File(region.clone()));
        let other = FileRegion {
            file: file_with(b"x"),
            ..region.clone()
        };
        assert_ne!(Records::File(region), Records::File(other));
        assert_eq!(Records::default().len(), 0);
    }
}

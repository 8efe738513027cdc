//! Zero-copy responses: record data that lives in log files goes out with `sendfile` on
//! plaintext listeners instead of being read into memory and copied into the response.
//!
//! A response is encoded by the generated codec like any other; the `records` fields that
//! stand for file regions hold *placeholders*: `Bytes` of the region's length that point into
//! one large zeroed allocation that is never read (so it costs address space, not memory).
//! While encoding, [`Sink::put_records`] recognises a placeholder by its address and emits
//! the file region as its own part of the send instead of the placeholder's bytes.

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_network::{FileRegion, SendPart};
use kafka_protocol::primitives::Sink;

/// Address space for placeholders: regions up to 64 MiB, plus one byte per placeholder so
/// that each starts at its own address.
const SPACE: usize = (64 << 20) + (64 << 10);

fn zeros() -> &'static [u8] {
    static ZEROS: OnceLock<&'static [u8]> = OnceLock::new();
    // A zeroed allocation this large is mapped lazily by the OS; nothing ever reads or writes
    // it, so it never becomes resident.
    ZEROS.get_or_init(|| Box::leak(vec![0u8; SPACE].into_boxed_slice()))
}

/// The file regions of one response, by placeholder address.
#[derive(Debug, Default)]
pub struct FileRecords {
    next: usize,
    regions: HashMap<usize, FileRegion>,
}

impl FileRecords {
    /// No regions yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A placeholder standing for `region` in a `records` field, or `None` when none can be
    /// made (a region over 64 MiB, or too many in one response): read the region instead.
    pub fn placeholder(&mut self, region: FileRegion) -> Option<Bytes> {
        if region.len == 0 {
            return Some(Bytes::new());
        }
        let zeros = zeros();
        let start = self.next;
        let slice = zeros.get(start..start.checked_add(region.len)?)?;
        self.next += 1;
        let bytes = Bytes::from_static(slice);
        self.regions.insert(bytes.as_ptr() as usize, region);
        Some(bytes)
    }

    /// Whether no region was placed.
    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }
}

/// A [`Sink`] that collects a response as send parts, splicing file regions in.
#[derive(Debug)]
pub(crate) struct FrameWriter<'a> {
    parts: Vec<SendPart>,
    current: BytesMut,
    files: &'a FileRecords,
}

impl<'a> FrameWriter<'a> {
    pub(crate) fn new(files: &'a FileRecords, capacity: usize) -> Self {
        FrameWriter {
            parts: Vec::new(),
            current: BytesMut::with_capacity(capacity),
            files,
        }
    }

    pub(crate) fn finish(mut self) -> Vec<SendPart> {
        if !self.current.is_empty() {
            self.parts.push(SendPart::Bytes(self.current.freeze()));
        }
        self.parts
    }
}

impl Sink for FrameWriter<'_> {
    fn put_u8(&mut self, v: u8) {
        BufMut::put_u8(&mut self.current, v);
    }

    fn put_slice(&mut self, src: &[u8]) {
        self.current.extend_from_slice(src);
    }

    fn put_records(&mut self, records: &Bytes) {
        match self.files.regions.get(&(records.as_ptr() as usize)) {
            Some(region) if region.len == records.len() && !records.is_empty() => {
                let head = self.current.split().freeze();
                if !head.is_empty() {
                    self.parts.push(SendPart::Bytes(head));
                }
                self.parts.push(SendPart::File(region.clone()));
            }
            _ => self.current.extend_from_slice(records),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Arc;

    #[test]
    fn placeholders_become_file_parts() {
        let path = std::env::temp_dir().join(format!("splice-{}", std::process::id()));
        std::fs::File::create(&path)
            .unwrap()
            .write_all(b"0123456789")
            .unwrap();
        let file = Arc::new(std::fs::File::open(&path).unwrap());
        std::fs::remove_file(&path).unwrap();
        let mut files = FileRecords::new();
        let a = files
            .placeholder(FileRegion {
                file: Arc::clone(&file),
                position: 2,
                len: 3,
            })
            .unwrap();
        let b = files
            .placeholder(FileRegion {
                file,
                position: 5,
                len: 3,
            })
            .unwrap();
        assert_ne!(a.as_ptr(), b.as_ptr());
        let mut w = FrameWriter::new(&files, 16);
        w.put_slice(b"hd");
        w.put_records(&a);
        w.put_records(&Bytes::from_static(b"mem"));
        w.put_records(&b);
        w.put_u8(b'!');
        let parts = w.finish();
        let kinds: Vec<String> = parts
            .iter()
            .map(|p| match p {
                SendPart::Bytes(b) => format!("b:{}", String::from_utf8_lossy(b)),
                SendPart::File(f) => format!("f:{}+{}", f.position, f.len),
            })
            .collect();
        assert_eq!(kinds, vec!["b:hd", "f:2+3", "b:mem", "f:5+3", "b:!"]);
    }

    #[test]
    fn oversized_regions_get_no_placeholder() {
        let file = Arc::new(std::fs::File::open("/dev/null").unwrap());
        let mut files = FileRecords::new();
        assert!(files
            .placeholder(FileRegion {
                file,
                position: 0,
                len: SPACE + 1
            })
            .is_none());
    }
}

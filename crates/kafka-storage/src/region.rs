//! Reading a file region into memory, for the callers that need record bytes rather than a
//! region to send (the group coordinator's replay, tools, tests): see [`Log::read_records`].
//!
//! [`Log::read_records`]: crate::Log::read_records

use std::os::unix::fs::FileExt;

use bytes::Bytes;
use kafka_protocol::records::FileRegion;

use crate::error::{Error, Result};

/// The bytes of `region`, which must be at most `max` long: the allocation is exactly the
/// region's length, bounded by the caller's limit, never by a length read from the file
/// alone. A file shorter than the region is an I/O error (`UnexpectedEof`).
pub(crate) fn read_region(region: &FileRegion, max: usize) -> Result<Bytes> {
    if region.len > max {
        return Err(Error::MessageTooLarge {
            size: region.len,
            max,
        });
    }
    let mut buf = vec![0u8; region.len];
    region.file.read_exact_at(&mut buf, region.position)?;
    Ok(Bytes::from(buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Arc;

    fn region(content: &[u8], position: u64, len: usize) -> FileRegion {
        let path = std::env::temp_dir().join(format!(
            "kafka-storage-region-{}-{:?}",
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
        FileRegion {
            file: Arc::new(f),
            position,
            len,
        }
    }

    #[test]
    fn reads_exactly_the_region() {
        let r = region(b"0123456789", 2, 5);
        assert_eq!(&read_region(&r, 5).unwrap()[..], b"23456");
    }

    #[test]
    fn a_region_over_the_limit_is_refused_before_allocating() {
        let r = region(b"0123456789", 0, usize::MAX);
        assert!(matches!(
            read_region(&r, 1 << 20),
            Err(Error::MessageTooLarge { max, .. }) if max == 1 << 20
        ));
    }

    #[test]
    fn a_region_past_the_end_of_the_file_is_an_io_error() {
        let r = region(b"0123456789", 8, 5);
        match read_region(&r, 100) {
            Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof),
            other => panic!("{other:?}"),
        }
    }
}

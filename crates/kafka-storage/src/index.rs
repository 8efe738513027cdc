//! A segment's sparse offset index and time index (Kafka's `OffsetIndex` and `TimeIndex`),
//! kept in memory and written to disk in Kafka's file formats.
//!
//! - `.index`: 8-byte entries, `relativeOffset: int32` (offset - segment base offset) and
//!   `position: int32` (byte position of a batch in the `.log` file), big-endian. Here the
//!   offset is the batch's base offset (Kafka writes its last offset); lookups only need an
//!   entry's offset to lie within the batch at its position, which both satisfy, so either
//!   kind of file is read correctly.
//! - `.timeindex`: 12-byte entries, `timestamp: int64` (the largest timestamp in the segment
//!   up to this point) and `relativeOffset: int32` (the last offset of the batch where that
//!   timestamp first appeared).
//!
//! Both are strictly increasing in offset (and position / timestamp). A file that breaks
//! that, has a length that is not a whole number of entries, or points past the end of the
//! log file fails [`Indexes::decode`] and is rebuilt from the log.

use crate::error::{Error, Result};

/// Bytes per offset index entry.
pub(crate) const OFFSET_ENTRY_SIZE: usize = 8;
/// Bytes per time index entry.
pub(crate) const TIME_ENTRY_SIZE: usize = 12;

/// One segment's indexes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Indexes {
    /// `(relative offset, position)`, strictly increasing in both.
    pub(crate) offsets: Vec<(u32, u32)>,
    /// `(timestamp, relative offset)`, strictly increasing timestamps, non-decreasing offsets.
    pub(crate) times: Vec<(i64, u32)>,
}

fn be_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(..4) {
        a.copy_from_slice(s);
    }
    u32::from_be_bytes(a)
}

fn be_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(..8) {
        a.copy_from_slice(s);
    }
    i64::from_be_bytes(a)
}

impl Indexes {
    /// The position of the last entry whose offset is at most `relative` and whose position
    /// is below `max_position`, with its relative offset; `None` if there is none (start
    /// from the beginning of the segment).
    pub(crate) fn floor_offset(&self, relative: u32, max_position: u64) -> Option<(u32, u32)> {
        let idx = self.offsets.partition_point(|&(o, _)| o <= relative);
        self.offsets[..idx]
            .iter()
            .rev()
            .find(|&&(_, p)| u64::from(p) < max_position)
            .copied()
    }

    /// The last entry whose position is at most `position`.
    pub(crate) fn floor_position(&self, position: u64) -> Option<(u32, u32)> {
        let idx = self
            .offsets
            .partition_point(|&(_, p)| u64::from(p) <= position);
        idx.checked_sub(1)
            .and_then(|i| self.offsets.get(i))
            .copied()
    }

    /// The last time entry whose timestamp is at most `timestamp`.
    pub(crate) fn floor_time(&self, timestamp: i64) -> Option<(i64, u32)> {
        let idx = self.times.partition_point(|&(t, _)| t <= timestamp);
        idx.checked_sub(1).and_then(|i| self.times.get(i)).copied()
    }

    /// Appends an offset entry if it goes past the last one.
    pub(crate) fn push_offset(&mut self, relative: u32, position: u32) {
        if self
            .offsets
            .last()
            .is_none_or(|&(o, p)| relative > o && position > p)
        {
            self.offsets.push((relative, position));
        }
    }

    /// Appends a time entry if its timestamp is larger than the last one's (Kafka's
    /// `TimeIndex.maybeAppend`).
    pub(crate) fn push_time(&mut self, timestamp: i64, relative: u32) {
        if timestamp < 0 {
            return;
        }
        match self.times.last() {
            Some(&(t, o)) if timestamp <= t || relative < o => {}
            _ => self.times.push((timestamp, relative)),
        }
    }

    /// The `.index` file's bytes.
    pub(crate) fn encode_offsets(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.offsets.len() * OFFSET_ENTRY_SIZE);
        for &(o, p) in &self.offsets {
            out.extend_from_slice(&o.to_be_bytes());
            out.extend_from_slice(&p.to_be_bytes());
        }
        out
    }

    /// The `.timeindex` file's bytes.
    pub(crate) fn encode_times(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.times.len() * TIME_ENTRY_SIZE);
        for &(t, o) in &self.times {
            out.extend_from_slice(&t.to_be_bytes());
            out.extend_from_slice(&o.to_be_bytes());
        }
        out
    }

    /// Parses and sanity-checks both files against a log file of `log_size` bytes (Kafka's
    /// `sanityCheck`, plus monotonicity of every entry). Kafka preallocates index files and
    /// may leave zeroed entries at the end of one that was not closed; trailing all-zero
    /// entries after the first are dropped.
    pub(crate) fn decode(offsets: &[u8], times: &[u8], log_size: u64) -> Result<Indexes> {
        if offsets.len() % OFFSET_ENTRY_SIZE != 0 {
            return Err(Error::Corrupt(format!(
                "offset index length {} is not a multiple of {OFFSET_ENTRY_SIZE}",
                offsets.len()
            )));
        }
        if times.len() % TIME_ENTRY_SIZE != 0 {
            return Err(Error::Corrupt(format!(
                "time index length {} is not a multiple of {TIME_ENTRY_SIZE}",
                times.len()
            )));
        }
        let mut idx = Indexes::default();
        for (i, e) in offsets.chunks_exact(OFFSET_ENTRY_SIZE).enumerate() {
            let (o, p) = (be_u32(e), be_u32(e.get(4..).unwrap_or_default()));
            if i > 0 && o == 0 && p == 0 {
                break;
            }
            if o > i32::MAX as u32 || p > i32::MAX as u32 || u64::from(p) >= log_size.max(1) {
                return Err(Error::Corrupt(format!(
                    "offset index entry {i} ({o}, {p}) is out of range for a log of {log_size} bytes"
                )));
            }
            if let Some(&(lo, lp)) = idx.offsets.last() {
                if o <= lo || p <= lp {
                    return Err(Error::Corrupt(format!(
                        "offset index entry {i} ({o}, {p}) does not follow ({lo}, {lp})"
                    )));
                }
            }
            idx.offsets.push((o, p));
        }
        for (i, e) in times.chunks_exact(TIME_ENTRY_SIZE).enumerate() {
            let (t, o) = (be_i64(e), be_u32(e.get(8..).unwrap_or_default()));
            if i > 0 && t == 0 && o == 0 {
                break;
            }
            if o > i32::MAX as u32 || t < 0 {
                return Err(Error::Corrupt(format!(
                    "time index entry {i} ({t}, {o}) is out of range"
                )));
            }
            if let Some(&(lt, lo)) = idx.times.last() {
                if t < lt || o < lo {
                    return Err(Error::Corrupt(format!(
                        "time index entry {i} ({t}, {o}) does not follow ({lt}, {lo})"
                    )));
                }
            }
            idx.times.push((t, o));
        }
        Ok(idx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn round_trip_and_lookups() {
        let mut idx = Indexes::default();
        for i in 1..100u32 {
            idx.push_offset(i * 10, i * 1000);
            idx.push_time(i64::from(i) * 5, i * 10 + 9);
        }
        idx.push_offset(5, 5); // ignored: not increasing
        idx.push_time(3, 1000); // ignored: not increasing
        let back = Indexes::decode(&idx.encode_offsets(), &idx.encode_times(), 1_000_000).unwrap();
        assert_eq!(back, idx);
        assert_eq!(idx.floor_offset(5, u64::MAX), None);
        assert_eq!(idx.floor_offset(25, u64::MAX), Some((20, 2000)));
        assert_eq!(idx.floor_offset(25, 2000), Some((10, 1000)));
        assert_eq!(idx.floor_position(2500), Some((20, 2000)));
        assert_eq!(idx.floor_position(999), None);
        assert_eq!(idx.floor_time(12), Some((10, 29)));
        assert_eq!(idx.floor_time(4), None);
    }

    #[test]
    fn sanity_checks() {
        let mut idx = Indexes::default();
        idx.push_offset(1, 100);
        idx.push_offset(2, 200);
        let bytes = idx.encode_offsets();
        assert!(Indexes::decode(&bytes[..7], &[], 1000).is_err());
        assert!(Indexes::decode(&bytes, &[], 150).is_err());
        let mut swapped = bytes[8..].to_vec();
        swapped.extend_from_slice(&bytes[..8]);
        assert!(Indexes::decode(&swapped, &[], 1000).is_err());
        // Preallocated zero tail, as Kafka leaves it after a crash.
        let mut padded = bytes.clone();
        padded.extend_from_slice(&[0; 16]);
        assert_eq!(
            Indexes::decode(&padded, &[], 1000).unwrap().offsets.len(),
            2
        );
    }
}

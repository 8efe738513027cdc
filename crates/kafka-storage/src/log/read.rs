//! Reads: whole batches as a file region for Fetch, and the ListOffsets lookups.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::records::FileRegion;

use super::{read_lock, Log};
use crate::error::{Error, Result};
use crate::segment::LogSegment;

/// The result of a read (Kafka's `FetchDataInfo`).
#[derive(Debug, Clone)]
pub struct FetchDataInfo {
    /// Whole batches from one segment file, to send with sendfile; `None` when nothing is
    /// returned.
    pub records: Option<FileRegion>,
    /// The region's length (0 when `records` is `None`).
    pub bytes: usize,
    /// The base offset of the first batch returned (it may be below the fetch offset when the
    /// fetch offset is inside a batch).
    pub first_batch_offset: Option<i64>,
    /// The offset after the last batch returned: where to fetch next (the fetch offset when
    /// nothing was returned).
    pub next_offset: i64,
    /// Whether the first batch alone was larger than `max_bytes` and nothing was returned
    /// because `min_one_message` was false.
    pub first_batch_too_large: bool,
    /// The log start offset when the read was made.
    pub log_start_offset: i64,
    /// The log end offset when the read was made.
    pub log_end_offset: i64,
    /// The high watermark when the read was made.
    pub high_watermark: i64,
}

impl Log {
    /// Reads whole batches from the batch holding `fetch_offset`: at most `max_bytes` bytes
    /// (but the first batch whole when `min_one_message`), only batches whose base offset is
    /// below `max_offset` (exclusive; the high watermark or last stable offset) and the log
    /// end offset, and never past the end of the segment the first batch is in: call again
    /// from [`FetchDataInfo::next_offset`] for more.
    ///
    /// [`Error::OffsetOutOfRange`] when `fetch_offset` is below the log start offset or
    /// above the log end offset. Reading at the log end offset returns nothing.
    pub fn read(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        max_offset: Option<i64>,
        min_one_message: bool,
    ) -> Result<FetchDataInfo> {
        let leo = self.log_end_offset();
        let start = self.log_start_offset();
        let mut info = FetchDataInfo {
            records: None,
            bytes: 0,
            first_batch_offset: None,
            next_offset: fetch_offset,
            first_batch_too_large: false,
            log_start_offset: start,
            log_end_offset: leo,
            high_watermark: leo,
        };
        if fetch_offset < start || fetch_offset > leo {
            return Err(Error::OffsetOutOfRange {
                requested: fetch_offset,
                start,
                end: leo,
            });
        }
        let bound = max_offset.map_or(leo, |m| m.min(leo));
        if fetch_offset >= bound {
            return Ok(info);
        }
        let mut seg = {
            let map = read_lock(&self.segments);
            map.range(..=fetch_offset)
                .next_back()
                .or_else(|| map.iter().next())
                .map(|(_, s)| s.clone())
        };
        while let Some(s) = seg {
            let limit = s.size();
            if let Some(first) = s.translate_offset(fetch_offset, limit)? {
                if first.base_offset >= bound {
                    return Ok(info);
                }
                if first.size > max_bytes as u64 && !min_one_message {
                    info.first_batch_too_large = true;
                    return Ok(info);
                }
                let max_end = first
                    .position
                    .saturating_add(max_bytes as u64)
                    .max(first.end());
                let (end, next) = s.region_end(&first, max_end, bound, limit)?;
                let len = usize::try_from(end - first.position)
                    .map_err(|_| Error::Corrupt("region too large".into()))?;
                info.records = Some(FileRegion {
                    file: s.file.clone(),
                    position: first.position,
                    len,
                });
                info.bytes = len;
                info.first_batch_offset = Some(first.base_offset);
                info.next_offset = next;
                return Ok(info);
            }
            seg = read_lock(&self.segments)
                .range(s.base_offset.saturating_add(1)..)
                .next()
                .map(|(_, s)| s.clone());
        }
        Ok(info)
    }

    /// ListOffsets by timestamp: the first record at or after the log start offset whose
    /// timestamp is at least `timestamp`, as `(offset, timestamp, leader epoch)` (-1 if
    /// unknown); `None` if there is none. Finds the first segment whose largest timestamp
    /// reaches `timestamp`, then uses its time and offset indexes and batch headers, and
    /// decodes only the one batch that holds the answer.
    pub fn fetch_offset_by_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64, i32)>> {
        let start = self.log_start_offset();
        for seg in self.all_segments() {
            if seg.stats().max_timestamp < timestamp {
                continue;
            }
            if let Some((offset, ts, epoch)) = seg.find_offset_by_timestamp(timestamp, start)? {
                return Ok(Some((offset, ts, self.resolve_epoch(offset, epoch))));
            }
        }
        Ok(None)
    }

    /// ListOffsets -3 (`MAX_TIMESTAMP`): the first record with the largest timestamp in the
    /// log, as `(offset, timestamp, leader epoch)`; `None` if no record has a timestamp.
    pub fn max_timestamp_offset(&self) -> Result<Option<(i64, i64, i32)>> {
        let mut best: Option<Arc<LogSegment>> = None;
        for seg in self.all_segments() {
            let ts = seg.stats().max_timestamp;
            if ts >= 0 && best.as_ref().is_none_or(|b| ts > b.stats().max_timestamp) {
                best = Some(seg);
            }
        }
        let Some(seg) = best else { return Ok(None) };
        Ok(seg
            .find_max_timestamp_record()?
            .map(|(o, t, e)| (o, t, self.resolve_epoch(o, e))))
    }

    /// ListOffsets -2 (`EARLIEST`): the log start offset and its leader epoch (-1 if unknown).
    pub fn earliest_offset(&self) -> (i64, i32) {
        let o = self.log_start_offset();
        (o, self.epoch_for_offset(o).unwrap_or(-1))
    }

    /// ListOffsets -1 (`LATEST`): the high watermark and the latest leader epoch (-1 if
    /// none).
    pub fn latest_offset(&self) -> (i64, i32) {
        (self.high_watermark(), self.latest_epoch().unwrap_or(-1))
    }

    fn resolve_epoch(&self, offset: i64, batch_epoch: i32) -> i32 {
        if batch_epoch >= 0 {
            batch_epoch
        } else {
            self.epoch_for_offset(offset).unwrap_or(-1)
        }
    }

    /// Like [`Log::read`] with `min_one_message`, but the batches are read into memory: the
    /// one path for callers that need the bytes rather than a region to send. At most
    /// `max_bytes` are read and allocated (exactly the bytes returned); a first batch larger
    /// than that is [`Error::MessageTooLarge`] with its size, so a caller may ask again with
    /// a larger limit if it means to.
    pub fn read_records(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        max_offset: Option<i64>,
    ) -> Result<(FetchDataInfo, Bytes)> {
        let info = self.read(fetch_offset, max_bytes, max_offset, true)?;
        let bytes = match &info.records {
            Some(region) => crate::region::read_region(region, max_bytes)?,
            None => Bytes::new(),
        };
        Ok((info, bytes))
    }
}

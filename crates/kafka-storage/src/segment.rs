//! One log segment (Kafka's `LogSegment`): a `.log` file of record batches, appended to with
//! one write per append, plus its [`Indexes`].
//!
//! Readers see a segment through [`LogSegment::size`], the committed end: it is stored
//! (release) only after a whole append is in the file, so a reader bounded by it never sees
//! a partially written batch. Batch headers are read with positioned reads into a small
//! buffer; a segment is never read whole into memory.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{RecordBatch, RECORD_BATCH_OVERHEAD};
use tracing::{debug, warn};

use crate::error::{Error, Result};
use crate::index::Indexes;

pub(crate) const LOG_SUFFIX: &str = ".log";
pub(crate) const INDEX_SUFFIX: &str = ".index";
pub(crate) const TIME_INDEX_SUFFIX: &str = ".timeindex";
pub(crate) const DELETED_SUFFIX: &str = ".deleted";

/// Read this much at a time when validating a segment during recovery.
const RECOVERY_CHUNK: usize = 1024 * 1024;
/// Read this much at a time when scanning batch headers.
const HEADER_BUF: usize = 4096;
/// Index files larger than this are not read into memory but rebuilt from the log.
const MAX_INDEX_FILE: u64 = 256 * 1024 * 1024;

/// `%020d` + suffix, as Kafka names segment files.
pub(crate) fn file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}{suffix}")
}

/// The base offset in a segment file name, if it is one (`00000000000000001234.log`).
pub(crate) fn parse_base_offset(name: &str, suffix: &str) -> Option<i64> {
    let stem = name.strip_suffix(suffix)?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse::<i64>().ok()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read_lock<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write_lock<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn arr<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    b.get(at..at + N)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .unwrap_or([0; N])
}

/// The fixed header of a batch as read from a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    /// Byte position in the segment file.
    pub(crate) position: u64,
    pub(crate) base_offset: i64,
    /// `batchLength + 12`.
    pub(crate) size: u64,
    pub(crate) partition_leader_epoch: i32,
    pub(crate) attributes: i16,
    pub(crate) last_offset_delta: i32,
    pub(crate) max_timestamp: i64,
    pub(crate) producer_id: i64,
    pub(crate) producer_epoch: i16,
    pub(crate) base_sequence: i32,
}

impl BatchHeader {
    /// Parses the first 61 bytes of a batch: `batchLength` must cover a header and the magic
    /// must be 2. `b` must hold at least 61 bytes.
    pub(crate) fn parse(b: &[u8], position: u64) -> Result<BatchHeader> {
        if b.len() < RECORD_BATCH_OVERHEAD {
            return Err(Error::Corrupt(format!(
                "batch header at position {position} is cut short"
            )));
        }
        let batch_length = i32::from_be_bytes(arr(b, 8));
        let magic = arr::<1>(b, 16)[0] as i8;
        let size = u64::try_from(batch_length).unwrap_or(0) + 12;
        if size < RECORD_BATCH_OVERHEAD as u64 {
            return Err(Error::Corrupt(format!(
                "batch at position {position} has invalid length {batch_length}"
            )));
        }
        if magic != 2 {
            return Err(Error::Corrupt(format!(
                "batch at position {position} has magic {magic}"
            )));
        }
        Ok(BatchHeader {
            position,
            base_offset: i64::from_be_bytes(arr(b, 0)),
            size,
            partition_leader_epoch: i32::from_be_bytes(arr(b, 12)),
            attributes: i16::from_be_bytes(arr(b, 21)),
            last_offset_delta: i32::from_be_bytes(arr(b, 23)),
            max_timestamp: i64::from_be_bytes(arr(b, 35)),
            producer_id: i64::from_be_bytes(arr(b, 43)),
            producer_epoch: i16::from_be_bytes(arr(b, 51)),
            base_sequence: i32::from_be_bytes(arr(b, 53)),
        })
    }

    pub(crate) fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    pub(crate) fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }

    pub(crate) fn end(&self) -> u64 {
        self.position + self.size
    }

    pub(crate) fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }

    /// The sequence of the last record, wrapping as Kafka's `incrementSequence` does.
    pub(crate) fn last_sequence(&self) -> i32 {
        last_sequence(self.base_sequence, self.last_offset_delta)
    }
}

/// Kafka's `DefaultRecordBatch.incrementSequence(base, delta)`, -1 for no sequence.
pub(crate) fn last_sequence(base: i32, delta: i32) -> i32 {
    if base < 0 {
        return -1;
    }
    if base > i32::MAX - delta {
        delta - (i32::MAX - base) - 1
    } else {
        base + delta
    }
}

/// Reads batch headers from a file up to `limit`, through a small buffer.
pub(crate) struct HeaderReader<'a> {
    file: &'a File,
    limit: u64,
    buf: [u8; HEADER_BUF],
    start: u64,
    len: usize,
}

impl<'a> HeaderReader<'a> {
    pub(crate) fn new(file: &'a File, limit: u64) -> Self {
        HeaderReader {
            file,
            limit,
            buf: [0; HEADER_BUF],
            start: 0,
            len: 0,
        }
    }

    /// The header of the batch at `pos`, `None` at or past the limit. A batch that does not
    /// fit before the limit is an error.
    pub(crate) fn at(&mut self, pos: u64) -> Result<Option<BatchHeader>> {
        if pos >= self.limit {
            return Ok(None);
        }
        let need = RECORD_BATCH_OVERHEAD as u64;
        if self.limit - pos < need {
            return Err(Error::Corrupt(format!(
                "{} bytes at position {pos} are too few for a batch header",
                self.limit - pos
            )));
        }
        let buffered = pos >= self.start && pos + need <= self.start + self.len as u64;
        if !buffered {
            let n = usize::try_from((self.limit - pos).min(HEADER_BUF as u64)).unwrap_or(0);
            let dst = self.buf.get_mut(..n).unwrap_or_default();
            self.file.read_exact_at(dst, pos)?;
            self.start = pos;
            self.len = n;
        }
        let at = usize::try_from(pos - self.start).unwrap_or(0);
        let h = BatchHeader::parse(self.buf.get(at..self.len).unwrap_or_default(), pos)?;
        if h.end() > self.limit {
            return Err(Error::Corrupt(format!(
                "batch at position {pos} of {} bytes runs past the end {}",
                h.size, self.limit
            )));
        }
        Ok(Some(h))
    }
}

/// Running statistics of a segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SegmentStats {
    /// The largest batch `maxTimestamp`, -1 if none.
    pub(crate) max_timestamp: i64,
    /// The last offset of the first batch with that timestamp.
    pub(crate) offset_of_max_timestamp: i64,
    /// The first batch's `maxTimestamp` (Kafka's `rollingBasedTimestamp`), once known.
    pub(crate) first_batch_timestamp: Option<i64>,
    /// When the segment was created or loaded (broker time, ms), for time-based rolling of
    /// segments without timestamps.
    pub(crate) created_ms: i64,
}

impl SegmentStats {
    fn new(created_ms: i64) -> Self {
        SegmentStats {
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            first_batch_timestamp: None,
            created_ms,
        }
    }

    fn observe(&mut self, max_timestamp: i64, last_offset: i64) {
        if self.first_batch_timestamp.is_none() {
            self.first_batch_timestamp = Some(max_timestamp);
        }
        if max_timestamp > self.max_timestamp {
            self.max_timestamp = max_timestamp;
            self.offset_of_max_timestamp = last_offset;
        }
    }
}

/// A batch of an append, in the order of the append's buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppendedBatch {
    pub(crate) size: u64,
    pub(crate) base_offset: i64,
    pub(crate) last_offset: i64,
    pub(crate) last_offset_delta: i32,
    pub(crate) max_timestamp: i64,
    pub(crate) producer_id: i64,
    pub(crate) producer_epoch: i16,
    pub(crate) base_sequence: i32,
    pub(crate) last_sequence: i32,
    pub(crate) is_transactional: bool,
}

/// What recovering a segment found.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RecoveryOutcome {
    /// Bytes cut off the end of the file.
    pub(crate) truncated_bytes: u64,
    /// Valid batches kept.
    pub(crate) batches: u64,
}

/// One segment.
pub(crate) struct LogSegment {
    pub(crate) base_offset: i64,
    pub(crate) file: Arc<File>,
    log_path: PathBuf,
    index_path: PathBuf,
    time_index_path: PathBuf,
    index_interval_bytes: u64,
    /// Committed bytes: readers never look past this.
    size: AtomicU64,
    /// The offset after the last batch (the base offset while empty).
    next_offset: AtomicI64,
    stats: Mutex<SegmentStats>,
    /// `None` until first needed (sealed segments load lazily).
    index: RwLock<Option<Indexes>>,
    /// No more appends go to this segment.
    sealed: AtomicBool,
    /// The index files on disk match the index in memory.
    index_persisted: AtomicBool,
}

impl std::fmt::Debug for LogSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSegment")
            .field("base_offset", &self.base_offset)
            .field("size", &self.size())
            .field("next_offset", &self.next_offset())
            .field("path", &self.log_path)
            .finish()
    }
}

fn open_log_file(path: &Path, create: bool) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(create)
        .open(path)
}

/// Writes `bytes` to `path` through a temporary file and a rename; with `sync`, the file
/// and then its directory are fsynced, so the new content is durable when this returns.
pub(crate) fn write_file_atomic(path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        if sync {
            f.sync_all()?;
        }
    }
    std::fs::rename(&tmp, path)?;
    if sync {
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
    }
    Ok(())
}

fn read_small_file(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match File::open(path) {
        Ok(f) => {
            let len = f.metadata()?.len();
            if len > MAX_INDEX_FILE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is {len} bytes", path.display()),
                ));
            }
            let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
            f.read_exact_at(&mut buf, 0)?;
            Ok(Some(buf))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl LogSegment {
    fn new(
        dir: &Path,
        base_offset: i64,
        file: File,
        size: u64,
        index_interval_bytes: u64,
        now_ms: i64,
    ) -> LogSegment {
        LogSegment {
            base_offset,
            file: Arc::new(file),
            log_path: dir.join(file_name(base_offset, LOG_SUFFIX)),
            index_path: dir.join(file_name(base_offset, INDEX_SUFFIX)),
            time_index_path: dir.join(file_name(base_offset, TIME_INDEX_SUFFIX)),
            index_interval_bytes,
            size: AtomicU64::new(size),
            next_offset: AtomicI64::new(base_offset),
            stats: Mutex::new(SegmentStats::new(now_ms)),
            index: RwLock::new(None),
            sealed: AtomicBool::new(false),
            index_persisted: AtomicBool::new(false),
        }
    }

    /// Creates a new, empty segment (an empty leftover file of the same name is reused).
    pub(crate) fn create(
        dir: &Path,
        base_offset: i64,
        index_interval_bytes: u64,
        now_ms: i64,
    ) -> Result<LogSegment> {
        let path = dir.join(file_name(base_offset, LOG_SUFFIX));
        let file = open_log_file(&path, true)?;
        let len = file.metadata()?.len();
        if len != 0 {
            return Err(Error::Corrupt(format!(
                "cannot create segment {}: a non-empty file exists",
                path.display()
            )));
        }
        for suffix in [INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
            remove_if_exists(&dir.join(file_name(base_offset, suffix)))?;
        }
        let seg = LogSegment::new(dir, base_offset, file, 0, index_interval_bytes, now_ms);
        *write_lock(&seg.index) = Some(Indexes::default());
        Ok(seg)
    }

    /// Opens an existing segment file; its index is loaded on first use.
    pub(crate) fn open(
        dir: &Path,
        base_offset: i64,
        index_interval_bytes: u64,
        now_ms: i64,
    ) -> Result<LogSegment> {
        let path = dir.join(file_name(base_offset, LOG_SUFFIX));
        let file = open_log_file(&path, false)?;
        let len = file.metadata()?.len();
        Ok(LogSegment::new(
            dir,
            base_offset,
            file,
            len,
            index_interval_bytes,
            now_ms,
        ))
    }

    pub(crate) fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Committed bytes.
    pub(crate) fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    pub(crate) fn next_offset(&self) -> i64 {
        self.next_offset.load(Ordering::Acquire)
    }

    pub(crate) fn set_next_offset(&self, next: i64) {
        self.next_offset.store(next, Ordering::Release);
    }

    pub(crate) fn stats(&self) -> SegmentStats {
        *lock(&self.stats)
    }

    pub(crate) fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    /// The number of index entries, to roll before the index is full.
    pub(crate) fn index_entries(&self) -> (usize, usize) {
        read_lock(&self.index)
            .as_ref()
            .map_or((0, 0), |i| (i.offsets.len(), i.times.len()))
    }

    /// The largest timestamp, or the file's modification time when no batch has one (as
    /// Kafka's `largestTimestamp`).
    pub(crate) fn largest_timestamp(&self) -> i64 {
        let ts = self.stats().max_timestamp;
        if ts >= 0 {
            return ts;
        }
        self.file
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_millis()).ok())
            .unwrap_or(0)
    }

    fn relative(&self, offset: i64) -> u32 {
        u32::try_from(
            offset
                .saturating_sub(self.base_offset)
                .clamp(0, i64::from(i32::MAX)),
        )
        .unwrap_or(0)
    }

    /// Appends the batches in `buf` (already given their offsets) with one write, then
    /// indexes them and publishes the new size. Called with the log's append lock held.
    ///
    /// On a failed write the file is truncated back to the committed size; if that fails
    /// too, `Err((error, false))` says the segment is in an unknown state.
    pub(crate) fn append(
        &self,
        parts: &[&[u8]],
        batches: &[AppendedBatch],
        bytes_since_index: &mut u64,
    ) -> std::result::Result<(), (io::Error, bool)> {
        let start = self.size();
        let written: usize = parts.iter().map(|p| p.len()).sum();
        if let Err(e) = write_all_vectored(&self.file, parts) {
            let restored = self.file.set_len(start).is_ok();
            return Err((e, restored));
        }
        {
            let mut stats = lock(&self.stats);
            let mut index = write_lock(&self.index);
            let index = index.get_or_insert_with(Indexes::default);
            let mut pos = start;
            for b in batches {
                stats.observe(b.max_timestamp, b.last_offset);
                if *bytes_since_index > self.index_interval_bytes {
                    index.push_offset(
                        self.relative(b.base_offset),
                        u32::try_from(pos).unwrap_or(u32::MAX),
                    );
                    index.push_time(
                        stats.max_timestamp,
                        self.relative(stats.offset_of_max_timestamp),
                    );
                    *bytes_since_index = 0;
                }
                *bytes_since_index += b.size;
                pos += b.size;
            }
        }
        self.index_persisted.store(false, Ordering::Release);
        if let Some(last) = batches.last() {
            self.next_offset
                .store(last.last_offset.saturating_add(1), Ordering::Release);
        }
        self.size.store(start + written as u64, Ordering::Release);
        Ok(())
    }

    /// Runs `f` on the index, loading it first if needed (sanity-checked, rebuilt from the
    /// log if it fails).
    pub(crate) fn with_index<R>(&self, f: impl FnOnce(&Indexes) -> R) -> Result<R> {
        {
            let guard = read_lock(&self.index);
            if let Some(idx) = guard.as_ref() {
                return Ok(f(idx));
            }
        }
        let mut guard = write_lock(&self.index);
        if guard.is_none() {
            *guard = Some(self.load_index()?);
        }
        match guard.as_ref() {
            Some(idx) => Ok(f(idx)),
            None => Ok(f(&Indexes::default())),
        }
    }

    fn load_index(&self) -> Result<Indexes> {
        let size = self.size();
        let loaded = (|| -> Result<Option<Indexes>> {
            let (Some(o), Some(t)) = (
                read_small_file(&self.index_path)?,
                read_small_file(&self.time_index_path)?,
            ) else {
                return Ok(None);
            };
            Indexes::decode(&o, &t, size).map(Some)
        })();
        match loaded {
            Ok(Some(idx)) => {
                self.index_persisted.store(true, Ordering::Release);
                Ok(idx)
            }
            Ok(None) => {
                debug!(segment = %self.log_path.display(), "index files missing: rebuilding");
                self.rebuild_index_locked()
            }
            Err(e) => {
                warn!(segment = %self.log_path.display(), error = %e, "index failed its sanity check: rebuilding");
                self.rebuild_index_locked()
            }
        }
    }

    /// Rebuilds the index from batch headers (no CRC check) and writes it.
    fn rebuild_index_locked(&self) -> Result<Indexes> {
        let size = self.size();
        let mut idx = Indexes::default();
        let mut stats = SegmentStats::new(self.stats().created_ms);
        let mut reader = HeaderReader::new(&self.file, size);
        let mut pos = 0;
        let mut since = 0u64;
        while let Some(h) = reader.at(pos)? {
            stats.observe(h.max_timestamp, h.last_offset());
            if since > self.index_interval_bytes {
                idx.push_offset(
                    self.relative(h.base_offset),
                    u32::try_from(pos).unwrap_or(0),
                );
                idx.push_time(
                    stats.max_timestamp,
                    self.relative(stats.offset_of_max_timestamp),
                );
                since = 0;
            }
            since += h.size;
            pos = h.end();
        }
        if self.is_sealed() {
            idx.push_time(
                stats.max_timestamp,
                self.relative(stats.offset_of_max_timestamp),
            );
        }
        *lock(&self.stats) = stats;
        self.write_index_files(&idx, false)?;
        self.index_persisted.store(true, Ordering::Release);
        Ok(idx)
    }

    /// Throws the in-memory index away and rebuilds it, after a lookup found an entry that
    /// does not point at its batch.
    pub(crate) fn rebuild_index(&self) -> Result<()> {
        let mut guard = write_lock(&self.index);
        *guard = Some(self.rebuild_index_locked()?);
        Ok(())
    }

    fn write_index_files(&self, idx: &Indexes, sync: bool) -> io::Result<()> {
        write_file_atomic(&self.index_path, &idx.encode_offsets(), sync)?;
        write_file_atomic(&self.time_index_path, &idx.encode_times(), sync)
    }

    /// Writes the index files if the in-memory index changed since they were written.
    pub(crate) fn persist_index(&self, sync: bool) -> Result<()> {
        if self.index_persisted.load(Ordering::Acquire) {
            return Ok(());
        }
        let guard = read_lock(&self.index);
        if let Some(idx) = guard.as_ref() {
            self.write_index_files(idx, sync)?;
            self.index_persisted.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Marks the segment read-only after a roll: adds the final time index entry (Kafka's
    /// `onBecomeInactiveSegment`) and writes the index files.
    pub(crate) fn seal(&self) -> Result<()> {
        self.sealed.store(true, Ordering::Release);
        self.add_final_time_entry();
        self.persist_index(false)
    }

    /// Adds a time index entry for the largest timestamp, as Kafka does when a segment is
    /// closed, so the `.timeindex` file's last entry gives the segment's largest timestamp.
    pub(crate) fn add_final_time_entry(&self) {
        let stats = self.stats();
        let mut guard = write_lock(&self.index);
        if let Some(idx) = guard.as_mut() {
            let before = idx.times.len();
            idx.push_time(
                stats.max_timestamp,
                self.relative(stats.offset_of_max_timestamp),
            );
            if idx.times.len() != before {
                self.index_persisted.store(false, Ordering::Release);
            }
        }
    }

    /// Fsyncs the data, and a sealed segment's index files.
    pub(crate) fn flush(&self) -> Result<()> {
        self.file.sync_data()?;
        if self.is_sealed() {
            self.persist_index(true)?;
        }
        Ok(())
    }

    /// Loads what a segment that is not recovered needs: its index (sanity-checked) and
    /// statistics (from the time index, or a header scan when rebuilt). For the active
    /// segment, also finds the next offset by scanning headers from the last index entry.
    pub(crate) fn load_clean(&self, active: bool) -> Result<()> {
        if !active {
            // Only the last time index entry is needed now: the largest timestamp.
            self.sealed.store(true, Ordering::Release);
            let t = read_small_file_tail(&self.time_index_path)?;
            match t {
                Some((ts, rel)) if self.size() > 0 => {
                    let mut stats = lock(&self.stats);
                    stats.max_timestamp = ts;
                    stats.offset_of_max_timestamp = self.base_offset + i64::from(rel);
                }
                Some(_) => {}
                None if self.size() == 0 => {}
                // No usable time index: load (or rebuild) the index now, which also finds
                // the largest timestamp when it has to scan the log.
                None => self.with_index(|_| ())?,
            }
            return Ok(());
        }
        self.with_index(|_| ())?;
        let (start, start_offset) = self.with_index(|i| {
            i.offsets.last().map_or((0, self.base_offset), |&(o, p)| {
                (u64::from(p), self.base_offset + i64::from(o))
            })
        })?;
        let mut reader = HeaderReader::new(&self.file, self.size());
        let mut pos = start;
        let mut next = start_offset;
        let mut first = true;
        while let Some(h) = reader.at(pos)? {
            if first && h.base_offset > start_offset && start > 0 {
                return Err(Error::Corrupt(format!(
                    "index entry at position {start} does not match batch {}",
                    h.base_offset
                )));
            }
            first = false;
            let mut stats = lock(&self.stats);
            if h.max_timestamp > stats.max_timestamp {
                stats.max_timestamp = h.max_timestamp;
                stats.offset_of_max_timestamp = h.last_offset();
            }
            next = h.next_offset();
            pos = h.end();
        }
        self.set_next_offset(next);
        if let Some(h) = HeaderReader::new(&self.file, self.size()).at(0)? {
            lock(&self.stats).first_batch_timestamp = Some(h.max_timestamp);
        }
        Ok(())
    }

    /// Validates every batch (framing, magic, CRC, increasing offsets), truncates the file
    /// at the first bad one, and rebuilds the index and statistics from the good ones
    /// (Kafka's `LogSegment.recover`).
    pub(crate) fn recover(&self) -> Result<RecoveryOutcome> {
        let file_len = self.file.metadata()?.len();
        let mut idx = Indexes::default();
        let mut stats = SegmentStats::new(self.stats().created_ms);
        let mut out = RecoveryOutcome::default();
        let mut chunk = Bytes::new();
        let mut chunk_start = 0u64;
        let mut pos = 0u64;
        let mut next = self.base_offset;
        let mut since = 0u64;
        let mut bad: Option<String> = None;
        while pos < file_len {
            let remaining = file_len - pos;
            if remaining < 12 {
                bad = Some(format!("{remaining} trailing bytes are not a batch header"));
                break;
            }
            let slice = self.chunk_slice(&mut chunk, &mut chunk_start, pos, 12, file_len)?;
            let batch_length = i32::from_be_bytes(arr(&slice, 8));
            let size = u64::try_from(batch_length).unwrap_or(0) + 12;
            if size < RECORD_BATCH_OVERHEAD as u64 {
                bad = Some(format!("invalid batch length {batch_length}"));
                break;
            }
            if size > remaining {
                bad = Some(format!(
                    "batch of {size} bytes is cut short at {remaining} bytes"
                ));
                break;
            }
            let len = usize::try_from(size).unwrap_or(usize::MAX);
            let bytes = self.chunk_slice(&mut chunk, &mut chunk_start, pos, len, file_len)?;
            let batch = match RecordBatch::new(bytes).and_then(|b| b.validate().map(|()| b)) {
                Ok(b) => b,
                Err(e) => {
                    bad = Some(format!("invalid batch: {e}"));
                    break;
                }
            };
            if batch.base_offset() < next {
                bad = Some(format!(
                    "batch offset {} is below the expected {next}",
                    batch.base_offset()
                ));
                break;
            }
            if batch.last_offset() - self.base_offset > i64::from(i32::MAX) {
                bad = Some(format!(
                    "batch offset {} is too far above the segment base",
                    batch.last_offset()
                ));
                break;
            }
            stats.observe(batch.max_timestamp(), batch.last_offset());
            if since > self.index_interval_bytes {
                idx.push_offset(
                    self.relative(batch.base_offset()),
                    u32::try_from(pos).unwrap_or(u32::MAX),
                );
                idx.push_time(
                    stats.max_timestamp,
                    self.relative(stats.offset_of_max_timestamp),
                );
                since = 0;
            }
            since += size;
            next = batch.next_offset();
            pos += size;
            out.batches += 1;
        }
        if let Some(reason) = bad {
            out.truncated_bytes = file_len - pos;
            warn!(
                segment = %self.log_path.display(),
                position = pos,
                truncated_bytes = out.truncated_bytes,
                "recovery: {reason}; truncating the segment"
            );
            self.file.set_len(pos)?;
            self.file.sync_data()?;
        }
        self.size.store(pos, Ordering::Release);
        self.set_next_offset(next);
        *lock(&self.stats) = stats;
        *write_lock(&self.index) = Some(idx);
        self.index_persisted.store(false, Ordering::Release);
        Ok(out)
    }

    /// `len` bytes at `pos` out of a chunk read ahead of it.
    fn chunk_slice(
        &self,
        chunk: &mut Bytes,
        chunk_start: &mut u64,
        pos: u64,
        len: usize,
        file_len: u64,
    ) -> io::Result<Bytes> {
        let end = pos + len as u64;
        if pos < *chunk_start || end > *chunk_start + chunk.len() as u64 {
            let n = (len.max(RECOVERY_CHUNK) as u64).min(file_len - pos);
            let mut buf = BytesMut::zeroed(usize::try_from(n).unwrap_or(0));
            self.file.read_exact_at(&mut buf, pos)?;
            *chunk = buf.freeze();
            *chunk_start = pos;
        }
        let from = usize::try_from(pos - *chunk_start).unwrap_or(0);
        Ok(chunk.slice(from..from + len))
    }

    /// The first batch whose last offset is at least `target`, looking no further than
    /// `limit` bytes; `None` if there is none.
    pub(crate) fn translate_offset(&self, target: i64, limit: u64) -> Result<Option<BatchHeader>> {
        for attempt in 0..2 {
            let entry = self.with_index(|i| i.floor_offset(self.relative(target), limit))?;
            let mut reader = HeaderReader::new(&self.file, limit);
            let mut pos = entry.map_or(0, |(_, p)| u64::from(p));
            if let Some((rel, p)) = entry {
                // The entry's offset must lie in the batch at its position.
                let expected = self.base_offset + i64::from(rel);
                let ok = matches!(reader.at(u64::from(p)),
                    Ok(Some(h)) if h.base_offset <= expected && expected <= h.last_offset());
                if !ok {
                    if attempt == 0 {
                        warn!(segment = %self.log_path.display(), "offset index entry does not match the log: rebuilding");
                        self.rebuild_index()?;
                        continue;
                    }
                    pos = 0;
                }
            }
            while let Some(h) = reader.at(pos)? {
                if h.last_offset() >= target {
                    return Ok(Some(h));
                }
                pos = h.end();
            }
            return Ok(None);
        }
        Ok(None)
    }

    /// The end of a region of whole batches starting with `first`: as many following batches
    /// as fit in `max_end` (a byte position) whose base offset is below `max_offset`.
    /// Returns `(end position, next offset)`.
    pub(crate) fn region_end(
        &self,
        first: &BatchHeader,
        max_end: u64,
        max_offset: i64,
        limit: u64,
    ) -> Result<(u64, i64)> {
        let mut end = first.end();
        let mut next = first.next_offset();
        let max_end = max_end.min(limit);
        if end >= max_end || next >= max_offset {
            return Ok((end, next));
        }
        // Skip ahead with the index: an entry at or before max_end whose batch starts below
        // max_offset starts a batch after which everything before it qualifies.
        let jump = self.with_index(|i| {
            let by_pos = i.floor_position(max_end);
            let by_off = i.floor_offset(self.relative(max_offset), max_end + 1);
            match (by_pos, by_off) {
                (Some(a), Some(b)) => Some(if a.1 <= b.1 { a } else { b }),
                (a, b) => a.or(b),
            }
        })?;
        if let Some((rel, p)) = jump {
            let p = u64::from(p);
            let base = self.base_offset + i64::from(rel);
            if p > end && p <= max_end && base < max_offset {
                end = p;
                next = base;
            }
        }
        let mut reader = HeaderReader::new(&self.file, limit);
        while let Some(h) = reader.at(end)? {
            if h.base_offset >= max_offset || h.end() > max_end {
                break;
            }
            end = h.end();
            next = h.next_offset();
        }
        Ok((end, next))
    }

    /// Reads one whole batch.
    pub(crate) fn read_batch(&self, h: &BatchHeader) -> Result<RecordBatch> {
        let len = usize::try_from(h.size)
            .map_err(|_| Error::Corrupt("batch size does not fit in memory".into()))?;
        if h.end() > self.size() {
            return Err(Error::Corrupt(format!(
                "batch at {} runs past the segment end",
                h.position
            )));
        }
        let mut buf = BytesMut::zeroed(len);
        self.file.read_exact_at(&mut buf, h.position)?;
        let batch = RecordBatch::new(buf.freeze())
            .map_err(|e| Error::Corrupt(format!("batch at {}: {e}", h.position)))?;
        batch
            .validate()
            .map_err(|e| Error::Corrupt(format!("batch at {}: {e}", h.position)))?;
        Ok(batch)
    }

    /// ListOffsets by timestamp within this segment: the first record at or after
    /// `start_offset` with a timestamp of at least `timestamp`, as
    /// `(offset, timestamp, partition leader epoch)`.
    pub(crate) fn find_offset_by_timestamp(
        &self,
        timestamp: i64,
        start_offset: i64,
    ) -> Result<Option<(i64, i64, i32)>> {
        let limit = self.size();
        let from_offset = self
            .with_index(|i| i.floor_time(timestamp))?
            .map_or(self.base_offset, |(_, rel)| {
                self.base_offset + i64::from(rel)
            })
            .max(start_offset);
        let Some(first) = self.translate_offset(from_offset, limit)? else {
            return Ok(None);
        };
        let mut reader = HeaderReader::new(&self.file, limit);
        let mut pos = first.position;
        while let Some(h) = reader.at(pos)? {
            pos = h.end();
            if h.max_timestamp < timestamp || h.last_offset() < start_offset {
                continue;
            }
            let batch = self.read_batch(&h)?;
            let records = batch
                .records()
                .map_err(|e| Error::Corrupt(format!("batch at {}: {e}", h.position)))?;
            for r in records.refs() {
                let r = r.map_err(|e| Error::Corrupt(format!("batch at {}: {e}", h.position)))?;
                if r.timestamp >= timestamp && r.offset >= start_offset {
                    return Ok(Some((r.offset, r.timestamp, h.partition_leader_epoch)));
                }
            }
        }
        Ok(None)
    }

    /// The first record with the segment's largest timestamp (ListOffsets -3).
    pub(crate) fn find_max_timestamp_record(&self) -> Result<Option<(i64, i64, i32)>> {
        let stats = self.stats();
        if stats.max_timestamp < 0 {
            return Ok(None);
        }
        let Some(h) = self.translate_offset(stats.offset_of_max_timestamp, self.size())? else {
            return Ok(None);
        };
        let batch = self.read_batch(&h)?;
        let records = batch
            .records()
            .map_err(|e| Error::Corrupt(format!("batch at {}: {e}", h.position)))?;
        for r in records.refs() {
            let r = r.map_err(|e| Error::Corrupt(format!("batch at {}: {e}", h.position)))?;
            if r.timestamp == stats.max_timestamp {
                return Ok(Some((r.offset, r.timestamp, h.partition_leader_epoch)));
            }
        }
        Ok(Some((
            h.last_offset(),
            h.max_timestamp,
            h.partition_leader_epoch,
        )))
    }

    /// Calls `f` on every batch header from `from_offset` on.
    pub(crate) fn scan_headers(
        &self,
        from_offset: i64,
        mut f: impl FnMut(&BatchHeader),
    ) -> Result<()> {
        let limit = self.size();
        let Some(first) = self.translate_offset(from_offset, limit)? else {
            return Ok(());
        };
        let mut reader = HeaderReader::new(&self.file, limit);
        let mut pos = first.position;
        while let Some(h) = reader.at(pos)? {
            f(&h);
            pos = h.end();
        }
        Ok(())
    }

    /// Removes the segment's files. Open handles (file regions being sent) stay readable.
    pub(crate) fn delete_files(&self) {
        for path in [&self.log_path, &self.index_path, &self.time_index_path] {
            if let Err(e) = remove_if_exists(path) {
                warn!(file = %path.display(), error = %e, "could not delete segment file");
            }
        }
    }
}

/// The last entry of a time index file, `None` if the file is missing, empty or not a whole
/// number of entries.
fn read_small_file_tail(path: &Path) -> io::Result<Option<(i64, u32)>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    if len == 0 || len % 12 != 0 {
        return Ok(None);
    }
    let mut b = [0u8; 12];
    f.read_exact_at(&mut b, len - 12)?;
    let ts = i64::from_be_bytes(arr(&b, 0));
    let rel = u32::from_be_bytes(arr(&b, 8));
    if ts < 0 || rel > i32::MAX as u32 {
        return Ok(None);
    }
    Ok(Some((ts, rel)))
}

pub(crate) fn remove_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Writes every part with as few `writev` calls as the kernel allows, across partial writes.
fn write_all_vectored(file: &File, parts: &[&[u8]]) -> io::Result<()> {
    use std::io::{IoSlice, Write};
    const MAX_IOVECS: usize = 1024;
    for chunk in parts.chunks(MAX_IOVECS) {
        let mut slices: Vec<IoSlice<'_>> = chunk
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| IoSlice::new(p))
            .collect();
        let mut bufs = &mut slices[..];
        while !bufs.is_empty() {
            match (&*file).write_vectored(bufs) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut bufs, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use kafka_protocol::records::RecordBatchBuilder;

    #[test]
    fn header_parse_matches_the_batch() {
        let mut b = RecordBatchBuilder::new()
            .with_base_offset(42)
            .with_partition_leader_epoch(7)
            .with_producer(9, 2, i32::MAX - 1);
        for i in 0..3 {
            b.append(1000 + i, None, Some(b"v")).unwrap();
        }
        let bytes = b.build().unwrap();
        let batch = RecordBatch::new(bytes.clone()).unwrap();
        let h = BatchHeader::parse(&bytes, 100).unwrap();
        assert_eq!(h.position, 100);
        assert_eq!(h.base_offset, 42);
        assert_eq!(h.size, bytes.len() as u64);
        assert_eq!(h.last_offset(), batch.last_offset());
        assert_eq!(h.max_timestamp, 1002);
        assert_eq!(h.partition_leader_epoch, 7);
        assert_eq!((h.producer_id, h.producer_epoch), (9, 2));
        assert_eq!(h.last_sequence(), batch.last_sequence());
        assert_eq!(h.last_sequence(), 0);
        assert!(!h.is_control());
        assert!(BatchHeader::parse(&bytes[..60], 0).is_err());
        let mut bad = bytes.to_vec();
        bad[16] = 1;
        assert!(BatchHeader::parse(&bad, 0).is_err());
        let mut bad = bytes.to_vec();
        bad[8..12].copy_from_slice(&10i32.to_be_bytes());
        assert!(BatchHeader::parse(&bad, 0).is_err());
    }

    #[test]
    fn segment_file_names() {
        assert_eq!(file_name(1234, LOG_SUFFIX), "00000000000000001234.log");
        assert_eq!(
            parse_base_offset("00000000000000001234.log", LOG_SUFFIX),
            Some(1234)
        );
        assert_eq!(parse_base_offset("1234.log", LOG_SUFFIX), None);
        assert_eq!(
            parse_base_offset("00000000000000001234.index", LOG_SUFFIX),
            None
        );
    }
}

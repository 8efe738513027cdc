//! RecordIter inside a batch: Kafka's `DefaultRecord`.
//!
//! ```text
//! length: varint
//! attributes: int8 (unused, 0)
//! timestampDelta: varlong
//! offsetDelta: varint
//! keyLength: varint (-1 = null), key
//! valueLength: varint (-1 = null), value
//! headers count: varint
//!   headerKeyLength: varint (non-null), headerKey (UTF-8 as written by Java)
//!   headerValueLength: varint (-1 = null), headerValue
//! ```
//!
//! Decoding is zero-copy: keys, values and headers are slices of the batch's (decompressed)
//! [`Bytes`]. Every length is checked against the bytes that remain before it is used, and
//! nothing is allocated from a length or count read off the wire.

use bytes::Bytes;

use crate::error::{Error, Result};

/// A reader over a byte slice for the varint-heavy record layout. Every read checks bounds.
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    pub(crate) fn new(buf: &'a [u8], pos: usize) -> Self {
        Cursor { buf, pos }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    #[inline]
    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    #[cold]
    fn eof(&self, needed: usize) -> Error {
        Error::UnexpectedEof {
            needed,
            remaining: self.remaining(),
        }
    }

    #[inline]
    fn u8(&mut self) -> Result<u8> {
        let b = *self.buf.get(self.pos).ok_or_else(|| self.eof(1))?;
        self.pos += 1;
        Ok(b)
    }

    #[inline]
    fn uvarint(&mut self) -> Result<u32> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let b = self.u8()?;
            if i == 4 && b > 0x0f {
                return Err(Error::VarintTooLong { max_bytes: 5 });
            }
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Error::VarintTooLong { max_bytes: 5 })
    }

    #[inline]
    pub(crate) fn varint(&mut self) -> Result<i32> {
        let v = self.uvarint()?;
        Ok(((v >> 1) as i32) ^ -((v & 1) as i32))
    }

    #[inline]
    fn varlong(&mut self) -> Result<i64> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let b = self.u8()?;
            if i == 9 && b > 0x01 {
                return Err(Error::VarintTooLong { max_bytes: 10 });
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
            }
        }
        Err(Error::VarintTooLong { max_bytes: 10 })
    }

    /// Reads a varint length and skips that many bytes, returning their range; `None` for -1
    /// when `nullable`. Any other negative length is an error.
    #[inline]
    fn span(&mut self, what: &'static str, nullable: bool) -> Result<Option<(usize, usize)>> {
        let len = self.varint()?;
        if len == -1 && nullable {
            return Ok(None);
        }
        let Ok(len) = usize::try_from(len) else {
            return Err(Error::InvalidLength {
                what,
                length: i64::from(len),
            });
        };
        if len > self.remaining() {
            return Err(Error::LengthExceedsInput {
                what,
                length: len,
                remaining: self.remaining(),
            });
        }
        let start = self.pos;
        self.pos += len;
        Ok(Some((start, self.pos)))
    }
}

/// One record header: a non-null key (UTF-8 as Java writes it) and a nullable value, both
/// slices of the batch's buffer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    /// The header key. Kafka's Java client writes UTF-8; other clients may not, so the bytes
    /// are kept as sent. See [`Header::key_str`].
    pub key: Bytes,
    /// The header value; `None` for null.
    pub value: Option<Bytes>,
}

impl Header {
    /// A header from its key and value.
    pub fn new(key: impl Into<Bytes>, value: Option<Bytes>) -> Self {
        Header {
            key: key.into(),
            value,
        }
    }

    /// The key as a string, or [`Error::InvalidUtf8`].
    pub fn key_str(&self) -> Result<&str> {
        std::str::from_utf8(&self.key).map_err(|_| Error::InvalidUtf8)
    }
}

/// The headers of one record, kept as the validated bytes they were sent in and decoded on
/// iteration, so reading a record allocates nothing for its headers.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Headers {
    /// The encoded headers (without the count), validated when the record was read.
    raw: Bytes,
    count: usize,
}

impl Headers {
    /// The number of headers.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Iterates over the headers in order.
    pub fn iter(&self) -> HeadersIter<'_> {
        HeadersIter {
            raw: &self.raw,
            pos: 0,
            left: self.count,
        }
    }

    /// The first header with this key, if any.
    pub fn get(&self, key: &[u8]) -> Option<Header> {
        self.iter().find(|h| h.key == key)
    }

    /// The headers as they are encoded in the record, without the count prefix.
    pub fn as_encoded(&self) -> &Bytes {
        &self.raw
    }
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = Header;
    type IntoIter = HeadersIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// An iterator over a record's [`Headers`].
#[derive(Debug, Clone)]
pub struct HeadersIter<'a> {
    raw: &'a Bytes,
    pos: usize,
    left: usize,
}

impl Iterator for HeadersIter<'_> {
    type Item = Header;

    fn next(&mut self) -> Option<Header> {
        if self.left == 0 {
            return None;
        }
        // The bytes were validated when the record was read; a failure here cannot happen,
        // and ends the iteration rather than panicking.
        let mut cur = Cursor::new(self.raw, self.pos);
        let (ks, ke) = cur.span("header key", false).ok()??;
        let value = cur.span("header value", true).ok()?;
        self.pos = cur.pos();
        self.left -= 1;
        Some(Header {
            key: self.raw.slice(ks..ke),
            value: value.map(|(s, e)| self.raw.slice(s..e)),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}

/// One record of a batch, with its absolute offset and timestamp worked out from the batch
/// header as Kafka's `DefaultRecord` does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Record {
    /// The record's offset: the batch's base offset plus its offset delta.
    pub offset: i64,
    /// The record's timestamp: the batch's base timestamp plus its delta, or the batch's max
    /// timestamp for every record when the batch uses log-append time.
    pub timestamp: i64,
    /// The producer sequence number: the batch's base sequence plus the offset delta
    /// (wrapping at `i32::MAX` as Kafka does), or -1 when the batch has no sequence.
    pub sequence: i32,
    /// The record attributes byte (unused by Kafka, 0).
    pub attributes: i8,
    /// The offset delta as stored.
    pub offset_delta: i32,
    /// The timestamp delta as stored.
    pub timestamp_delta: i64,
    /// The key, `None` for null.
    pub key: Option<Bytes>,
    /// The value, `None` for null (a tombstone on a compacted topic).
    pub value: Option<Bytes>,
    /// The headers.
    pub headers: Headers,
    /// The record's encoded size, its length prefix included.
    pub size_in_bytes: usize,
}

/// Kafka's `DefaultRecordBatch.incrementSequence`: sequence numbers wrap to 0 after
/// `i32::MAX`.
pub(crate) fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX.wrapping_sub(increment) {
        increment
            .wrapping_sub(i32::MAX.wrapping_sub(sequence))
            .wrapping_sub(1)
    } else {
        sequence.wrapping_add(increment)
    }
}

/// What a record needs from its batch header to work out its absolute fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchContext {
    pub(crate) base_offset: i64,
    pub(crate) base_timestamp: i64,
    /// `Some(max_timestamp)` when the batch uses log-append time.
    pub(crate) log_append_time: Option<i64>,
    pub(crate) base_sequence: i32,
}

/// A record's fields as positions in its buffer, checked but not yet sliced.
#[derive(Debug, Clone, Copy)]
struct RawRecord {
    start: usize,
    end: usize,
    attributes: i8,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<(usize, usize)>,
    value: Option<(usize, usize)>,
    headers: (usize, usize),
    header_count: usize,
}

impl RawRecord {
    #[inline]
    fn offset(&self, ctx: &BatchContext) -> i64 {
        ctx.base_offset.wrapping_add(i64::from(self.offset_delta))
    }

    #[inline]
    fn timestamp(&self, ctx: &BatchContext) -> i64 {
        ctx.log_append_time
            .unwrap_or_else(|| ctx.base_timestamp.wrapping_add(self.timestamp_delta))
    }

    #[inline]
    fn sequence(&self, ctx: &BatchContext) -> i32 {
        if ctx.base_sequence >= 0 {
            increment_sequence(ctx.base_sequence, self.offset_delta)
        } else {
            crate::records::NO_SEQUENCE
        }
    }
}

/// Reads one record starting at `pos` in `data`, checking every length.
#[inline]
fn read_record(data: &[u8], pos: usize) -> Result<RawRecord> {
    let mut cur = Cursor::new(data, pos);
    let (body_start, body_end) = cur
        .span("record", false)?
        // invariant: span with nullable = false never returns None.
        .ok_or(Error::CorruptBatch("null record"))?;
    let body = data.get(..body_end).unwrap_or_default();
    let mut cur = Cursor::new(body, body_start);
    let attributes = cur.u8()? as i8;
    let timestamp_delta = cur.varlong()?;
    let offset_delta = cur.varint()?;
    let key = cur.span("record key", true)?;
    let value = cur.span("record value", true)?;
    let header_count = cur.varint()?;
    let Ok(header_count) = usize::try_from(header_count) else {
        return Err(Error::InvalidLength {
            what: "record headers",
            length: i64::from(header_count),
        });
    };
    let headers_start = cur.pos();
    for _ in 0..header_count {
        cur.span("header key", false)?;
        cur.span("header value", true)?;
    }
    let headers_end = cur.pos();
    if headers_end != body_end {
        return Err(Error::CorruptBatch(
            "record length does not match the record's fields",
        ));
    }
    Ok(RawRecord {
        start: pos,
        end: body_end,
        attributes,
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers: (headers_start, headers_end),
        header_count,
    })
}

/// The position and count bookkeeping shared by [`RecordIter`] and [`RecordRefs`].
#[derive(Debug, Clone, Copy)]
struct Walk {
    pos: usize,
    left: u32,
    done: bool,
}

impl Walk {
    #[inline]
    fn step(&mut self, data: &[u8]) -> Option<Result<RawRecord>> {
        if self.done {
            return None;
        }
        if self.left == 0 {
            self.done = true;
            if self.pos < data.len() {
                return Some(Err(Error::CorruptBatch(
                    "bytes remain after the last record the batch header counts",
                )));
            }
            return None;
        }
        if self.pos >= data.len() {
            self.done = true;
            return Some(Err(Error::CorruptBatch(
                "fewer records than the batch header counts",
            )));
        }
        match read_record(data, self.pos) {
            Ok(raw) => {
                self.pos = raw.end;
                self.left -= 1;
                Some(Ok(raw))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            (0, Some(0))
        } else {
            (0, Some(self.left as usize + 1))
        }
    }
}

/// An iterator over the records of one batch, from [`RecordBatch::records`].
///
/// Yields exactly as many records as the batch header's record count, each checked as it is
/// read. If the records run out early, or bytes remain after the last one, it yields an error
/// (Kafka's "incorrect declared batch size"). After the first error it yields nothing more.
///
/// Each [`Record`] holds reference-counted slices of the batch's buffer. To scan records
/// without keeping them (validation, counting, filtering), [`RecordIter::refs`] borrows instead,
/// which saves the reference counting.
///
/// [`RecordBatch::records`]: crate::records::RecordBatch::records
#[derive(Debug, Clone)]
pub struct RecordIter {
    data: Bytes,
    walk: Walk,
    ctx: BatchContext,
}

impl RecordIter {
    pub(crate) fn new(data: Bytes, count: u32, ctx: BatchContext) -> Self {
        RecordIter {
            data,
            walk: Walk {
                pos: 0,
                left: count,
                done: false,
            },
            ctx,
        }
    }

    /// How many records the header says are still to come.
    pub fn remaining_count(&self) -> usize {
        self.walk.left as usize
    }

    /// The (decompressed) records section these records are read from.
    pub fn as_bytes(&self) -> &Bytes {
        &self.data
    }

    /// Iterates over the records still to come as [`RecordRef`]s borrowed from this buffer,
    /// with the same checks. `self` does not advance.
    pub fn refs(&self) -> RecordRefs<'_> {
        RecordRefs {
            data: &self.data,
            walk: self.walk,
            ctx: self.ctx,
        }
    }
}

impl Iterator for RecordIter {
    type Item = Result<Record>;

    #[inline]
    fn next(&mut self) -> Option<Result<Record>> {
        let raw = match self.walk.step(&self.data)? {
            Ok(raw) => raw,
            Err(e) => return Some(Err(e)),
        };
        let data = &self.data;
        let headers = if raw.header_count == 0 {
            Headers::default()
        } else {
            Headers {
                raw: data.slice(raw.headers.0..raw.headers.1),
                count: raw.header_count,
            }
        };
        Some(Ok(Record {
            offset: raw.offset(&self.ctx),
            timestamp: raw.timestamp(&self.ctx),
            sequence: raw.sequence(&self.ctx),
            attributes: raw.attributes,
            offset_delta: raw.offset_delta,
            timestamp_delta: raw.timestamp_delta,
            key: raw.key.map(|(s, e)| data.slice(s..e)),
            value: raw.value.map(|(s, e)| data.slice(s..e)),
            headers,
            size_in_bytes: raw.end - raw.start,
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.walk.size_hint()
    }
}

/// A record borrowed from its batch's buffer: the fields of [`Record`] without reference
/// counting, from [`RecordIter::refs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordRef<'a> {
    /// The record's offset.
    pub offset: i64,
    /// The record's timestamp (see [`Record::timestamp`]).
    pub timestamp: i64,
    /// The producer sequence number, or -1.
    pub sequence: i32,
    /// The record attributes byte.
    pub attributes: i8,
    /// The offset delta as stored.
    pub offset_delta: i32,
    /// The timestamp delta as stored.
    pub timestamp_delta: i64,
    /// The key, `None` for null.
    pub key: Option<&'a [u8]>,
    /// The value, `None` for null.
    pub value: Option<&'a [u8]>,
    /// The number of headers.
    pub header_count: usize,
    /// The encoded headers (validated), without the count; see [`RecordRef::headers`].
    pub headers_encoded: &'a [u8],
    /// The record's encoded size, its length prefix included.
    pub size_in_bytes: usize,
}

impl<'a> RecordRef<'a> {
    /// Iterates over the headers as `(key, value)` pairs.
    pub fn headers(&self) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + 'a {
        let raw = self.headers_encoded;
        let mut pos = 0;
        let mut left = self.header_count;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            // Validated when the record was read: a failure cannot happen and ends iteration.
            let mut cur = Cursor::new(raw, pos);
            let (ks, ke) = cur.span("header key", false).ok()??;
            let value = cur.span("header value", true).ok()?;
            pos = cur.pos();
            left -= 1;
            Some((raw.get(ks..ke)?, value.and_then(|(s, e)| raw.get(s..e))))
        })
    }
}

/// An iterator over a batch's records borrowed from its buffer, from [`RecordIter::refs`].
#[derive(Debug, Clone)]
pub struct RecordRefs<'a> {
    data: &'a [u8],
    walk: Walk,
    ctx: BatchContext,
}

impl<'a> Iterator for RecordRefs<'a> {
    type Item = Result<RecordRef<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Result<RecordRef<'a>>> {
        let raw = match self.walk.step(self.data)? {
            Ok(raw) => raw,
            Err(e) => return Some(Err(e)),
        };
        let data = self.data;
        Some(Ok(RecordRef {
            offset: raw.offset(&self.ctx),
            timestamp: raw.timestamp(&self.ctx),
            sequence: raw.sequence(&self.ctx),
            attributes: raw.attributes,
            offset_delta: raw.offset_delta,
            timestamp_delta: raw.timestamp_delta,
            key: raw.key.and_then(|(s, e)| data.get(s..e)),
            value: raw.value.and_then(|(s, e)| data.get(s..e)),
            header_count: raw.header_count,
            headers_encoded: data.get(raw.headers.0..raw.headers.1).unwrap_or_default(),
            size_in_bytes: raw.end - raw.start,
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.walk.size_hint()
    }
}

impl std::iter::FusedIterator for RecordRefs<'_> {}

impl std::iter::FusedIterator for RecordIter {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_wraps_like_kafka() {
        assert_eq!(increment_sequence(5, 3), 8);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(increment_sequence(0, i32::MAX), i32::MAX);
    }

    #[test]
    fn cursor_rejects_bad_lengths() {
        // -2 as a zigzag varint is 3.
        let mut c = Cursor::new(&[3, 0, 0], 0);
        assert_eq!(
            c.span("key", true),
            Err(Error::InvalidLength {
                what: "key",
                length: -2
            })
        );
        // -1 is null only where nullable.
        let mut c = Cursor::new(&[1], 0);
        assert_eq!(c.span("key", true), Ok(None));
        let mut c = Cursor::new(&[1], 0);
        assert!(matches!(
            c.span("key", false),
            Err(Error::InvalidLength { length: -1, .. })
        ));
        // A length past the end.
        let mut c = Cursor::new(&[0x7e, 1, 2], 0);
        assert!(matches!(
            c.span("key", true),
            Err(Error::LengthExceedsInput {
                length: 63,
                remaining: 2,
                ..
            })
        ));
        let mut c = Cursor::new(&[0xff; 12], 0);
        assert_eq!(c.varlong(), Err(Error::VarintTooLong { max_bytes: 10 }));
    }

    #[test]
    fn headers_decode_lazily() {
        // Two headers: "a" => "xy", "b" => null.
        let raw = Bytes::from_static(&[2, b'a', 4, b'x', b'y', 2, b'b', 1]);
        let headers = Headers { raw, count: 2 };
        let all: Vec<_> = headers.iter().collect();
        assert_eq!(
            all,
            vec![
                Header::new(&b"a"[..], Some(Bytes::from_static(b"xy"))),
                Header::new(&b"b"[..], None)
            ]
        );
        assert_eq!(all[0].key_str(), Ok("a"));
        assert_eq!(headers.get(b"b").map(|h| h.value), Some(None));
        assert_eq!(format!("{headers:?}").matches("Header").count(), 2);
    }
}

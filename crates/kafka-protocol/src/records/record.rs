//! Records inside a batch: Kafka's `DefaultRecord`.
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
    pub(crate) fn new(buf: &'a [u8], pos: usize) -> Self {
        Cursor { buf, pos }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn eof(&self, needed: usize) -> Error {
        Error::UnexpectedEof {
            needed,
            remaining: self.remaining(),
        }
    }

    fn u8(&mut self) -> Result<u8> {
        let b = *self.buf.get(self.pos).ok_or_else(|| self.eof(1))?;
        self.pos += 1;
        Ok(b)
    }

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

    pub(crate) fn varint(&mut self) -> Result<i32> {
        let v = self.uvarint()?;
        Ok(((v >> 1) as i32) ^ -((v & 1) as i32))
    }

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

/// Reads one record starting at `pos` in `data`, returning it and the position after it.
fn read_record(data: &Bytes, pos: usize, ctx: &BatchContext) -> Result<(Record, usize)> {
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
    let headers = if header_count == 0 {
        Headers::default()
    } else {
        Headers {
            raw: data.slice(headers_start..headers_end),
            count: header_count,
        }
    };
    let record = Record {
        offset: ctx.base_offset.wrapping_add(i64::from(offset_delta)),
        timestamp: ctx
            .log_append_time
            .unwrap_or_else(|| ctx.base_timestamp.wrapping_add(timestamp_delta)),
        sequence: if ctx.base_sequence >= 0 {
            increment_sequence(ctx.base_sequence, offset_delta)
        } else {
            crate::records::NO_SEQUENCE
        },
        attributes,
        offset_delta,
        timestamp_delta,
        key: key.map(|(s, e)| data.slice(s..e)),
        value: value.map(|(s, e)| data.slice(s..e)),
        headers,
        size_in_bytes: body_end - pos,
    };
    Ok((record, body_end))
}

/// An iterator over the records of one batch, from [`RecordBatch::records`].
///
/// Yields exactly as many records as the batch header's record count, each checked as it is
/// read. If the records run out early, or bytes remain after the last one, it yields an error
/// (Kafka's "incorrect declared batch size"). After the first error it yields nothing more.
///
/// [`RecordBatch::records`]: crate::records::RecordBatch::records
#[derive(Debug, Clone)]
pub struct Records {
    data: Bytes,
    pos: usize,
    left: u32,
    ctx: BatchContext,
    done: bool,
}

impl Records {
    pub(crate) fn new(data: Bytes, count: u32, ctx: BatchContext) -> Self {
        Records {
            data,
            pos: 0,
            left: count,
            ctx,
            done: false,
        }
    }

    /// How many records the header says are still to come.
    pub fn remaining_count(&self) -> usize {
        self.left as usize
    }

    /// The (decompressed) records section these records are read from.
    pub fn as_bytes(&self) -> &Bytes {
        &self.data
    }
}

impl Iterator for Records {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        if self.done {
            return None;
        }
        if self.left == 0 {
            self.done = true;
            if self.pos < self.data.len() {
                return Some(Err(Error::CorruptBatch(
                    "bytes remain after the last record the batch header counts",
                )));
            }
            return None;
        }
        if self.pos >= self.data.len() {
            self.done = true;
            return Some(Err(Error::CorruptBatch(
                "fewer records than the batch header counts",
            )));
        }
        match read_record(&self.data, self.pos, &self.ctx) {
            Ok((record, next)) => {
                self.pos = next;
                self.left -= 1;
                Some(Ok(record))
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

impl std::iter::FusedIterator for Records {}

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
        assert!(matches!(c.span("key", false), Err(Error::InvalidLength { length: -1, .. })));
        // A length past the end.
        let mut c = Cursor::new(&[0x7e, 1, 2], 0);
        assert!(matches!(
            c.span("key", true),
            Err(Error::LengthExceedsInput { length: 63, remaining: 2, .. })
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

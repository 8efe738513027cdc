//! Kafka's primitive types on the wire.
//!
//! Reads take a `&mut Bytes` and advance it; every read checks the remaining length first and
//! returns [`Error::UnexpectedEof`] instead of panicking. Byte and record fields are split off
//! the input (`Bytes::split_to`), so they share its allocation instead of copying. Every length
//! prefix is checked against the bytes that remain before anything is allocated.
//!
//! Writes take any [`Sink`] (every `BufMut` is one); the matching `*_size` functions give the
//! encoded size so a frame's
//! length prefix can be written before its body.
//!
//! "Compact" forms (KIP-482 flexible versions) use an unsigned varint of `length + 1`, with 0
//! meaning null; the classic forms use `i16` (strings) or `i32` (bytes, arrays) with -1 for null.

use bytes::{Buf, BufMut, Bytes};

use crate::error::{Error, Result};
use crate::records::Records;

/// Tagged fields this crate does not know, kept so they survive a decode/encode round trip
/// (KIP-482): `(tag, raw value)` pairs in tag order, the values sharing the input's memory.
///
/// A sorted `Vec` sized exactly from the section's count, not a map: a hostile peer can send a
/// tag in every struct of a large array, and each then costs a few dozen bytes, not a tree node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnknownTaggedFields {
    fields: Vec<(u32, Bytes)>,
}

impl UnknownTaggedFields {
    /// No fields.
    pub const fn new() -> Self {
        UnknownTaggedFields { fields: Vec::new() }
    }

    /// Sets the value of `tag`, replacing an earlier one.
    pub fn insert(&mut self, tag: u32, value: Bytes) {
        match self.fields.binary_search_by_key(&tag, |(t, _)| *t) {
            Ok(i) => self.fields[i].1 = value,
            Err(i) => self.fields.insert(i, (tag, value)),
        }
    }

    /// The value of `tag`.
    pub fn get(&self, tag: u32) -> Option<&Bytes> {
        self.fields
            .binary_search_by_key(&tag, |(t, _)| *t)
            .ok()
            .map(|i| &self.fields[i].1)
    }

    /// Removes `tag`, returning its value.
    pub fn remove(&mut self, tag: u32) -> Option<Bytes> {
        match self.fields.binary_search_by_key(&tag, |(t, _)| *t) {
            Ok(i) => Some(self.fields.remove(i).1),
            Err(_) => None,
        }
    }

    /// The fields in tag order.
    pub fn iter(&self) -> UnknownTaggedIterInner<'_> {
        UnknownTaggedIterInner(self.fields.iter())
    }

    /// How many fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// Iterator over unknown tagged fields in tag order, as `(&tag, &value)`.
#[derive(Debug, Clone)]
pub struct UnknownTaggedIterInner<'a>(std::slice::Iter<'a, (u32, Bytes)>);

impl<'a> Iterator for UnknownTaggedIterInner<'a> {
    type Item = (&'a u32, &'a Bytes);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(t, b)| (t, b))
    }
}

/// Arrays are preallocated to at most this many bytes, whatever their length prefix claims;
/// beyond it a `Vec` grows with the elements actually decoded, each of which consumed input.
pub const MAX_PREALLOCATED_BYTES: usize = 4096;

/// How many elements of `T` to reserve for an array claiming `n`.
#[inline]
pub fn preallocation<T>(n: usize) -> usize {
    n.min((MAX_PREALLOCATED_BYTES / std::mem::size_of::<T>().max(1)).max(1))
}

/// A 128-bit UUID as Kafka writes it: 16 bytes, most significant first.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The all-zero UUID, Kafka's "no id".
    pub const ZERO: Uuid = Uuid([0; 16]);

    /// Builds a UUID from its two 64-bit halves, as Java's `Uuid(msb, lsb)`.
    pub fn from_u64_pair(msb: u64, lsb: u64) -> Self {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&msb.to_be_bytes());
        b[8..].copy_from_slice(&lsb.to_be_bytes());
        Uuid(b)
    }

    /// The 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl std::fmt::Debug for Uuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::fmt::Display for Uuid {
    /// Kafka prints UUIDs as URL-safe base64 without padding (e.g. topic and cluster ids).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::with_capacity(22);
        for chunk in self.0.chunks(3) {
            let b = [
                chunk.first().copied().unwrap_or(0),
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            let chars = chunk.len() + 1;
            for i in 0..chars {
                let idx = ((n >> (18 - 6 * i)) & 0x3f) as usize;
                out.push(char::from(ALPHABET[idx]));
            }
        }
        f.write_str(&out)
    }
}

#[inline]
fn need(buf: &Bytes, n: usize) -> Result<()> {
    if buf.remaining() < n {
        Err(Error::UnexpectedEof {
            needed: n,
            remaining: buf.remaining(),
        })
    } else {
        Ok(())
    }
}

/// Reads an `int8`.
#[inline]
pub fn get_i8(buf: &mut Bytes) -> Result<i8> {
    need(buf, 1)?;
    Ok(buf.get_i8())
}

/// Reads an `int16`.
#[inline]
pub fn get_i16(buf: &mut Bytes) -> Result<i16> {
    need(buf, 2)?;
    Ok(buf.get_i16())
}

/// Reads a `uint16`.
#[inline]
pub fn get_u16(buf: &mut Bytes) -> Result<u16> {
    need(buf, 2)?;
    Ok(buf.get_u16())
}

/// Reads an `int32`.
#[inline]
pub fn get_i32(buf: &mut Bytes) -> Result<i32> {
    need(buf, 4)?;
    Ok(buf.get_i32())
}

/// Reads a `uint32`.
#[inline]
pub fn get_u32(buf: &mut Bytes) -> Result<u32> {
    need(buf, 4)?;
    Ok(buf.get_u32())
}

/// Reads an `int64`.
#[inline]
pub fn get_i64(buf: &mut Bytes) -> Result<i64> {
    need(buf, 8)?;
    Ok(buf.get_i64())
}

/// Reads a `float64`.
#[inline]
pub fn get_f64(buf: &mut Bytes) -> Result<f64> {
    need(buf, 8)?;
    Ok(buf.get_f64())
}

/// Reads a `bool`; any byte other than 0 or 1 is an error, as in Kafka.
#[inline]
pub fn get_bool(buf: &mut Bytes) -> Result<bool> {
    need(buf, 1)?;
    match buf.get_u8() {
        0 => Ok(false),
        1 => Ok(true),
        b => Err(Error::InvalidBool(b)),
    }
}

/// Reads a `uuid`.
#[inline]
pub fn get_uuid(buf: &mut Bytes) -> Result<Uuid> {
    need(buf, 16)?;
    let mut b = [0u8; 16];
    buf.copy_to_slice(&mut b);
    Ok(Uuid(b))
}

/// Reads an unsigned varint (at most 5 bytes, 32 bits).
#[inline]
pub fn get_uvarint(buf: &mut Bytes) -> Result<u32> {
    let mut value: u32 = 0;
    for i in 0..5 {
        need(buf, 1)?;
        let b = buf.get_u8();
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

/// Reads an unsigned varlong (at most 10 bytes, 64 bits).
#[inline]
pub fn get_uvarlong(buf: &mut Bytes) -> Result<u64> {
    let mut value: u64 = 0;
    for i in 0..10 {
        need(buf, 1)?;
        let b = buf.get_u8();
        if i == 9 && b > 0x01 {
            return Err(Error::VarintTooLong { max_bytes: 10 });
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(Error::VarintTooLong { max_bytes: 10 })
}

/// Reads a zigzag-encoded signed varint.
#[inline]
pub fn get_varint(buf: &mut Bytes) -> Result<i32> {
    let v = get_uvarint(buf)?;
    Ok(((v >> 1) as i32) ^ -((v & 1) as i32))
}

/// Reads a zigzag-encoded signed varlong.
#[inline]
pub fn get_varlong(buf: &mut Bytes) -> Result<i64> {
    let v = get_uvarlong(buf)?;
    Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
}

/// Reads a length prefix: `i16`/`i32` classic or compact unsigned varint. Returns `None` for
/// null and checks that `length` bytes (or elements of at least one byte) remain.
#[inline]
fn get_len(
    buf: &mut Bytes,
    compact: bool,
    wide: bool,
    what: &'static str,
) -> Result<Option<usize>> {
    let len: i64 = if compact {
        i64::from(get_uvarint(buf)?) - 1
    } else if wide {
        i64::from(get_i32(buf)?)
    } else {
        i64::from(get_i16(buf)?)
    };
    if len == -1 {
        return Ok(None);
    }
    if len < 0 {
        return Err(Error::InvalidLength { what, length: len });
    }
    // invariant: len is non-negative and fits in u32, so it fits in usize on every target.
    let len = len as usize;
    if len > buf.remaining() {
        return Err(Error::LengthExceedsInput {
            what,
            length: len,
            remaining: buf.remaining(),
        });
    }
    Ok(Some(len))
}

/// Reads a nullable string (classic `i16` or compact length).
pub fn get_nullable_string(buf: &mut Bytes, compact: bool) -> Result<Option<String>> {
    match get_len(buf, compact, false, "string")? {
        None => Ok(None),
        Some(len) => {
            let raw = buf.split_to(len);
            match std::str::from_utf8(&raw) {
                Ok(s) => Ok(Some(s.to_owned())),
                Err(_) => Err(Error::InvalidUtf8),
            }
        }
    }
}

/// Reads a non-nullable string; null is an error.
pub fn get_string(buf: &mut Bytes, compact: bool) -> Result<String> {
    get_nullable_string(buf, compact)?.ok_or(Error::InvalidLength {
        what: "non-nullable string",
        length: -1,
    })
}

/// Reads nullable bytes (classic `i32` or compact length), sharing the input's allocation.
pub fn get_nullable_bytes(buf: &mut Bytes, compact: bool) -> Result<Option<Bytes>> {
    Ok(get_len(buf, compact, true, "bytes")?.map(|len| buf.split_to(len)))
}

/// Reads non-nullable bytes; null is an error.
pub fn get_bytes(buf: &mut Bytes, compact: bool) -> Result<Bytes> {
    get_nullable_bytes(buf, compact)?.ok_or(Error::InvalidLength {
        what: "non-nullable bytes",
        length: -1,
    })
}

/// Reads a nullable `records` field: a slice of `buf`, no copy.
pub fn get_nullable_records(buf: &mut Bytes, compact: bool) -> Result<Option<Records>> {
    Ok(get_nullable_bytes(buf, compact)?.map(Records::Memory))
}

/// Reads a non-nullable `records` field; null is an error.
pub fn get_records(buf: &mut Bytes, compact: bool) -> Result<Records> {
    get_bytes(buf, compact).map(Records::Memory)
}

/// Reads an array length; `None` for a null array. Like Kafka, an array that claims more
/// elements than there are bytes left is rejected before any allocation.
pub fn get_array_len(buf: &mut Bytes, compact: bool) -> Result<Option<usize>> {
    get_len(buf, compact, true, "array")
}

/// Reads a tagged-field section, handing each known tag's bytes to `known` and keeping the
/// others in `unknown`. `known` returns `Ok(false)` for a tag it does not know.
pub fn get_tagged_fields(
    buf: &mut Bytes,
    message: &'static str,
    unknown: &mut UnknownTaggedFields,
    mut known: impl FnMut(u32, &mut Bytes) -> Result<bool>,
) -> Result<()> {
    let count = get_uvarint(buf)? as usize;
    // Every field takes at least two bytes (tag and size), so the count is bounded by the input.
    if count > buf.remaining() / 2 {
        return Err(Error::LengthExceedsInput {
            what: "tagged fields",
            length: count,
            remaining: buf.remaining(),
        });
    }
    let mut sorted = true;
    for _ in 0..count {
        let tag = get_uvarint(buf)?;
        let size = get_uvarint(buf)? as usize;
        if size > buf.remaining() {
            return Err(Error::LengthExceedsInput {
                what: "tagged field",
                length: size,
                remaining: buf.remaining(),
            });
        }
        let mut field = buf.split_to(size);
        if known(tag, &mut field)? {
            if field.has_remaining() {
                return Err(Error::TaggedFieldSize { message, tag, size });
            }
        } else {
            if unknown.fields.is_empty() {
                unknown.fields.reserve_exact(count);
            }
            sorted &= unknown.fields.last().is_none_or(|(t, _)| *t < tag);
            unknown.fields.push((tag, field));
        }
    }
    if !sorted {
        // Out of order or repeated: sort, keeping the last value of a repeated tag.
        unknown.fields.reverse();
        unknown.fields.sort_by_key(|(t, _)| *t);
        unknown.fields.dedup_by_key(|(t, _)| *t);
    }
    Ok(())
}

/// Where encoded bytes go. Every `BufMut` is a `Sink`, copying everything, and refusing a
/// `records` field that is a file region ([`Error::FileRegionInBuffer`]); a sink of its own
/// can keep records out of the copy ([`crate::records::PartsWriter`] makes send parts of
/// them), which is why records are written through [`Sink::put_records`].
pub trait Sink {
    /// Writes a byte.
    fn put_u8(&mut self, v: u8);
    /// Writes bytes.
    fn put_slice(&mut self, src: &[u8]);
    /// Writes the content of a `records` field (its length prefix is already written).
    fn put_records(&mut self, records: &Records) -> Result<()> {
        crate::records::copy_records(self, records)
    }
    /// Writes an `int8`.
    fn put_i8(&mut self, v: i8) {
        self.put_u8(v as u8);
    }
    /// Writes an `int16`.
    fn put_i16(&mut self, v: i16) {
        self.put_slice(&v.to_be_bytes());
    }
    /// Writes a `uint16`.
    fn put_u16(&mut self, v: u16) {
        self.put_slice(&v.to_be_bytes());
    }
    /// Writes an `int32`.
    fn put_i32(&mut self, v: i32) {
        self.put_slice(&v.to_be_bytes());
    }
    /// Writes a `uint32`.
    fn put_u32(&mut self, v: u32) {
        self.put_slice(&v.to_be_bytes());
    }
    /// Writes an `int64`.
    fn put_i64(&mut self, v: i64) {
        self.put_slice(&v.to_be_bytes());
    }
    /// Writes a `float64`.
    fn put_f64(&mut self, v: f64) {
        self.put_slice(&v.to_be_bytes());
    }
}

impl<T: BufMut> Sink for T {
    #[inline]
    fn put_u8(&mut self, v: u8) {
        BufMut::put_u8(self, v);
    }
    #[inline]
    fn put_slice(&mut self, src: &[u8]) {
        BufMut::put_slice(self, src);
    }
    #[inline]
    fn put_i16(&mut self, v: i16) {
        BufMut::put_i16(self, v);
    }
    #[inline]
    fn put_i32(&mut self, v: i32) {
        BufMut::put_i32(self, v);
    }
    #[inline]
    fn put_i64(&mut self, v: i64) {
        BufMut::put_i64(self, v);
    }
}

/// Writes a nullable `records` field: the length prefix, then the records through
/// [`Sink::put_records`].
pub fn put_nullable_records<B: Sink>(
    buf: &mut B,
    records: Option<&Records>,
    compact: bool,
) -> Result<()> {
    put_len(buf, records.map(Records::len), compact, true, "records")?;
    match records {
        Some(r) => buf.put_records(r),
        None => Ok(()),
    }
}

/// Size of a nullable `records` field, prefix included.
#[inline]
pub fn nullable_records_size(records: Option<&Records>, compact: bool) -> usize {
    let len = records.map(Records::len);
    len_size(len, compact, true) + len.unwrap_or(0)
}

/// Writes an unsigned varint.
#[inline]
pub fn put_uvarint<B: Sink>(buf: &mut B, mut v: u32) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Writes an unsigned varlong.
#[inline]
pub fn put_uvarlong<B: Sink>(buf: &mut B, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Writes a zigzag-encoded signed varint.
#[inline]
pub fn put_varint<B: Sink>(buf: &mut B, v: i32) {
    put_uvarint(buf, ((v << 1) ^ (v >> 31)) as u32);
}

/// Writes a zigzag-encoded signed varlong.
#[inline]
pub fn put_varlong<B: Sink>(buf: &mut B, v: i64) {
    put_uvarlong(buf, ((v << 1) ^ (v >> 63)) as u64);
}

/// Size of an unsigned varint.
#[inline]
pub const fn uvarint_size(v: u32) -> usize {
    match v {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0xfff_ffff => 4,
        _ => 5,
    }
}

/// Size of an unsigned varlong.
#[inline]
pub const fn uvarlong_size(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Size of a zigzag-encoded signed varint.
#[inline]
pub const fn varint_size(v: i32) -> usize {
    uvarint_size(((v << 1) ^ (v >> 31)) as u32)
}

/// Size of a zigzag-encoded signed varlong.
#[inline]
pub const fn varlong_size(v: i64) -> usize {
    uvarlong_size(((v << 1) ^ (v >> 63)) as u64)
}

/// Writes a length prefix for a value of `len` (or null), checking it fits the prefix.
#[inline]
fn put_len<B: Sink>(
    buf: &mut B,
    len: Option<usize>,
    compact: bool,
    wide: bool,
    what: &'static str,
) -> Result<()> {
    let max = if compact {
        u32::MAX as usize - 1
    } else if wide {
        i32::MAX as usize
    } else {
        i16::MAX as usize
    };
    match len {
        Some(l) if l > max => Err(Error::TooLong { what, length: l }),
        // invariant: l <= max, which fits each prefix type.
        Some(l) if compact => {
            put_uvarint(buf, l as u32 + 1);
            Ok(())
        }
        Some(l) if wide => {
            buf.put_i32(l as i32);
            Ok(())
        }
        Some(l) => {
            buf.put_i16(l as i16);
            Ok(())
        }
        None if compact => {
            put_uvarint(buf, 0);
            Ok(())
        }
        None if wide => {
            buf.put_i32(-1);
            Ok(())
        }
        None => {
            buf.put_i16(-1);
            Ok(())
        }
    }
}

#[inline]
fn len_size(len: Option<usize>, compact: bool, wide: bool) -> usize {
    match (compact, wide) {
        (true, _) => uvarint_size(len.map_or(0, |l| (l as u32).wrapping_add(1))),
        (false, true) => 4,
        (false, false) => 2,
    }
}

/// Writes a nullable string.
pub fn put_nullable_string<B: Sink>(buf: &mut B, s: Option<&str>, compact: bool) -> Result<()> {
    put_len(buf, s.map(str::len), compact, false, "string")?;
    if let Some(s) = s {
        buf.put_slice(s.as_bytes());
    }
    Ok(())
}

/// Size of a nullable string.
#[inline]
pub fn nullable_string_size(s: Option<&str>, compact: bool) -> usize {
    len_size(s.map(str::len), compact, false) + s.map_or(0, str::len)
}

/// Writes nullable bytes.
pub fn put_nullable_bytes<B: Sink>(buf: &mut B, b: Option<&[u8]>, compact: bool) -> Result<()> {
    put_len(buf, b.map(<[u8]>::len), compact, true, "bytes")?;
    if let Some(b) = b {
        buf.put_slice(b);
    }
    Ok(())
}

/// Size of nullable bytes.
#[inline]
pub fn nullable_bytes_size(b: Option<&[u8]>, compact: bool) -> usize {
    len_size(b.map(<[u8]>::len), compact, true) + b.map_or(0, <[u8]>::len)
}

/// Writes an array length (or null).
pub fn put_array_len<B: Sink>(buf: &mut B, len: Option<usize>, compact: bool) -> Result<()> {
    put_len(buf, len, compact, true, "array")
}

/// Size of an array length prefix.
#[inline]
pub fn array_len_size(len: Option<usize>, compact: bool) -> usize {
    len_size(len, compact, true)
}

/// An iterator over unknown tagged fields being written in tag order.
pub type UnknownTaggedIter<'a> = std::iter::Peekable<UnknownTaggedIterInner<'a>>;

/// Writes the unknown tagged fields whose tag is below `tag`, so that known and unknown fields
/// leave in ascending tag order as Kafka requires.
pub fn put_unknown_tagged_below<B: Sink>(
    buf: &mut B,
    unknown: &mut UnknownTaggedIter<'_>,
    tag: u32,
) {
    while let Some((t, bytes)) = unknown.next_if(|(t, _)| **t < tag) {
        put_raw_tagged_field(buf, *t, bytes);
    }
}

/// Writes the unknown tagged fields that remain.
pub fn put_unknown_tagged_rest<B: Sink>(buf: &mut B, unknown: UnknownTaggedIter<'_>) {
    for (t, bytes) in unknown {
        put_raw_tagged_field(buf, *t, bytes);
    }
}

fn put_raw_tagged_field<B: Sink>(buf: &mut B, tag: u32, bytes: &Bytes) {
    put_uvarint(buf, tag);
    put_uvarint(buf, bytes.len() as u32);
    buf.put_slice(bytes);
}

/// Size of the tag and size prefixes of one tagged field whose value is `size` bytes.
#[inline]
pub const fn tagged_field_header_size(tag: u32, size: usize) -> usize {
    uvarint_size(tag) + uvarint_size(size as u32)
}

/// Size of the unknown tagged fields, prefixes included.
pub fn unknown_tagged_fields_size(unknown: &UnknownTaggedFields) -> usize {
    unknown
        .iter()
        .map(|(t, b)| tagged_field_header_size(*t, b.len()) + b.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn roundtrip_uvarint(v: u32) {
        let mut b = BytesMut::new();
        put_uvarint(&mut b, v);
        assert_eq!(b.len(), uvarint_size(v), "size of {v}");
        let mut r = b.freeze();
        assert_eq!(get_uvarint(&mut r).unwrap(), v);
        assert!(r.is_empty());
    }

    #[test]
    fn uvarint_boundaries() {
        for v in [
            0,
            1,
            127,
            128,
            16383,
            16384,
            2_097_151,
            2_097_152,
            268_435_455,
            268_435_456,
            u32::MAX,
        ] {
            roundtrip_uvarint(v);
        }
    }

    #[test]
    fn uvarint_known_bytes() {
        let mut b = BytesMut::new();
        put_uvarint(&mut b, 300);
        assert_eq!(&b[..], &[0xac, 0x02]);
    }

    #[test]
    fn zigzag_known_values() {
        // The zigzag table from the protobuf/Kafka docs: 0→0, -1→1, 1→2, -2→3.
        for (v, enc) in [(0i32, 0u8), (-1, 1), (1, 2), (-2, 3), (63, 126), (-64, 127)] {
            let mut b = BytesMut::new();
            put_varint(&mut b, v);
            assert_eq!(&b[..], &[enc]);
            assert_eq!(get_varint(&mut b.freeze()).unwrap(), v);
        }
        for v in [i64::MIN, -1, 0, 1, i64::MAX, 1 << 40] {
            let mut b = BytesMut::new();
            put_varlong(&mut b, v);
            assert_eq!(b.len(), varlong_size(v));
            assert_eq!(get_varlong(&mut b.freeze()).unwrap(), v);
        }
        for v in [i32::MIN, i32::MAX] {
            let mut b = BytesMut::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_size(v));
            assert_eq!(get_varint(&mut b.freeze()).unwrap(), v);
        }
    }

    #[test]
    fn overlong_varints_are_errors() {
        let mut b = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(
            get_uvarint(&mut b),
            Err(Error::VarintTooLong { max_bytes: 5 })
        );
        let mut b = Bytes::from_static(&[0xff; 11]);
        assert_eq!(
            get_uvarlong(&mut b),
            Err(Error::VarintTooLong { max_bytes: 10 })
        );
        let mut b = Bytes::from_static(&[0x80]);
        assert!(matches!(
            get_uvarint(&mut b),
            Err(Error::UnexpectedEof { .. })
        ));
    }

    #[test]
    fn strings_classic_and_compact() {
        for compact in [false, true] {
            for s in [None, Some(""), Some("topic-1"), Some("ünïcode")] {
                let mut b = BytesMut::new();
                put_nullable_string(&mut b, s, compact).unwrap();
                assert_eq!(b.len(), nullable_string_size(s, compact));
                let mut r = b.freeze();
                assert_eq!(get_nullable_string(&mut r, compact).unwrap().as_deref(), s);
                assert!(r.is_empty());
            }
        }
        // classic null string is 0xffff, compact null is 0x00
        let mut b = BytesMut::new();
        put_nullable_string(&mut b, None, false).unwrap();
        assert_eq!(&b[..], &[0xff, 0xff]);
        let mut b = BytesMut::new();
        put_nullable_string(&mut b, None, true).unwrap();
        assert_eq!(&b[..], &[0x00]);
    }

    #[test]
    fn lengths_are_checked_before_allocating() {
        // An array claiming 2^31-1 elements with 3 bytes behind it.
        let mut b = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 1, 2, 3]);
        assert!(matches!(
            get_array_len(&mut b, false),
            Err(Error::LengthExceedsInput {
                length: 2_147_483_647,
                remaining: 3,
                ..
            })
        ));
        let mut b = Bytes::from_static(&[0xff, 0xff, 0xff, 0xfe]);
        assert!(matches!(
            get_nullable_bytes(&mut b, false),
            Err(Error::InvalidLength { length: -2, .. })
        ));
        let mut b = Bytes::from_static(&[0x00, 0x05, b'a']);
        assert!(matches!(
            get_string(&mut b, false),
            Err(Error::LengthExceedsInput { .. })
        ));
        let mut b = Bytes::from_static(&[0x00, 0x02, 0xc3, 0x28]);
        assert_eq!(get_string(&mut b, false), Err(Error::InvalidUtf8));
        let mut b = Bytes::from_static(&[0x02]);
        assert_eq!(get_bool(&mut b), Err(Error::InvalidBool(2)));
    }

    #[test]
    fn bytes_share_the_input() {
        let input = Bytes::from(vec![0, 0, 0, 3, 9, 8, 7, 6]);
        let base = input.as_ptr();
        let mut r = input.clone();
        let got = get_bytes(&mut r, false).unwrap();
        assert_eq!(&got[..], &[9, 8, 7]);
        assert_eq!(got.as_ptr(), base.wrapping_add(4));
    }

    #[test]
    fn unknown_tagged_fields_merge_in_order() {
        let mut unknown = UnknownTaggedFields::new();
        unknown.insert(0, Bytes::from_static(b"a"));
        unknown.insert(5, Bytes::from_static(b"bcd"));
        let mut b = BytesMut::new();
        put_uvarint(&mut b, 3);
        let mut it = unknown.iter().peekable();
        put_unknown_tagged_below(&mut b, &mut it, 3);
        put_uvarint(&mut b, 3);
        put_uvarint(&mut b, 2);
        BufMut::put_i16(&mut b, 7);
        put_unknown_tagged_rest(&mut b, it);
        assert_eq!(
            b.len(),
            1 + tagged_field_header_size(3, 2) + 2 + unknown_tagged_fields_size(&unknown)
        );
        assert_eq!(&b[..], &[3, 0, 1, b'a', 3, 2, 0, 7, 5, 3, b'b', b'c', b'd']);
        let mut r = b.freeze();
        let mut got = UnknownTaggedFields::new();
        let mut seen = None;
        get_tagged_fields(&mut r, "test", &mut got, |tag, field| {
            if tag == 3 {
                seen = Some(get_i16(field)?);
                Ok(true)
            } else {
                Ok(false)
            }
        })
        .unwrap();
        assert_eq!(seen, Some(7));
        assert_eq!(got, unknown);
    }

    #[test]
    fn uuid_displays_as_kafka_base64() {
        // Kafka's Uuid.toString of (0,1) is "AAAAAAAAAAAAAAAAAAAAAQ".
        assert_eq!(
            Uuid::from_u64_pair(0, 1).to_string(),
            "AAAAAAAAAAAAAAAAAAAAAQ"
        );
        assert_eq!(Uuid::ZERO.to_string(), "AAAAAAAAAAAAAAAAAAAAAA");
    }
}

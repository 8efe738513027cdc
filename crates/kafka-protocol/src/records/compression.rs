//! The compression codecs of magic v2 record batches.
//!
//! A compressed batch keeps its 61-byte header in the clear and compresses everything after it
//! (the records) as one blob, in the codec named by attribute bits 0-2. The stream formats are
//! the ones Apache Kafka's Java client writes and reads:
//!
//! - gzip: RFC 1952, one or more members (Java's `GZIPInputStream` reads concatenated members).
//! - snappy: Java writes xerial's framed format (an 8-byte magic `0x82 "SNAPPY" 0x00`, version
//!   and compatible-version `i32`s, then chunks of `[i32 length][raw snappy block]`, 32 KiB of
//!   input per chunk). librdkafka and others may send one raw snappy block. Both are read (the
//!   xerial magic decides, as in xerial's `SnappyInputStream`); the xerial form is written.
//! - lz4: the standard LZ4 frame format with independent 64 KiB blocks and no checksums or
//!   content size, as Kafka's `Lz4BlockOutputStream` writes it (Kafka's reader rejects
//!   dependent blocks).
//! - zstd: standard zstd frames, one or more.
//!
//! Decompression takes a limit and fails with [`Error::DecompressedTooLarge`] before producing
//! more bytes than that, so a small hostile batch cannot make us allocate gigabytes.

use std::io::{Read, Write};

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};

/// The compression codec of a record batch: attribute bits 0-2, as Kafka's `CompressionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// No compression (id 0).
    #[default]
    None,
    /// gzip (id 1).
    Gzip,
    /// snappy (id 2), xerial-framed when written.
    Snappy,
    /// LZ4 frame format (id 3).
    Lz4,
    /// zstd (id 4).
    Zstd,
}

impl Compression {
    /// The codec's id in the batch attributes.
    pub const fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec with this id, or [`Error::UnknownCompression`].
    pub const fn from_id(id: u8) -> Result<Self> {
        match id {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            other => Err(Error::UnknownCompression(other)),
        }
    }

    /// Kafka's name for the codec, as in `compression.type`.
    pub const fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// xerial's snappy stream magic: `0x82 "SNAPPY" 0x00`.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// The xerial header: magic, version `i32`, compatible version `i32`.
const XERIAL_HEADER_LEN: usize = 16;
/// Input bytes per xerial chunk, xerial's `SnappyOutputStream` default block size.
const XERIAL_BLOCK_SIZE: usize = 32 * 1024;

fn compression_error(codec: Compression, message: impl std::fmt::Display) -> Error {
    Error::Compression {
        codec: codec.name(),
        op: "compression",
        message: message.to_string(),
    }
}

fn decompression_error(codec: Compression, message: impl std::fmt::Display) -> Error {
    Error::Compression {
        codec: codec.name(),
        op: "decompression",
        message: message.to_string(),
    }
}

/// Compresses `input` with `codec` and appends the result to `out`.
///
/// `level` is the codec's level (gzip 0-9, default 6 as Java's `Deflater`; zstd's own range,
/// default 3); snappy and lz4 have no level here and ignore it.
pub(crate) fn compress(
    codec: Compression,
    level: Option<i32>,
    input: &[u8],
    out: &mut BytesMut,
) -> Result<()> {
    match codec {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        Compression::Gzip => {
            let level = match level {
                None => flate2::Compression::default(),
                Some(l @ 0..=9) => flate2::Compression::new(l.unsigned_abs()),
                Some(l) => return Err(compression_error(codec, format!("invalid gzip level {l}"))),
            };
            let mut encoder = flate2::write::GzEncoder::new(out.writer(), level);
            encoder
                .write_all(input)
                .map_err(|e| compression_error(codec, e))?;
            encoder.finish().map_err(|e| compression_error(codec, e))?;
            Ok(())
        }
        Compression::Snappy => snappy_compress_xerial(input, out),
        Compression::Lz4 => {
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(lz4_flex::frame::BlockMode::Independent)
                .block_checksums(false)
                .content_checksum(false);
            let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(info, out.writer());
            encoder
                .write_all(input)
                .map_err(|e| compression_error(codec, e))?;
            encoder.finish().map_err(|e| compression_error(codec, e))?;
            Ok(())
        }
        Compression::Zstd => {
            let level = level.unwrap_or(zstd::DEFAULT_COMPRESSION_LEVEL);
            if !zstd::compression_level_range().contains(&level) {
                return Err(compression_error(
                    codec,
                    format!("invalid zstd level {level}"),
                ));
            }
            out.reserve(zstd::zstd_safe::compress_bound(input.len()));
            zstd::stream::copy_encode(input, out.writer(), level)
                .map_err(|e| compression_error(codec, e))
        }
    }
}

fn snappy_compress_xerial(input: &[u8], out: &mut BytesMut) -> Result<()> {
    out.reserve(XERIAL_HEADER_LEN + input.len() + input.len() / 6 + 64);
    out.put_slice(&XERIAL_MAGIC);
    out.put_i32(1); // version
    out.put_i32(1); // compatible version
    let mut encoder = snap::raw::Encoder::new();
    for chunk in input.chunks(XERIAL_BLOCK_SIZE) {
        let start = out.len();
        let max = snap::raw::max_compress_len(chunk.len());
        out.resize(start + 4 + max, 0);
        let n = encoder
            .compress(chunk, &mut out[start + 4..])
            .map_err(|e| compression_error(Compression::Snappy, e))?;
        out.truncate(start + 4 + n);
        // invariant: n <= max_compress_len(32 KiB), far below i32::MAX.
        out[start..start + 4].copy_from_slice(&(n as i32).to_be_bytes());
    }
    Ok(())
}

/// Decompresses `input` (the records section of a batch) into a new buffer of at most `limit`
/// bytes.
pub(crate) fn decompress(codec: Compression, input: &[u8], limit: usize) -> Result<Bytes> {
    match codec {
        Compression::None => {
            if input.len() > limit {
                return Err(Error::DecompressedTooLarge { limit });
            }
            Ok(Bytes::copy_from_slice(input))
        }
        Compression::Gzip => {
            // The trailer's ISIZE is the last member's size mod 2^32: a hint, trusted no
            // further than `limit` and deflate's maximum ratio (1032:1).
            let hint = input
                .len()
                .checked_sub(4)
                .and_then(|at| input.get(at..))
                .and_then(|t| <[u8; 4]>::try_from(t).ok())
                .map_or(input.len().saturating_mul(4), |t| {
                    (u32::from_le_bytes(t) as usize).min(input.len().saturating_mul(1032))
                });
            read_limited(flate2::read::MultiGzDecoder::new(input), codec, limit, hint)
        }
        Compression::Snappy => snappy_decompress(input, limit),
        Compression::Lz4 => lz4_decompress(input, limit),
        Compression::Zstd => {
            let hint = match zstd::zstd_safe::get_frame_content_size(input) {
                Ok(Some(n)) => usize::try_from(n).unwrap_or(usize::MAX),
                _ => input.len().saturating_mul(4),
            };
            let decoder = zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|e| decompression_error(codec, e))?;
            read_limited(decoder, codec, limit, hint)
        }
    }
}

/// An upper bound on how much an LZ4 block can expand: each extra match-length byte adds at
/// most 255 bytes of output.
const LZ4_MAX_RATIO: usize = 256;
/// An upper bound on how much a snappy block can expand: the densest element, a 3-byte copy,
/// yields 64 bytes.
const SNAPPY_MAX_RATIO: usize = 32;

/// The LZ4 frame magic number, little-endian on the wire.
const LZ4_MAGIC: u32 = 0x184D_2204;

/// One block of an LZ4 frame: its bytes and whether they are compressed.
type Lz4Block<'a> = (&'a [u8], bool);

/// The layout of an LZ4 frame that the fast path handles: one frame of independent blocks
/// (what Kafka and librdkafka write) with no dictionary.
#[derive(Debug, Clone, Copy)]
struct Lz4Frame {
    blocks_start: usize,
    block_max: usize,
    block_checksums: bool,
    content_checksum: bool,
}

impl Lz4Frame {
    fn parse(input: &[u8]) -> Option<Self> {
        let magic = u32::from_le_bytes(input.get(..4)?.try_into().ok()?);
        let flg = *input.get(4)?;
        let bd = *input.get(5)?;
        // Version 01, independent blocks, no reserved bits, no dictionary id.
        if magic != LZ4_MAGIC || flg & 0xc0 != 0x40 || flg & 0x20 == 0 || flg & 0x03 != 0 {
            return None;
        }
        let block_max = match (bd >> 4) & 0x07 {
            4 => 64 << 10,
            5 => 256 << 10,
            6 => 1 << 20,
            7 => 4 << 20,
            _ => return None,
        };
        let content_size = flg & 0x08 != 0;
        // FLG, BD, optional content size, header checksum.
        let blocks_start = 4 + 2 + if content_size { 8 } else { 0 } + 1;
        Some(Lz4Frame {
            blocks_start,
            block_max,
            block_checksums: flg & 0x10 != 0,
            content_checksum: flg & 0x04 != 0,
        })
    }

    /// The most a compressed block can decompress to: the frame's block size, or less for a
    /// small block, so hostile tiny blocks cannot make us zero-fill whole block sizes.
    fn block_bound(&self, block: &[u8]) -> usize {
        self.block_max
            .min(block.len().saturating_mul(LZ4_MAX_RATIO).saturating_add(64))
    }

    /// Walks the blocks: `(data, compressed)` each, and the frame's end. `None` if the frame
    /// is truncated or a block is larger than the frame allows.
    fn blocks<'a>(&self, input: &'a [u8]) -> Option<(Vec<Lz4Block<'a>>, usize)> {
        let mut blocks = Vec::new();
        let mut pos = self.blocks_start;
        loop {
            let size = u32::from_le_bytes(input.get(pos..pos + 4)?.try_into().ok()?);
            pos += 4;
            if size == 0 {
                if self.content_checksum {
                    pos += 4;
                }
                return (pos <= input.len()).then_some((blocks, pos));
            }
            let len = (size & 0x7fff_ffff) as usize;
            if len > self.block_max {
                return None;
            }
            blocks.push((input.get(pos..pos + len)?, size & 0x8000_0000 == 0));
            pos += len;
            if self.block_checksums {
                pos += 4;
            }
        }
    }
}

/// Decompresses LZ4 frames (one or more, back to back). Frames of independent blocks, as
/// Kafka and librdkafka write them, are decoded block by block straight into one buffer;
/// anything else goes through `lz4_flex`'s streaming decoder. Like Kafka's reader, checksums
/// inside the frame are not verified: the batch CRC already covers these bytes.
fn lz4_decompress(input: &[u8], limit: usize) -> Result<Bytes> {
    let mut out = Vec::new();
    let mut rest = input;
    loop {
        let consumed = lz4_frame_into(rest, limit, &mut out)?;
        rest = rest.get(consumed..).unwrap_or_default();
        if rest.is_empty() || consumed == 0 {
            break;
        }
    }
    Ok(Bytes::from(out))
}

/// Decompresses the LZ4 frame at the start of `input`, appending to `out` (never past
/// `limit` bytes in all), and returns the bytes of input it took.
fn lz4_frame_into(input: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<usize> {
    let codec = Compression::Lz4;
    let fast = Lz4Frame::parse(input).and_then(|f| Some((f, f.blocks(input)?)));
    let room = limit.saturating_sub(out.len());
    if let Some((frame, (blocks, end))) = fast {
        let bound: usize = blocks
            .iter()
            .map(|(data, compressed)| {
                if *compressed {
                    frame.block_bound(data)
                } else {
                    data.len()
                }
            })
            .fold(0usize, usize::saturating_add);
        // The bound may overestimate; past the limit the streaming decoder stops exactly.
        if bound <= room {
            let mut at = out.len();
            out.resize(at + bound, 0);
            for (data, compressed) in blocks {
                let dst = out.get_mut(at..).unwrap_or_default();
                if compressed {
                    let end = frame.block_bound(data).min(dst.len());
                    let dst = dst.get_mut(..end).unwrap_or_default();
                    at += lz4_flex::block::decompress_into(data, dst)
                        .map_err(|e| decompression_error(codec, e))?;
                } else {
                    dst.get_mut(..data.len())
                        .ok_or_else(|| decompression_error(codec, "block larger than declared"))?
                        .copy_from_slice(data);
                    at += data.len();
                }
            }
            out.truncate(at);
            return Ok(end);
        }
    }
    let mut reader = input;
    let cap = u64::try_from(room).unwrap_or(u64::MAX).saturating_add(1);
    if out.capacity() == 0 {
        out.reserve(input.len().saturating_mul(4).min(limit));
    }
    lz4_flex::frame::FrameDecoder::new(&mut reader)
        .take(cap)
        .read_to_end(out)
        .map_err(|e| decompression_error(codec, e))?;
    if out.len() > limit {
        return Err(Error::DecompressedTooLarge { limit });
    }
    Ok(input.len() - reader.len())
}

/// Reads `reader` to its end into one buffer, failing once it would exceed `limit` bytes.
fn read_limited<R: Read>(
    reader: R,
    codec: Compression,
    limit: usize,
    capacity_hint: usize,
) -> Result<Bytes> {
    let mut out = Vec::with_capacity(capacity_hint.min(limit));
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| decompression_error(codec, e))?;
    if out.len() > limit {
        return Err(Error::DecompressedTooLarge { limit });
    }
    Ok(Bytes::from(out))
}

/// Walks the chunks of a xerial stream (after its first header), yielding each raw block.
/// Concatenated streams (a new header where a chunk length should be) are skipped over, as
/// xerial's `SnappyInputStream` does.
fn xerial_chunks(input: &[u8]) -> impl Iterator<Item = Result<&[u8]>> + '_ {
    let mut pos = XERIAL_HEADER_LEN;
    let mut failed = false;
    std::iter::from_fn(move || loop {
        if failed {
            return None;
        }
        let rest = input.get(pos..)?;
        if rest.is_empty() {
            return None;
        }
        if rest.starts_with(&XERIAL_MAGIC) {
            if rest.len() < XERIAL_HEADER_LEN {
                failed = true;
                return Some(Err(decompression_error(
                    Compression::Snappy,
                    "truncated xerial header",
                )));
            }
            pos += XERIAL_HEADER_LEN;
            continue;
        }
        let Some(len) = rest.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()) else {
            failed = true;
            return Some(Err(decompression_error(
                Compression::Snappy,
                "truncated xerial chunk length",
            )));
        };
        let len = i32::from_be_bytes(len);
        let chunk = usize::try_from(len)
            .ok()
            .and_then(|len| rest.get(4..4 + len));
        match chunk {
            Some(chunk) => {
                pos += 4 + chunk.len();
                return Some(Ok(chunk));
            }
            None => {
                failed = true;
                return Some(Err(decompression_error(
                    Compression::Snappy,
                    format!(
                        "xerial chunk length {len} does not fit the {} bytes left",
                        rest.len() - 4
                    ),
                )));
            }
        }
    })
}

/// The decompressed length a raw snappy block declares, checked against the limit and
/// against what its size could possibly produce, before anything is allocated for it.
fn snappy_block_len(block: &[u8], limit: usize) -> Result<usize> {
    let codec = Compression::Snappy;
    let n = snap::raw::decompress_len(block).map_err(|e| decompression_error(codec, e))?;
    if n > limit {
        return Err(Error::DecompressedTooLarge { limit });
    }
    if n > block
        .len()
        .saturating_mul(SNAPPY_MAX_RATIO)
        .saturating_add(64)
    {
        return Err(decompression_error(
            codec,
            format!(
                "block of {} bytes claims {n} bytes decompressed",
                block.len()
            ),
        ));
    }
    Ok(n)
}

fn snappy_decompress(input: &[u8], limit: usize) -> Result<Bytes> {
    let codec = Compression::Snappy;
    let mut decoder = snap::raw::Decoder::new();
    if !input.starts_with(&XERIAL_MAGIC) {
        let n = snappy_block_len(input, limit)?;
        let mut out = vec![0u8; n];
        let written = decoder
            .decompress(input, &mut out)
            .map_err(|e| decompression_error(codec, e))?;
        out.truncate(written);
        return Ok(Bytes::from(out));
    }
    if input.len() < XERIAL_HEADER_LEN {
        return Err(decompression_error(codec, "truncated xerial header"));
    }
    // First pass: read each block's declared length, so the output is allocated once and
    // never beyond the limit.
    let mut total: usize = 0;
    for chunk in xerial_chunks(input) {
        let n = snappy_block_len(chunk?, limit)?;
        total = total.saturating_add(n);
        if total > limit {
            return Err(Error::DecompressedTooLarge { limit });
        }
    }
    let mut out = vec![0u8; total];
    let mut at = 0;
    for chunk in xerial_chunks(input) {
        let dst = out
            .get_mut(at..)
            .ok_or_else(|| decompression_error(codec, "block longer than declared"))?;
        at += decoder
            .decompress(chunk?, dst)
            .map_err(|e| decompression_error(codec, e))?;
    }
    out.truncate(at);
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn sample(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i % 251) as u8 ^ (i / 1000) as u8)
            .collect()
    }

    #[test]
    fn codec_ids_round_trip() {
        for c in ALL {
            assert_eq!(Compression::from_id(c.id()), Ok(c));
        }
        assert_eq!(Compression::from_id(5), Err(Error::UnknownCompression(5)));
        assert_eq!(Compression::Zstd.to_string(), "zstd");
    }

    #[test]
    fn every_codec_round_trips() {
        for c in ALL {
            for len in [
                0,
                1,
                100,
                XERIAL_BLOCK_SIZE,
                3 * XERIAL_BLOCK_SIZE + 17,
                200_000,
            ] {
                let input = sample(len);
                let mut out = BytesMut::new();
                compress(c, None, &input, &mut out).unwrap();
                let back = decompress(c, &out, usize::MAX).unwrap();
                assert_eq!(&back[..], &input[..], "{c} len {len}");
            }
        }
    }

    #[test]
    fn snappy_is_written_xerial_framed() {
        let input = sample(XERIAL_BLOCK_SIZE + 1);
        let mut out = BytesMut::new();
        compress(Compression::Snappy, None, &input, &mut out).unwrap();
        assert_eq!(&out[..8], &XERIAL_MAGIC);
        assert_eq!(&out[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        // Two chunks: 32 KiB and 1 byte.
        let chunks: Vec<_> = xerial_chunks(&out).collect::<Result<_>>().unwrap();
        assert_eq!(chunks.len(), 2);
        assert_eq!(snap::raw::decompress_len(chunks[1]).unwrap(), 1);
    }

    #[test]
    fn raw_snappy_block_is_read() {
        let input = sample(70_000);
        let raw = snap::raw::Encoder::new().compress_vec(&input).unwrap();
        assert_eq!(
            &decompress(Compression::Snappy, &raw, usize::MAX).unwrap()[..],
            &input[..]
        );
    }

    #[test]
    fn concatenated_xerial_streams_are_read() {
        let mut out = BytesMut::new();
        compress(Compression::Snappy, None, b"hello ", &mut out).unwrap();
        compress(Compression::Snappy, None, b"world", &mut out).unwrap();
        assert_eq!(
            &decompress(Compression::Snappy, &out, 100).unwrap()[..],
            b"hello world"
        );
    }

    #[test]
    fn lz4_frames_with_checksums_sizes_and_linked_blocks_are_read() {
        use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
        let input = sample(300_000);
        let infos = [
            FrameInfo::new()
                .block_checksums(true)
                .content_checksum(true),
            FrameInfo::new().content_size(Some(input.len() as u64)),
            FrameInfo::new().block_mode(BlockMode::Linked),
            FrameInfo::new().block_size(BlockSize::Max4MB),
        ];
        for info in infos {
            let mut enc = FrameEncoder::with_frame_info(info.clone(), Vec::new());
            enc.write_all(&input).unwrap();
            let framed = enc.finish().unwrap();
            let back = decompress(Compression::Lz4, &framed, usize::MAX).unwrap();
            assert_eq!(&back[..], &input[..], "{info:?}");
            assert_eq!(
                decompress(Compression::Lz4, &framed, input.len() - 1),
                Err(Error::DecompressedTooLarge {
                    limit: input.len() - 1
                }),
                "{info:?}"
            );
        }
        // Incompressible data is stored in uncompressed blocks.
        let noise: Vec<u8> = (0..100_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut out = BytesMut::new();
        compress(Compression::Lz4, None, &noise, &mut out).unwrap();
        assert_eq!(
            &decompress(Compression::Lz4, &out, usize::MAX).unwrap()[..],
            &noise[..]
        );
        // Two frames back to back.
        let mut two = out.to_vec();
        two.extend_from_slice(&out);
        let back = decompress(Compression::Lz4, &two, usize::MAX).unwrap();
        assert_eq!(back.len(), 200_000);
    }

    #[test]
    fn decompression_stops_at_the_limit() {
        let input = vec![0u8; 1 << 20];
        for c in ALL {
            let mut out = BytesMut::new();
            compress(c, None, &input, &mut out).unwrap();
            assert_eq!(
                decompress(c, &out, (1 << 20) - 1),
                Err(Error::DecompressedTooLarge {
                    limit: (1 << 20) - 1
                }),
                "{c}"
            );
            assert_eq!(decompress(c, &out, 1 << 20).unwrap().len(), 1 << 20, "{c}");
        }
        // A raw snappy block that claims more than its bytes could hold is refused.
        let mut claim = Vec::new();
        crate::primitives::put_uvarint(&mut claim, 1 << 20);
        claim.extend_from_slice(&[0; 10]);
        assert!(matches!(
            decompress(Compression::Snappy, &claim, 1 << 30),
            Err(Error::Compression { .. })
        ));
        // A raw snappy block that claims 4 GiB is refused before allocating.
        let mut claim = Vec::new();
        crate::primitives::put_uvarint(&mut claim, u32::MAX);
        claim.push(0);
        assert_eq!(
            decompress(Compression::Snappy, &claim, 1 << 20),
            Err(Error::DecompressedTooLarge { limit: 1 << 20 })
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for c in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            for input in [
                &b""[..],
                b"\x00",
                b"garbage garbage",
                &XERIAL_MAGIC,
                b"\x82SNAPPY\x00\0\0\0\x01\0\0\0\x01\x7f\xff\xff\xff",
            ] {
                let _ = decompress(c, input, 1 << 16);
            }
            assert!(
                decompress(c, b"definitely not compressed data", 1 << 16).is_err(),
                "{c}"
            );
        }
    }

    #[test]
    fn invalid_levels_are_errors() {
        let mut out = BytesMut::new();
        assert!(compress(Compression::Gzip, Some(10), b"x", &mut out).is_err());
        assert!(compress(Compression::Zstd, Some(1000), b"x", &mut out).is_err());
        compress(Compression::Gzip, Some(1), b"x", &mut out).unwrap();
    }
}

//! KRaft metadata records and their framing.
//!
//! Each record is framed as Kafka's `MetadataRecordSerde` (`AbstractApiMessageSerde`) writes
//! it: an unsigned varint frame version (1), an unsigned varint record type (the definition's
//! `apiKey`), an unsigned varint record version, then the message. A batch, one raft entry, is
//! an unsigned varint count followed by each framed record behind its unsigned varint length,
//! so a batch is applied whole or not at all and a reader never guesses where a record ends.

pub mod generated;

pub use generated::*;

use bytes::{Bytes, BytesMut};
use kafka_protocol::primitives::{get_uvarint, put_uvarint, uvarint_size};

use crate::error::{Error, Result};

/// The only frame version Kafka writes and reads.
pub const FRAME_VERSION: u32 = 1;

impl MetadataRecord {
    /// The framed record: frame version, type, version, message.
    pub fn encode(&self) -> Result<Bytes> {
        let mut buf = BytesMut::with_capacity(self.framed_size()?);
        self.encode_into(&mut buf)?;
        Ok(buf.freeze())
    }

    /// The size of [`MetadataRecord::encode`]'s output.
    pub fn framed_size(&self) -> Result<usize> {
        let version = self.write_version();
        Ok(uvarint_size(FRAME_VERSION)
            + uvarint_size(u32::from(self.record_type()))
            + uvarint_size(version as u32)
            + self.message_size(version)?)
    }

    fn encode_into(&self, buf: &mut BytesMut) -> Result<()> {
        let version = self.write_version();
        put_uvarint(buf, FRAME_VERSION);
        put_uvarint(buf, u32::from(self.record_type()));
        put_uvarint(buf, version as u32);
        self.encode_message(buf, version)?;
        Ok(())
    }

    /// Reads one framed record that fills `data` exactly.
    pub fn decode(data: &[u8]) -> Result<Self> {
        Self::decode_bytes(Bytes::copy_from_slice(data))
    }

    /// [`MetadataRecord::decode`] without copying: `data` holds one framed record exactly.
    pub fn decode_bytes(mut data: Bytes) -> Result<Self> {
        let frame = get_uvarint(&mut data)?;
        if frame != FRAME_VERSION {
            return Err(Error::UnsupportedFrameVersion(frame));
        }
        let record_type = get_uvarint(&mut data)?;
        let record_type_u16 =
            u16::try_from(record_type).map_err(|_| Error::UnknownRecordType(record_type))?;
        let range = MetadataRecord::valid_versions(record_type_u16)
            .ok_or(Error::UnknownRecordType(record_type))?;
        let version = get_uvarint(&mut data)?;
        let version_i16 = i16::try_from(version)
            .ok()
            .filter(|v| range.contains(*v))
            .ok_or(Error::UnsupportedRecordVersion {
                record_type: record_type_u16,
                version,
            })?;
        let record = MetadataRecord::decode_message(record_type_u16, &mut data, version_i16)
            .ok_or(Error::UnknownRecordType(record_type))??;
        if !data.is_empty() {
            return Err(Error::TrailingBytes {
                remaining: data.len(),
            });
        }
        Ok(record)
    }
}

/// One raft entry holding `records`, to be applied atomically.
pub fn encode_batch(records: &[MetadataRecord]) -> Result<Bytes> {
    let count = u32::try_from(records.len()).map_err(|_| Error::InvalidRecord("batch size"))?;
    let mut size = uvarint_size(count);
    for r in records {
        let n = r.framed_size()?;
        size += uvarint_size(n as u32) + n;
    }
    let mut buf = BytesMut::with_capacity(size);
    put_uvarint(&mut buf, count);
    for r in records {
        put_uvarint(&mut buf, r.framed_size()? as u32);
        r.encode_into(&mut buf)?;
    }
    Ok(buf.freeze())
}

/// The records of one raft entry written by [`encode_batch`].
pub fn decode_batch(data: &[u8]) -> Result<Vec<MetadataRecord>> {
    decode_batch_bytes(Bytes::copy_from_slice(data))
}

/// [`decode_batch`] without copying.
pub fn decode_batch_bytes(mut data: Bytes) -> Result<Vec<MetadataRecord>> {
    let count = get_uvarint(&mut data)?;
    // Every record takes at least a length byte and three framing bytes: a count the input
    // cannot hold is refused before anything is reserved.
    if count as usize > data.len() / 4 {
        return Err(Error::BatchCountExceedsInput {
            count,
            bytes: data.len(),
        });
    }
    let mut records = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let len = get_uvarint(&mut data)? as usize;
        if len > data.len() {
            return Err(kafka_protocol::Error::LengthExceedsInput {
                what: "metadata record",
                length: len,
                remaining: data.len(),
            }
            .into());
        }
        records.push(MetadataRecord::decode_bytes(data.split_to(len))?);
    }
    if !data.is_empty() {
        return Err(Error::TrailingBytes {
            remaining: data.len(),
        });
    }
    Ok(records)
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::testing::TestRng;
    use proptest::prelude::*;

    /// Every known record type.
    fn types() -> Vec<u16> {
        (0..64)
            .filter(|t| MetadataRecord::valid_versions(*t).is_some())
            .collect()
    }

    #[test]
    fn every_record_type_round_trips_at_every_version() {
        assert_eq!(types().len(), 24);
        let mut rng = TestRng::new(11);
        for t in types() {
            let range = MetadataRecord::valid_versions(t).unwrap();
            for version in range.min..=range.max {
                for _ in 0..20 {
                    let record = random(t, &mut rng, version).unwrap();
                    assert_eq!(record.record_type(), t);
                    let mut buf = BytesMut::new();
                    record.encode_message(&mut buf, version).unwrap();
                    assert_eq!(buf.len(), record.message_size(version).unwrap());
                    let mut bytes = buf.freeze();
                    let back = MetadataRecord::decode_message(t, &mut bytes, version)
                        .unwrap()
                        .unwrap();
                    assert_eq!(back, record, "type {t} v{version}");
                    assert!(bytes.is_empty());
                }
            }
            // Framed at the version written.
            let newest = range.max;
            let record = random(t, &mut rng, newest).unwrap();
            let framed = record.encode().unwrap();
            assert_eq!(framed.len(), record.framed_size().unwrap());
            assert_eq!(MetadataRecord::decode(&framed).unwrap(), record);
        }
    }

    #[test]
    fn framing_is_kafkas() {
        let record: MetadataRecord = FenceBrokerRecord::default().with_id(1).with_epoch(2).into();
        let framed = record.encode().unwrap();
        assert_eq!(
            &framed[..],
            &[1, 7, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0][..],
            "frame version 1, type 7, version 0, id, epoch, no tagged fields"
        );
    }

    #[test]
    fn framing_errors_are_typed() {
        let good = MetadataRecord::from(NoOpRecord::default())
            .encode()
            .unwrap();
        assert_eq!(&good[..], &[1, 20, 0, 0]);
        assert!(matches!(
            MetadataRecord::decode(&[2, 20, 0, 0]),
            Err(Error::UnsupportedFrameVersion(2))
        ));
        assert!(matches!(
            MetadataRecord::decode(&[1, 63, 0, 0]),
            Err(Error::UnknownRecordType(63))
        ));
        assert!(matches!(
            MetadataRecord::decode(&[1, 0xff, 0xff, 0x7f, 0, 0]),
            Err(Error::UnknownRecordType(_))
        ));
        assert!(matches!(
            MetadataRecord::decode(&[1, 20, 1, 0]),
            Err(Error::UnsupportedRecordVersion {
                record_type: 20,
                version: 1
            })
        ));
        assert!(matches!(
            MetadataRecord::decode(&[1, 20, 0, 0, 9]),
            Err(Error::TrailingBytes { remaining: 1 })
        ));
        assert!(matches!(
            MetadataRecord::decode(&[1, 7, 0, 0]),
            Err(Error::Codec(_))
        ));
        assert!(matches!(MetadataRecord::decode(&[]), Err(Error::Codec(_))));
    }

    #[test]
    fn batches_round_trip_and_bound_their_count() {
        let records: Vec<MetadataRecord> = vec![
            NoOpRecord::default().into(),
            TopicRecord::default()
                .with_name("t".into())
                .with_topic_id(kafka_protocol::Uuid::from_u64_pair(1, 2))
                .into(),
        ];
        let bytes = encode_batch(&records).unwrap();
        assert_eq!(decode_batch(&bytes).unwrap(), records);
        assert_eq!(decode_batch(&encode_batch(&[]).unwrap()).unwrap(), vec![]);
        // A count of 2^28 in five bytes: refused before anything is reserved.
        assert!(matches!(
            decode_batch(&[0x80, 0x80, 0x80, 0x80, 0x01, 0, 0, 0]),
            Err(Error::BatchCountExceedsInput { .. })
        ));
        let mut trailing = bytes.to_vec();
        trailing.push(0);
        assert!(matches!(
            decode_batch(&trailing),
            Err(Error::TrailingBytes { remaining: 1 })
        ));
        let mut long = bytes.to_vec();
        long[1] = 100;
        assert!(decode_batch(&long).is_err());
    }

    fn valid_batch(seed: u64, n: usize) -> Vec<u8> {
        let mut rng = TestRng::new(seed);
        let all = types();
        let records: Vec<MetadataRecord> = (0..n)
            .map(|_| {
                let t = all[rng.gen_below(all.len() as u64) as usize];
                let newest = MetadataRecord::valid_versions(t).unwrap().max;
                random(t, &mut rng, newest).unwrap()
            })
            .collect();
        let bytes = encode_batch(&records).unwrap();
        assert_eq!(decode_batch(&bytes).unwrap(), records);
        bytes.to_vec()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn hostile_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = MetadataRecord::decode(&input);
            let _ = decode_batch(&input);
        }

        #[test]
        fn mutated_batches_never_panic(
            seed in any::<u64>(),
            n in 0usize..6,
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
            cut in any::<usize>(),
        ) {
            let mut bytes = valid_batch(seed, n);
            for (at, v) in flips {
                if !bytes.is_empty() {
                    let i = at % bytes.len();
                    bytes[i] ^= v;
                }
            }
            let _ = decode_batch(&bytes);
            let keep = cut % (bytes.len() + 1);
            let _ = decode_batch(&bytes[..keep]);
        }
    }
}

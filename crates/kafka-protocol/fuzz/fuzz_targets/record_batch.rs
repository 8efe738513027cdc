//! Record batches on raw bytes, as a broker reads a Produce request's `records` and a consumer
//! reads a Fetch response's: framing concatenated batches (`RecordBatches`), header accessors,
//! `validate` (CRC and header checks), decompression with a limit, and record iteration, both
//! owned (`RecordIter`) and borrowed (`RecordIter::refs`), with headers and control records.
//!
//! The first input byte picks options; the rest is the records buffer:
//! - bit 0: before parsing, rewrite each batch's CRC so that it matches, so the fuzzer gets
//!   past `validate` into batches it would otherwise never see as valid;
//! - bit 1: allow a partial last batch, as a consumer does;
//! - bit 2: cap each batch at 64 KiB (`with_max_batch_size`).
//!
//! Every input must give `Ok` or `Err`, never a panic, and the owned and borrowed record
//! iterators must agree.

#![no_main]

use bytes::Bytes;
use kafka_protocol::records::{
    ControlRecordType, EndTransactionMarker, RecordBatches, LOG_OVERHEAD, RECORD_BATCH_OVERHEAD,
};
use libfuzzer_sys::fuzz_target;

/// Decompression limit: enough for real batches, small enough to keep the fuzzer fast.
const MAX_DECOMPRESSED: usize = 1 << 20;

/// Where the CRC-covered part of a batch starts, and where the CRC is.
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;

/// Rewrites the CRC of every whole batch in `buf` so that it matches.
fn fix_crcs(buf: &mut [u8]) {
    let mut pos = 0;
    while pos + LOG_OVERHEAD <= buf.len() {
        let len = i32::from_be_bytes([buf[pos + 8], buf[pos + 9], buf[pos + 10], buf[pos + 11]]);
        let Ok(len) = usize::try_from(len) else {
            return;
        };
        let size = len + LOG_OVERHEAD;
        if size < RECORD_BATCH_OVERHEAD || pos + size > buf.len() {
            return;
        }
        let crc = crc32c::crc32c(&buf[pos + ATTRIBUTES_OFFSET..pos + size]);
        buf[pos + CRC_OFFSET..pos + ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
        pos += size;
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&options, rest)) = data.split_first() else {
        return;
    };
    let mut raw = rest.to_vec();
    if options & 1 != 0 {
        fix_crcs(&mut raw);
    }
    let mut batches = RecordBatches::new(Bytes::from(raw));
    if options & 2 != 0 {
        batches = batches.allow_partial_tail();
    }
    if options & 4 != 0 {
        batches = batches.with_max_batch_size(64 * 1024);
    }
    for batch in batches.by_ref() {
        let Ok(batch) = batch else {
            break;
        };
        let valid = batch.validate().is_ok();
        if options & 1 != 0 && valid {
            assert_eq!(batch.crc(), batch.compute_crc());
        }
        // Every header accessor, on validated and unvalidated batches alike.
        let _ = (
            batch.base_offset(),
            batch.last_offset(),
            batch.next_offset(),
            batch.last_sequence(),
            batch.delete_horizon_ms(),
            batch.timestamp_type(),
            batch.compression(),
            batch.is_transactional(),
            batch.is_control_batch(),
            batch.max_timestamp(),
            batch.producer_id(),
            batch.producer_epoch(),
            batch.partition_leader_epoch(),
            batch.size_in_bytes(),
        );
        let _ = format!("{batch:?}");

        let Ok(records) = batch.records_with_limit(MAX_DECOMPRESSED) else {
            continue;
        };
        let mut borrowed = 0usize;
        for r in records.refs() {
            let Ok(r) = r else {
                break;
            };
            borrowed += 1;
            for (key, value) in r.headers() {
                let _ = (key.len(), value.map(<[u8]>::len));
            }
        }
        let mut owned = 0usize;
        for r in records {
            let Ok(record) = r else {
                break;
            };
            owned += 1;
            for header in record.headers.iter() {
                let _ = header.key_str();
            }
            if batch.is_control_batch() {
                if let Some(key) = &record.key {
                    let _ = ControlRecordType::parse_key(key);
                }
                let _ = EndTransactionMarker::from_record(&record);
            }
        }
        assert_eq!(
            owned, borrowed,
            "owned and borrowed record iteration disagree"
        );
    }
    let _ = batches.partial_tail();
});

//! Produce as a Kafka client sees it: idempotent sequences and epochs, acks, refusals, and
//! acks held until the flush with `log.flush.interval.messages=1`.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::*;
use kafka_protocol::records::RecordBatchBuilder;
use kafka_protocol::ErrorCode;
use kafka_server::Captured;
use kafka_storage::TopicPartition;

use super::{create_topic, produce};
use crate::apis::testing::Harness;

/// A batch of `n` records from an idempotent producer.
fn idempotent(producer_id: i64, epoch: i16, sequence: i32, n: usize) -> Bytes {
    let mut b = RecordBatchBuilder::new().with_producer(producer_id, epoch, sequence);
    for i in 0..n {
        let value = format!("seq-{}", i64::from(sequence) + i as i64);
        b.append(super::super::now_ms(), None, Some(value.as_bytes()))
            .unwrap();
    }
    b.build().unwrap()
}

fn answer(h: &Harness, topic: &str, acks: i16, records: Bytes) -> PartitionProduceResponse {
    let ResponseKind::Produce(r) = h.respond(9, produce(topic, 0, acks, records)) else {
        panic!("not a Produce response");
    };
    assert_eq!(r.responses.len(), 1);
    assert_eq!(r.responses[0].name, topic);
    r.responses[0].partition_responses[0].clone()
}

fn log_end(h: &Harness, topic: &str) -> i64 {
    h.state
        .logs
        .get_log(&TopicPartition {
            topic: topic.into(),
            partition: 0,
        })
        .unwrap()
        .log_end_offset()
}

fn new_producer(h: &Harness) -> (i64, i16) {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(-1)
        .with_producer_epoch(-1);
    let ResponseKind::InitProducerId(r) = h.respond(4, RequestKind::InitProducerId(req)) else {
        panic!("not an InitProducerId response");
    };
    assert_eq!(r.error_code, 0);
    assert!(r.producer_id >= 0);
    assert_eq!(r.producer_epoch, 0);
    (r.producer_id, r.producer_epoch)
}

fn assert_refused(p: &PartitionProduceResponse, code: ErrorCode) {
    assert_eq!(p.error_code, code.code(), "{p:?}");
    assert_eq!(p.base_offset, -1, "refused partitions carry no offset");
}

#[test]
fn idempotent_first_batch_duplicate_and_gap() {
    let h = Harness::new(&[]);
    create_topic(&h, "idem", 1);
    let (pid, epoch) = new_producer(&h);

    let first = idempotent(pid, epoch, 0, 3);
    let p = answer(&h, "idem", -1, first.clone());
    assert_eq!((p.error_code, p.base_offset, p.log_start_offset), (0, 0, 0));
    assert_eq!(log_end(&h, "idem"), 3);

    // A retry of the same batch answers the offsets it was written at, and is not written.
    let p = answer(&h, "idem", -1, first);
    assert_eq!((p.error_code, p.base_offset), (0, 0), "{p:?}");
    assert_eq!(log_end(&h, "idem"), 3, "nothing appended twice");

    let p = answer(&h, "idem", 1, idempotent(pid, epoch, 3, 2));
    assert_eq!((p.error_code, p.base_offset), (0, 3));
    assert_eq!(log_end(&h, "idem"), 5);

    // The next expected sequence is 5: 7 leaves a gap.
    let p = answer(&h, "idem", -1, idempotent(pid, epoch, 7, 1));
    assert_refused(&p, ErrorCode::OutOfOrderSequenceNumber);
    assert_eq!(log_end(&h, "idem"), 5);

    // A retry of an older batch that is not the last one cached still answers its offsets
    // (Kafka keeps the last five batches per producer).
    let p = answer(&h, "idem", -1, idempotent(pid, epoch, 0, 3));
    assert_eq!((p.error_code, p.base_offset), (0, 0), "{p:?}");
    assert_eq!(log_end(&h, "idem"), 5);

    // The right next sequence is still accepted after the refusal.
    let p = answer(&h, "idem", -1, idempotent(pid, epoch, 5, 1));
    assert_eq!((p.error_code, p.base_offset), (0, 5));
    assert_eq!(log_end(&h, "idem"), 6);
}

#[test]
fn idempotent_epochs_fence_and_restart_sequences() {
    let h = Harness::new(&[]);
    create_topic(&h, "epochs", 1);
    let (pid, _) = new_producer(&h);
    assert_eq!(
        answer(&h, "epochs", -1, idempotent(pid, 0, 0, 2)).error_code,
        0
    );

    // A bumped epoch (KIP-360) must start again at sequence 0.
    let p = answer(&h, "epochs", -1, idempotent(pid, 1, 2, 1));
    assert_refused(&p, ErrorCode::OutOfOrderSequenceNumber);
    let p = answer(&h, "epochs", -1, idempotent(pid, 1, 0, 1));
    assert_eq!((p.error_code, p.base_offset), (0, 2));

    // The older epoch is fenced now, even at the sequence it would have continued with.
    let p = answer(&h, "epochs", -1, idempotent(pid, 0, 2, 1));
    assert_refused(&p, ErrorCode::InvalidProducerEpoch);
    assert_eq!(log_end(&h, "epochs"), 3);
}

#[test]
fn acks_0_answers_nothing_and_closes_on_error() {
    let h = Harness::new(&[]);
    create_topic(&h, "quiet", 1);
    let (pid, epoch) = new_producer(&h);
    assert_eq!(
        h.call(9, produce("quiet", 0, 0, idempotent(pid, epoch, 0, 2))),
        Captured::NoResponse
    );
    assert_eq!(log_end(&h, "quiet"), 2);
    // Kafka closes the connection when an acks=0 produce fails, so that the client notices
    // (and refreshes its metadata) although it waits for no answer.
    assert_eq!(
        h.call(9, produce("nowhere", 0, 0, idempotent(pid, epoch, 2, 1))),
        Captured::Closed
    );
    assert_eq!(
        h.call(9, produce("quiet", 0, 0, idempotent(pid, epoch, 9, 1))),
        Captured::Closed
    );
    assert_eq!(log_end(&h, "quiet"), 2);
}

#[test]
fn unknown_topic_and_partition_are_refused() {
    let h = Harness::new(&[]);
    create_topic(&h, "known", 1);
    let p = answer(&h, "unknown", -1, super::batch(&[1]));
    assert_refused(&p, ErrorCode::UnknownTopicOrPartition);
    let ResponseKind::Produce(r) = h.respond(9, produce("known", 4, -1, super::batch(&[1]))) else {
        panic!("not a Produce response");
    };
    let p = &r.responses[0].partition_responses[0];
    assert_eq!(p.index, 4);
    assert_refused(p, ErrorCode::UnknownTopicOrPartition);
}

#[test]
fn a_corrupt_batch_is_refused_and_not_written() {
    let h = Harness::new(&[]);
    create_topic(&h, "crc", 1);
    let mut bytes = BytesMut::from(&super::batch(&[1, 2])[..]);
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    let p = answer(&h, "crc", -1, bytes.freeze());
    assert_refused(&p, ErrorCode::CorruptMessage);
    // A truncated batch (length beyond the data) is corrupt too.
    let whole = super::batch(&[1, 2]);
    let p = answer(&h, "crc", -1, whole.slice(..whole.len() - 3));
    assert_refused(&p, ErrorCode::CorruptMessage);
    assert_eq!(log_end(&h, "crc"), 0);
}

#[test]
fn a_batch_over_max_message_bytes_is_refused() {
    let h = Harness::new(&[("message.max.bytes", "1000")]);
    create_topic(&h, "big", 1);
    let mut b = RecordBatchBuilder::new();
    b.append(super::super::now_ms(), None, Some(&[7u8; 2000]))
        .unwrap();
    let p = answer(&h, "big", -1, b.build().unwrap());
    assert_refused(&p, ErrorCode::MessageTooLarge);
    assert_eq!(log_end(&h, "big"), 0);
    let p = answer(&h, "big", -1, super::batch(&[1]));
    assert_eq!((p.error_code, p.base_offset), (0, 0));
}

#[test]
fn acks_all_is_answered_after_the_flush_with_its_offsets() {
    let h = Harness::new(&[("log.flush.interval.messages", "1")]);
    create_topic(&h, "durable", 1);
    let tp = TopicPartition {
        topic: "durable".into(),
        partition: 0,
    };
    let log = h.state.logs.get_log(&tp).unwrap();
    let mut expected = 0;
    for n in [3usize, 1, 4] {
        let stamps: Vec<i64> = (0..n).map(|_| super::super::now_ms()).collect();
        let p = answer(&h, "durable", -1, super::batch(&stamps));
        assert_eq!((p.error_code, p.base_offset), (0, expected), "{p:?}");
        expected += n as i64;
        assert!(
            log.flushed_offset() >= expected,
            "answered before the records were durable: flushed {} < {expected}",
            log.flushed_offset()
        );
    }
    assert_eq!(log.log_end_offset(), 8);
    // An idempotent duplicate under the flush policy answers too.
    let (pid, epoch) = new_producer(&h);
    let first = idempotent(pid, epoch, 0, 2);
    assert_eq!(answer(&h, "durable", -1, first.clone()).base_offset, 8);
    assert_eq!(answer(&h, "durable", -1, first).base_offset, 8);
    assert_eq!(log.log_end_offset(), 10);
}

#[test]
fn a_transactional_acks_0_produce_closes_instead_of_answering() {
    let h = Harness::new(&[]);
    create_topic(&h, "txn", 1);
    let RequestKind::Produce(req) = produce("txn", 0, 0, super::batch(&[1])) else {
        unreachable!()
    };
    let req = RequestKind::Produce(req.with_transactional_id(Some("tx".into())));
    assert_eq!(h.call(9, req), Captured::Closed);
    assert_eq!(log_end(&h, "txn"), 0);
}

/// Kafka accepts an unknown producer's first batch at any sequence (its state may have
/// expired, KIP-360), and checks the sequences after it.
#[test]
fn an_unknown_producer_may_start_at_any_sequence() {
    let h = Harness::new(&[]);
    create_topic(&h, "late", 1);
    let (pid, epoch) = new_producer(&h);
    let p = answer(&h, "late", -1, idempotent(pid, epoch, 5, 2));
    assert_eq!((p.error_code, p.base_offset), (0, 0), "{p:?}");
    let p = answer(&h, "late", -1, idempotent(pid, epoch, 8, 1));
    assert_refused(&p, ErrorCode::OutOfOrderSequenceNumber);
    let p = answer(&h, "late", -1, idempotent(pid, epoch, 7, 1));
    assert_eq!((p.error_code, p.base_offset), (0, 2));
}

#[test]
fn invalid_acks_and_log_append_time() {
    let h = Harness::new(&[]);
    create_topic(&h, "acks", 1);
    let p = answer(&h, "acks", 2, super::batch(&[1]));
    assert_refused(&p, ErrorCode::InvalidRequiredAcks);
    assert_eq!(log_end(&h, "acks"), 0);

    let req = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            kafka_protocol::messages::create_topics_request::CreatableTopic::default()
                .with_name("stamped".into())
                .with_num_partitions(1)
                .with_replication_factor(1)
                .with_configs(vec![
                    kafka_protocol::messages::create_topics_request::CreatableTopicConfig::default(
                    )
                    .with_name("message.timestamp.type".into())
                    .with_value(Some("LogAppendTime".into())),
                ]),
        ]);
    let ResponseKind::CreateTopics(r) = h.respond(7, RequestKind::CreateTopics(req)) else {
        panic!("not a CreateTopics response");
    };
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0]);
    let before = super::super::now_ms();
    let p = answer(&h, "stamped", 1, super::batch(&[1, 2]));
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    assert!(p.log_append_time_ms >= before, "{p:?}");
    // CreateTime topics answer -1.
    let p = answer(&h, "acks", 1, super::batch(&[1]));
    assert_eq!((p.base_offset, p.log_append_time_ms), (0, -1));
}

/// Found by the crash torture with `--corrupt`: a garbled `producer-ids.checkpoint` in a data
/// directory from before the metadata log restarted producer ids at 0, handing a live
/// producer's id to a new one. Ids continue above every id the logs hold state for.
#[test]
fn producer_ids_continue_above_the_logs_whatever_the_old_checkpoint_says() {
    let h = Harness::new(&[]);
    super::create_topic(&h, "t", 1);
    // Enough blocks that the id is well above 0.
    let mut last = 0;
    for _ in 0..3 {
        last = new_producer(&h).0;
    }
    let r = h.respond(7, super::produce("t", 0, -1, idempotent(last, 0, 0, 2)));
    let ResponseKind::Produce(r) = r else {
        panic!("not a Produce response");
    };
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    let dir = h.dir().to_path_buf();
    let mut h = h;
    for garbage in [&b""[..], b"\xff\x00garbage", b"-5", b"0"] {
        h = h.restart_with(&[], || {
            // An older data directory: no metadata log, a garbled checkpoint.
            let _ = std::fs::remove_dir_all(dir.join("__cluster_metadata-0"));
            std::fs::write(dir.join("producer-ids.checkpoint"), garbage).unwrap();
        });
        let (id, _) = new_producer(&h);
        assert!(id > last, "{garbage:?}: {id} <= {last}");
    }
}

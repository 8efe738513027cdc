//! ListOffsets: earliest, latest, by timestamp and max timestamp, as Kafka answers them.

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::list_offsets_response::ListOffsetsPartitionResponse;
use kafka_protocol::messages::*;
use kafka_protocol::ErrorCode;

use super::{batch, create_topic, produce};
use crate::apis::testing::Harness;

fn ask(h: &Harness, version: i16, topic: &str, timestamp: i64) -> ListOffsetsPartitionResponse {
    let req = ListOffsetsRequest::default()
        .with_replica_id(-1)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic.into())
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(timestamp)])]);
    let ResponseKind::ListOffsets(r) = h.respond(version, RequestKind::ListOffsets(req)) else {
        panic!("not a ListOffsets response");
    };
    assert_eq!(r.topics[0].name, topic);
    r.topics[0].partitions[0].clone()
}

#[test]
fn by_timestamp_answers_the_first_offset_at_or_after_it_with_its_timestamp() {
    let h = Harness::new(&[]);
    create_topic(&h, "t", 1);
    // Offsets 0..=2 in one batch, 3..=4 in another; timestamps not monotonic.
    h.respond(9, produce("t", 0, 1, batch(&[1_000, 4_000, 2_000])));
    h.respond(9, produce("t", 0, 1, batch(&[3_000, 5_000])));
    let at = |ts| {
        let p = ask(&h, 8, "t", ts);
        assert_eq!(p.error_code, 0, "{p:?}");
        (p.offset, p.timestamp)
    };
    assert_eq!(at(0), (0, 1_000));
    assert_eq!(at(1_000), (0, 1_000));
    assert_eq!(at(1_001), (1, 4_000));
    assert_eq!(at(2_000), (1, 4_000));
    assert_eq!(at(4_500), (4, 5_000));
    assert_eq!(at(5_001), (-1, -1), "no record that late");

    let earliest = ask(&h, 8, "t", -2);
    assert_eq!((earliest.error_code, earliest.offset), (0, 0));
    let latest = ask(&h, 8, "t", -1);
    assert_eq!((latest.error_code, latest.offset), (0, 5));
    // Max timestamp (KIP-734, v7+): the record holding the largest timestamp.
    let max = ask(&h, 8, "t", -3);
    assert_eq!((max.error_code, max.offset, max.timestamp), (0, 4, 5_000));
}

#[test]
fn an_empty_log_and_an_unknown_partition() {
    let h = Harness::new(&[]);
    create_topic(&h, "empty", 1);
    for ts in [-2, -1] {
        let p = ask(&h, 7, "empty", ts);
        assert_eq!((p.error_code, p.offset), (0, 0));
    }
    let p = ask(&h, 7, "empty", 1_000);
    assert_eq!((p.error_code, p.offset, p.timestamp), (0, -1, -1));
    let p = ask(&h, 7, "missing", -1);
    assert_eq!(p.error_code, ErrorCode::UnknownTopicOrPartition.code());
}

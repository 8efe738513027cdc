//! The handlers driven through the dispatch with a temporary log directory and capturing
//! responders (see [`super::testing::Harness`]).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::records::RecordBatchBuilder;
use kafka_protocol::{ApiKey, ErrorCode};
use kafka_server::{Captured, Responder};

mod configs;
mod fetch;
mod groups;
mod list_offsets;
mod produce;
mod topics;

use super::advertised_apis;
use super::testing::{Harness, WAIT};

pub(super) fn batch(timestamps: &[i64]) -> Bytes {
    let mut b = RecordBatchBuilder::new();
    for (i, ts) in timestamps.iter().enumerate() {
        let value = format!("value-{i}");
        b.append(*ts, None, Some(value.as_bytes())).unwrap(); // invariant: cfg(test) only, no network or config input
    }
    b.build().unwrap() // invariant: cfg(test) only, no network or config input
}

pub(super) fn create_topic(h: &Harness, name: &str, partitions: i32) {
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name.into())
            .with_num_partitions(partitions)
            .with_replication_factor(1)]);
    let ResponseKind::CreateTopics(r) = h.respond(7, RequestKind::CreateTopics(req)) else {
        panic!("not a CreateTopics response"); // invariant: cfg(test) only, no network or config input
    };
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0]);
}

pub(super) fn produce(topic: &str, partition: i32, acks: i16, records: Bytes) -> RequestKind {
    RequestKind::Produce(
        ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(5000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic.into())
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(records.into()))])]),
    )
}

pub(super) fn fetch(topic: &str, offset: i64, max_wait_ms: i32) -> RequestKind {
    fetch_partition(topic, 0, offset, max_wait_ms)
}

pub(super) fn fetch_partition(
    topic: &str,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
) -> RequestKind {
    RequestKind::Fetch(
        FetchRequest::default()
            .with_replica_id(-1)
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(topic.into())
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(1 << 20)])]),
    )
}

#[test]
fn api_versions_answers_the_table_at_every_version() {
    let h = Harness::new(&[]);
    for version in 0..=4 {
        let ResponseKind::ApiVersions(r) = h.respond(
            version,
            RequestKind::ApiVersions(
                ApiVersionsRequest::default()
                    .with_client_software_name("harness".into())
                    .with_client_software_version("1".into()),
            ),
        ) else {
            panic!("not an ApiVersions response"); // invariant: cfg(test) only, no network or config input
        };
        assert_eq!(r.error_code, 0);
        assert_eq!(r.api_keys, advertised_apis().entries());
    }
    // A version beyond the table is the SocketServer's business: the data it gets says so.
    let apis = advertised_apis();
    assert!(!apis.is_advertised(ApiKey::ApiVersions, 5));
    let unsupported = apis.unsupported_version_response();
    assert_eq!(unsupported.error_code, ErrorCode::UnsupportedVersion.code());
    assert_eq!(unsupported.api_keys, apis.entries());
}

#[test]
fn produce_v0_to_v2_is_refused_per_partition() {
    let h = Harness::new(&[]);
    create_topic(&h, "old", 1);
    for version in 0..=2 {
        let ResponseKind::Produce(r) = h.respond(version, produce("old", 0, 1, batch(&[1]))) else {
            panic!("not a Produce response"); // invariant: cfg(test) only, no network or config input
        };
        let p = &r.responses[0].partition_responses[0];
        assert_eq!(p.error_code, ErrorCode::UnsupportedVersion.code());
    }
    let log = h
        .state
        .logs
        .get_log(&kafka_storage::TopicPartition {
            topic: "old".into(),
            partition: 0,
        })
        .unwrap(); // invariant: cfg(test) only, no network or config input
    assert_eq!(log.log_end_offset(), 0, "nothing was written");
}

#[test]
fn produce_with_acks_0_answers_nothing_but_appends() {
    let h = Harness::new(&[]);
    create_topic(&h, "fire", 1);
    assert_eq!(
        h.call(9, produce("fire", 0, 0, batch(&[1, 2]))),
        Captured::NoResponse
    );
    let ResponseKind::Produce(r) = h.respond(9, produce("fire", 0, 1, batch(&[3]))) else {
        panic!("not a Produce response"); // invariant: cfg(test) only, no network or config input
    };
    assert_eq!(r.responses[0].partition_responses[0].base_offset, 2);
}

#[test]
fn a_dropped_responder_closes_and_is_counted() {
    let body = RequestKind::ApiVersions(ApiVersionsRequest::default());
    let context = Harness::context(&body, 3);
    let (responder, capture) = Responder::capture(&context);
    drop(responder);
    assert_eq!(capture.try_take(), Some(Captured::Dropped));
    // Used once, it records exactly one outcome and nothing at drop.
    let (responder, capture) = Responder::capture(&context);
    responder.close();
    assert_eq!(capture.try_take(), Some(Captured::Closed));
    assert_eq!(capture.try_take(), None);
}

#[test]
fn a_long_poll_fetch_is_parked_then_completed_by_an_append() {
    let h = Harness::new(&[]);
    create_topic(&h, "poll", 1);
    let started = Instant::now();
    let capture = h.send(12, fetch("poll", 0, 8000));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(capture.try_take(), None, "parked: nothing to read yet");
    assert_eq!(h.state.purgatory.len(), 1);
    let ResponseKind::Produce(p) = h.respond(9, produce("poll", 0, 1, batch(&[1, 2, 3]))) else {
        panic!("not a Produce response"); // invariant: cfg(test) only, no network or config input
    };
    assert_eq!(p.responses[0].partition_responses[0].error_code, 0);
    let Some(Captured::Response(ResponseKind::Fetch(f))) = capture.wait(WAIT) else {
        panic!("the parked fetch was not answered"); // invariant: cfg(test) only, no network or config input
    };
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "woken by the append"
    );
    let d = &f.responses[0].partitions[0];
    assert_eq!(d.error_code, 0);
    assert_eq!(d.high_watermark, 3);
    assert!(d.records.as_ref().is_some_and(|r| !r.is_empty()));
}

#[test]
fn list_offsets_by_timestamp() {
    let h = Harness::new(&[]);
    create_topic(&h, "times", 1);
    for ts in [1_000, 2_000, 3_000] {
        h.respond(9, produce("times", 0, 1, batch(&[ts])));
    }
    let ask = |timestamp: i64| {
        let req = ListOffsetsRequest::default()
            .with_replica_id(-1)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name("times".into())
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(timestamp)])]);
        let ResponseKind::ListOffsets(r) = h.respond(7, RequestKind::ListOffsets(req)) else {
            panic!("not a ListOffsets response"); // invariant: cfg(test) only, no network or config input
        };
        let p = r.topics[0].partitions[0].clone();
        assert_eq!(p.error_code, 0, "{p:?}");
        p.offset
    };
    assert_eq!(ask(1_500), 1);
    assert_eq!(ask(2_000), 1);
    assert_eq!(ask(3_000), 2);
    assert_eq!(ask(9_000), -1);
    assert_eq!(ask(-2), 0, "earliest");
    assert_eq!(ask(-1), 3, "latest");
}

#[test]
fn create_topics_then_metadata() {
    let h = Harness::new(&[]);
    create_topic(&h, "made", 3);
    let req = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some("made".into()))
        ]))
        .with_allow_auto_topic_creation(false);
    let ResponseKind::Metadata(r) = h.respond(12, RequestKind::Metadata(req)) else {
        panic!("not a Metadata response"); // invariant: cfg(test) only, no network or config input
    };
    let t = &r.topics[0];
    assert_eq!(t.error_code, 0);
    assert_eq!(t.name.as_deref(), Some("made"));
    assert_eq!(t.partitions.len(), 3);
    assert_eq!(r.brokers.len(), 1);
}

#[test]
fn apis_not_served_yet_answer_with_kafkas_error() {
    let h = Harness::new(&[]);
    let ResponseKind::EndTxn(r) = h.respond(3, RequestKind::EndTxn(EndTxnRequest::default()))
    else {
        panic!("not an EndTxn response"); // invariant: cfg(test) only, no network or config input
    };
    assert_eq!(r.error_code, ErrorCode::CoordinatorNotAvailable.code());
    let ResponseKind::DescribeAcls(r) =
        h.respond(2, RequestKind::DescribeAcls(DescribeAclsRequest::default()))
    else {
        panic!("not a DescribeAcls response"); // invariant: cfg(test) only, no network or config input
    };
    assert_eq!(r.error_code, ErrorCode::SecurityDisabled.code());
}

/// DescribeQuorum: this node leads a quorum of one, and says so as Kafka's brokers do.
#[test]
fn describe_quorum_names_the_leader_and_the_voters() {
    let h = Harness::new(&[]);
    let ResponseKind::DescribeQuorum(r) = h.respond(
        2,
        RequestKind::DescribeQuorum(DescribeQuorumRequest::default()),
    ) else {
        panic!("not a DescribeQuorum response"); // invariant: cfg(test) only, no network or config input
    };
    assert_eq!(r.error_code, 0);
    let p = &r.topics[0].partitions[0];
    assert_eq!(r.topics[0].topic_name, "__cluster_metadata");
    assert_eq!(p.leader_id, 1);
    assert!(p.leader_epoch >= 1);
    assert!(
        p.high_watermark > 0,
        "the bootstrap and registration records committed"
    );
    assert_eq!(
        p.current_voters
            .iter()
            .map(|v| v.replica_id)
            .collect::<Vec<_>>(),
        vec![1]
    );
}

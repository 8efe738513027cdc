//! Fetch as a consumer sees it: sessions (KIP-227), long polls, offsets out of range; the
//! purgatory keyed by partition (what an event re-reads, watch lists, expiry, shutdown).

use std::time::{Duration, Instant};

use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::*;
use kafka_protocol::{ErrorCode, Uuid};
use kafka_server::{Captured, ResponseCapture};
use kafka_storage::TopicPartition;

use super::{batch, create_topic, fetch, produce};
use crate::apis::testing::{Harness, WAIT};

/// A fetch of `parts` (partition, offset) of `topic` in session `session_id` at `epoch`.
fn session_fetch(topic: &str, session_id: i32, epoch: i32, parts: &[(i32, i64)]) -> RequestKind {
    let topics = if parts.is_empty() {
        Vec::new()
    } else {
        vec![FetchTopic::default()
            .with_topic(topic.into())
            .with_partitions(
                parts
                    .iter()
                    .map(|&(partition, offset)| {
                        FetchPartition::default()
                            .with_partition(partition)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(1 << 20)
                    })
                    .collect(),
            )]
    };
    RequestKind::Fetch(
        FetchRequest::default()
            .with_replica_id(-1)
            .with_max_wait_ms(0)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_session_id(session_id)
            .with_session_epoch(epoch)
            .with_topics(topics),
    )
}

fn fetched(h: &Harness, version: i16, req: RequestKind) -> FetchResponse {
    let ResponseKind::Fetch(r) = h.respond(version, req) else {
        panic!("not a Fetch response");
    };
    r
}

/// (partition, high watermark, record bytes) of every partition answered.
fn partitions(r: &FetchResponse) -> Vec<(i32, i64, usize)> {
    r.responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p: &PartitionData| {
            assert_eq!(p.error_code, 0, "{p:?}");
            (
                p.partition_index,
                p.high_watermark,
                p.records.as_ref().map_or(0, |r| r.len()),
            )
        })
        .collect()
}

#[test]
fn sessions_full_then_incremental() {
    let h = Harness::new(&[]);
    create_topic(&h, "s", 2);
    for p in 0..2 {
        h.respond(9, produce("s", p, 1, batch(&[1, 2])));
    }
    // A full fetch creating a session answers every partition and the new session's id.
    let r = fetched(&h, 12, session_fetch("s", 0, 0, &[(0, 0), (1, 0)]));
    assert_eq!(r.error_code, 0);
    let id = r.session_id;
    assert!(id > 0, "a session was created");
    let got = partitions(&r);
    assert_eq!(got.len(), 2);
    assert!(
        got.iter().all(|&(_, hw, bytes)| hw == 2 && bytes > 0),
        "{got:?}"
    );

    // Next epoch: the consumer moved both offsets; nothing changed, so nothing is answered.
    let r = fetched(&h, 12, session_fetch("s", id, 1, &[(0, 2), (1, 2)]));
    assert_eq!((r.error_code, r.session_id), (0, id));
    assert_eq!(partitions(&r), vec![]);

    // Only the partition that got records is answered, without being named again.
    h.respond(9, produce("s", 1, 1, batch(&[3])));
    let r = fetched(&h, 12, session_fetch("s", id, 2, &[]));
    assert_eq!((r.error_code, r.session_id), (0, id));
    let got = partitions(&r);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0].0, got[0].1), (1, 3));
    assert!(got[0].2 > 0);

    // A stale epoch and an unknown session are refused at the top level.
    let r = fetched(&h, 12, session_fetch("s", id, 2, &[]));
    assert_eq!(r.error_code, ErrorCode::InvalidFetchSessionEpoch.code());
    let r = fetched(&h, 12, session_fetch("s", id.wrapping_add(1), 1, &[]));
    assert_eq!(r.error_code, ErrorCode::FetchSessionIdNotFound.code());
    assert!(r.responses.is_empty());

    // The session still serves its next epoch after the refusals.
    let r = fetched(&h, 12, session_fetch("s", id, 3, &[(1, 3)]));
    assert_eq!((r.error_code, r.session_id), (0, id));
    assert_eq!(partitions(&r), vec![]);

    // Closing (epoch -1) ends it: the id is unknown afterwards.
    let r = fetched(&h, 12, session_fetch("s", id, -1, &[(0, 2)]));
    assert_eq!((r.error_code, r.session_id), (0, 0));
    let r = fetched(&h, 12, session_fetch("s", id, 4, &[]));
    assert_eq!(r.error_code, ErrorCode::FetchSessionIdNotFound.code());
}

#[test]
fn a_long_poll_ends_at_max_wait_with_no_data() {
    let h = Harness::new(&[]);
    create_topic(&h, "idle", 1);
    let capture = h.send(12, fetch("idle", 0, 300));
    let Some(Captured::Response(ResponseKind::Fetch(r))) = capture.wait(WAIT) else {
        panic!("the parked fetch was not answered at its max wait");
    };
    assert_eq!(r.error_code, 0);
    let p = &r.responses[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark), (0, 0));
    assert!(p.records.as_ref().is_none_or(|r| r.is_empty()));
    assert!(h.state.purgatory.is_empty());
    assert_eq!(h.state.purgatory.watchers(&tp("idle", 0)), 0);
}

#[test]
fn offsets_out_of_range_and_at_the_end() {
    let h = Harness::new(&[]);
    create_topic(&h, "range", 1);
    h.respond(9, produce("range", 0, 1, batch(&[1, 2, 3])));
    let p = &fetched(&h, 12, fetch("range", 9, 0)).responses[0].partitions[0];
    assert_eq!(p.error_code, ErrorCode::OffsetOutOfRange.code());
    assert_eq!(p.high_watermark, 3);
    let p = &fetched(&h, 12, fetch("range", -1, 0)).responses[0].partitions[0];
    assert_eq!(p.error_code, ErrorCode::OffsetOutOfRange.code());
    // At the log end there is nothing to read, and that is no error.
    let p = &fetched(&h, 12, fetch("range", 3, 0)).responses[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark), (0, 3));
    assert!(p.records.as_ref().is_none_or(|r| r.is_empty()));
    // In the middle of a batch: the whole batch is answered, the client skips to its offset.
    let p = &fetched(&h, 12, fetch("range", 1, 0)).responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    assert!(p.records.as_ref().is_some_and(|r| !r.is_empty()));
}

#[test]
fn topic_ids_from_v13() {
    let h = Harness::new(&[]);
    create_topic(&h, "ids", 1);
    h.respond(9, produce("ids", 0, 1, batch(&[1])));
    let id = h.state.topics.get("ids").unwrap().id;
    let by_id = |topic_id: Uuid| {
        RequestKind::Fetch(
            FetchRequest::default()
                .with_replica_id(-1)
                .with_max_wait_ms(0)
                .with_min_bytes(1)
                .with_max_bytes(1 << 20)
                .with_session_epoch(-1)
                .with_topics(vec![FetchTopic::default()
                    .with_topic_id(topic_id)
                    .with_partitions(vec![FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20)])]),
        )
    };
    let r = fetched(&h, 13, by_id(id));
    assert_eq!(r.responses[0].topic_id, id);
    let p = &r.responses[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark), (0, 1));
    let unknown = Uuid([9; 16]);
    let r = fetched(&h, 13, by_id(unknown));
    assert_eq!(r.responses[0].topic_id, unknown);
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        ErrorCode::UnknownTopicId.code()
    );
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition {
        topic: topic.into(),
        partition,
    }
}

/// A sessionless long poll of `parts` (partition, offset) of `topic`.
fn long_poll(topic: &str, parts: &[(i32, i64)], max_wait_ms: i32, min_bytes: i32) -> RequestKind {
    let RequestKind::Fetch(req) = session_fetch(topic, 0, -1, parts) else {
        unreachable!()
    };
    RequestKind::Fetch(req.with_max_wait_ms(max_wait_ms).with_min_bytes(min_bytes))
}

/// Waits for the answer to a parked fetch.
fn answered(capture: &ResponseCapture) -> FetchResponse {
    match capture.wait(WAIT) {
        Some(Captured::Response(ResponseKind::Fetch(r))) => r,
        other => panic!("the parked fetch was not answered: {other:?}"),
    }
}

/// (partition, error, record bytes) of every partition answered.
fn outcome(r: &FetchResponse) -> Vec<(i32, i16, usize)> {
    r.responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| {
            (
                p.partition_index,
                p.error_code,
                p.records.as_ref().map_or(0, |r| r.len()),
            )
        })
        .collect()
}

#[test]
fn an_append_rereads_only_the_fetches_watching_its_partition() {
    let h = Harness::new(&[]);
    create_topic(&h, "w", 2);
    let purgatory = &h.state.purgatory;
    let on_a = h.send(12, long_poll("w", &[(0, 0)], 8000, 1));
    let on_b = h.send(12, long_poll("w", &[(1, 0)], 8000, 1));
    assert_eq!(purgatory.len(), 2);
    assert_eq!(purgatory.watchers(&tp("w", 0)), 1);
    assert_eq!(purgatory.watchers(&tp("w", 1)), 1);
    let before = purgatory.checks();

    h.respond(9, produce("w", 0, 1, batch(&[1, 2])));
    let r = answered(&on_a);
    let got = outcome(&r);
    assert_eq!(got.len(), 1);
    assert!(got[0].0 == 0 && got[0].1 == 0 && got[0].2 > 0, "{got:?}");

    // Give a wrongly woken fetch time to be re-read: it must not be.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        purgatory.checks() - before,
        1,
        "only the fetch on A was re-read"
    );
    assert_eq!(on_b.try_take(), None, "the fetch on B still waits");
    assert_eq!(purgatory.watchers(&tp("w", 0)), 0);
    assert_eq!(purgatory.watchers(&tp("w", 1)), 1);
    assert_eq!(purgatory.len(), 1);

    h.respond(9, produce("w", 1, 1, batch(&[3])));
    assert_eq!(outcome(&answered(&on_b))[0].0, 1);
    assert!(purgatory.is_empty());
}

#[test]
fn a_fetch_completed_through_one_partition_leaves_every_watch_list() {
    let h = Harness::new(&[]);
    create_topic(&h, "ab", 2);
    let purgatory = &h.state.purgatory;
    let capture = h.send(12, long_poll("ab", &[(0, 0), (1, 0)], 8000, 1));
    assert_eq!(purgatory.watchers(&tp("ab", 0)), 1);
    assert_eq!(purgatory.watchers(&tp("ab", 1)), 1);

    h.respond(9, produce("ab", 1, 1, batch(&[1])));
    let got = outcome(&answered(&capture));
    assert!(
        got.iter()
            .any(|&(p, e, bytes)| p == 1 && e == 0 && bytes > 0),
        "{got:?}"
    );
    assert_eq!(purgatory.watchers(&tp("ab", 0)), 0, "no leak on A");
    assert_eq!(purgatory.watchers(&tp("ab", 1)), 0);
    assert!(purgatory.is_empty());

    // An append to A afterwards finds nothing to re-read.
    let before = purgatory.checks();
    h.respond(9, produce("ab", 0, 1, batch(&[2])));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(purgatory.checks(), before);
}

#[test]
fn shutdown_answers_every_parked_fetch() {
    let h = Harness::new(&[]);
    create_topic(&h, "down", 2);
    let purgatory = &h.state.purgatory;
    let captures: Vec<_> = (0..2)
        .map(|p| h.send(12, long_poll("down", &[(p, 0)], 20_000, 1)))
        .collect();
    assert_eq!(purgatory.len(), 2);
    let started = Instant::now();
    purgatory.shutdown();
    for c in &captures {
        let got = outcome(&answered(c));
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].1, got[0].2), (0, 0), "answered empty, no error");
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(purgatory.is_empty());
    assert_eq!(purgatory.watchers(&tp("down", 0)), 0);
    assert_eq!(purgatory.watchers(&tp("down", 1)), 0);
    // A fetch that would park after shutdown is answered at once.
    let late = h.send(12, long_poll("down", &[(0, 0)], 20_000, 1));
    assert!(matches!(late.try_take(), Some(Captured::Response(_))));
}

#[test]
fn deleting_the_topic_answers_its_parked_fetches() {
    let h = Harness::new(&[]);
    create_topic(&h, "doomed", 1);
    let capture = h.send(12, long_poll("doomed", &[(0, 0)], 20_000, 1));
    assert_eq!(h.state.purgatory.watchers(&tp("doomed", 0)), 1);
    let started = Instant::now();
    let req = DeleteTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            DeleteTopicState::default().with_name(Some("doomed".into()))
        ]);
    let ResponseKind::DeleteTopics(r) = h.respond(6, RequestKind::DeleteTopics(req)) else {
        panic!("not a DeleteTopics response");
    };
    assert_eq!(r.responses[0].error_code, 0);
    let got = outcome(&answered(&capture));
    assert_eq!(got[0].1, ErrorCode::UnknownTopicOrPartition.code());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "not at max wait"
    );
    assert!(h.state.purgatory.is_empty());
}

#[test]
fn deleting_records_below_a_parked_fetch_answers_it_out_of_range() {
    let h = Harness::new(&[]);
    create_topic(&h, "cut", 1);
    h.respond(9, produce("cut", 0, 1, batch(&[1, 2, 3])));
    // Some data, fewer bytes than asked for: parked.
    let capture = h.send(12, long_poll("cut", &[(0, 0)], 20_000, 1 << 20));
    assert_eq!(h.state.purgatory.len(), 1);
    let started = Instant::now();
    let req = DeleteRecordsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![DeleteRecordsTopic::default()
            .with_name("cut".into())
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(0)
                .with_offset(2)])]);
    let ResponseKind::DeleteRecords(r) = h.respond(2, RequestKind::DeleteRecords(req)) else {
        panic!("not a DeleteRecords response");
    };
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let got = outcome(&answered(&capture));
    assert_eq!(got[0].1, ErrorCode::OffsetOutOfRange.code());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "not at max wait"
    );
}

//! Writes that fail to persist: what they changed is undone and their responses carry the
//! error, never success.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod util;

use kafka_coordinator::{CoordinatorConfig, GroupState, Reply};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::{
    DeleteGroupsRequest, OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest, ResponseKind,
};
use kafka_protocol::ErrorCode;
use util::*;

fn commit_req(
    group: &str,
    member: &str,
    generation: i32,
    parts: &[(i32, i64)],
) -> OffsetCommitRequest {
    let mut req = OffsetCommitRequest::default();
    req.group_id = group.into();
    req.member_id = member.into();
    req.generation_id_or_member_epoch = generation;
    let mut t = OffsetCommitRequestTopic::default();
    t.name = "t".into();
    t.partitions = parts
        .iter()
        .map(|(p, o)| {
            let mut x = OffsetCommitRequestPartition::default();
            x.partition_index = *p;
            x.committed_offset = *o;
            x.committed_metadata = Some(String::new());
            x
        })
        .collect();
    req.topics = vec![t];
    req
}

/// Commits as the broker does: the call, the write, then the response (rewritten if the
/// write failed).
fn commit(h: &mut Harness, req: &OffsetCommitRequest) -> Vec<i16> {
    let r = h.coord.offset_commit(h.now, 8, req);
    h.last_failure = None;
    h.drain();
    let mut body = ResponseKind::OffsetCommit(r);
    if let Some(f) = h.last_failure {
        f.fail_response(&mut body);
    }
    let ResponseKind::OffsetCommit(r) = body else {
        unreachable!()
    };
    r.topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

fn fetched(h: &Harness, group: &str, partition: i32) -> i64 {
    let mut req = OffsetFetchRequest::default();
    req.group_id = group.into();
    req.topics = None;
    let r = h.coord.offset_fetch(7, &req);
    r.topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == partition)
        .map_or(-1, |p| p.committed_offset)
}

#[test]
fn commit_not_stored_answers_error_and_keeps_old_offset() {
    let mut h = Harness::new();
    assert_eq!(
        commit(&mut h, &commit_req("s", "", -1, &[(0, 10)])),
        vec![0]
    );
    assert_eq!(h.records.len(), 1);

    h.fail_writes = Some(ErrorCode::KafkaStorageError);
    let codes = commit(&mut h, &commit_req("s", "", -1, &[(0, 20), (1, 5)]));
    assert_eq!(codes, vec![code(ErrorCode::NotCoordinator); 2]);
    assert_eq!(fetched(&h, "s", 0), 10, "the last stored offset");
    assert_eq!(fetched(&h, "s", 1), -1, "never stored");
    assert_eq!(h.records.len(), 1);

    // A group created by a commit that is not stored does not linger.
    h.fail_writes = Some(ErrorCode::MessageTooLarge);
    let codes = commit(&mut h, &commit_req("new", "", -1, &[(0, 1)]));
    assert_eq!(codes, vec![code(ErrorCode::InvalidCommitOffsetSize)]);
    assert_eq!(h.coord.group_state("new"), None);

    // Errors found before the write stay as they are.
    let mut req = commit_req("s", "", -1, &[(0, 30), (1, 6)]);
    req.topics[0].partitions[1].committed_metadata = Some("x".repeat(5000));
    h.fail_writes = Some(ErrorCode::UnknownTopicOrPartition);
    assert_eq!(
        commit(&mut h, &req),
        vec![
            code(ErrorCode::CoordinatorNotAvailable),
            code(ErrorCode::OffsetMetadataTooLarge)
        ]
    );
    assert_eq!(fetched(&h, "s", 0), 10);

    h.fail_writes = None;
    assert_eq!(
        commit(&mut h, &commit_req("s", "", -1, &[(0, 40)])),
        vec![0]
    );
    assert_eq!(fetched(&h, "s", 0), 40);
}

#[test]
fn assignment_not_stored_fails_every_sync_and_rebalances() {
    let mut h = Harness::new();
    let (a, ta) = h.join_new("g", &["t"]);
    let (b, tb) = h.join_new("g", &["t"]);
    h.advance(6_000);
    let ja = h.take_join(ta).unwrap();
    h.take_join(tb).unwrap();
    let (leader, follower) = if ja.leader == a { (a, b) } else { (b, a) };
    let generation = ja.generation_id;

    // The follower waits for the assignment; the leader's assignment cannot be stored.
    let (tf, rf) = h.sync("g", &follower, None, generation, &[]);
    assert_eq!(rf, Reply::Later);
    h.fail_writes = Some(ErrorCode::KafkaStorageError);
    let (tl, _) = h.sync(
        "g",
        &leader,
        None,
        generation,
        &[(&leader, b"L"), (&follower, b"F")],
    );
    let sl = h.take_sync(tl).expect("leader answered");
    let sf = h.take_sync(tf).expect("follower answered");
    assert_eq!(sl.error_code, code(ErrorCode::NotCoordinator));
    assert_eq!(sf.error_code, code(ErrorCode::NotCoordinator));
    assert!(sl.assignment.is_empty() && sf.assignment.is_empty());
    assert_eq!(
        h.coord.group_state("g"),
        Some(GroupState::PreparingRebalance)
    );
    assert!(h.records.is_empty(), "nothing stored");

    // Once the log takes writes again, the members rejoin and the next generation syncs.
    h.fail_writes = None;
    let (tl, _) = h.join_req(9, "g", &leader, None, range(&["t"]));
    let (tf, _) = h.join_req(9, "g", &follower, None, range(&["t"]));
    let jl = h
        .take_join(tl)
        .expect("rebalance completes when all rejoined");
    h.take_join(tf).unwrap();
    assert_eq!(jl.generation_id, generation + 1);
    let (tl, _) = h.sync("g", &leader, None, generation + 1, &[(&leader, b"L")]);
    assert_eq!(h.take_sync(tl).unwrap().assignment.as_ref(), b"L");
    assert_eq!(h.coord.group_state("g"), Some(GroupState::Stable));
    assert_eq!(h.records.len(), 1);
}

#[test]
fn delete_not_stored_keeps_the_group() {
    let mut h = Harness::new();
    commit(&mut h, &commit_req("s", "", -1, &[(0, 7)]));
    h.fail_writes = Some(ErrorCode::KafkaStorageError);
    let mut req = DeleteGroupsRequest::default();
    req.groups_names = vec!["s".into()];
    let r = h.coord.delete_groups(h.now, 2, &req);
    h.drain();
    let mut body = ResponseKind::DeleteGroups(r);
    h.last_failure
        .expect("write failed")
        .fail_response(&mut body);
    let ResponseKind::DeleteGroups(r) = body else {
        unreachable!()
    };
    assert_eq!(r.results[0].error_code, code(ErrorCode::NotCoordinator));
    assert_eq!(h.coord.group_state("s"), Some(GroupState::Empty));
    assert_eq!(fetched(&h, "s", 0), 7);

    // OffsetDelete too.
    let mut req = OffsetDeleteRequest::default();
    req.group_id = "s".into();
    let mut t = OffsetDeleteRequestTopic::default();
    t.name = "t".into();
    let mut p = OffsetDeleteRequestPartition::default();
    p.partition_index = 0;
    t.partitions = vec![p];
    req.topics = vec![t];
    h.last_failure = None;
    let r = h.coord.offset_delete(h.now, 0, &req);
    h.drain();
    let mut body = ResponseKind::OffsetDelete(r);
    h.last_failure
        .expect("write failed")
        .fail_response(&mut body);
    let ResponseKind::OffsetDelete(r) = body else {
        unreachable!()
    };
    assert_eq!(r.error_code, code(ErrorCode::NotCoordinator));
    assert_eq!(fetched(&h, "s", 0), 7);
    assert_eq!(h.coord.group_state("s"), Some(GroupState::Empty));
}

#[test]
fn expiry_not_stored_keeps_the_offsets() {
    let config = CoordinatorConfig {
        offsets_retention_minutes: 1,
        offsets_retention_check_interval_ms: 1_000,
        ..CoordinatorConfig::default()
    };
    let mut h = Harness::with_config(config);
    commit(&mut h, &commit_req("s", "", -1, &[(0, 7)]));
    h.fail_writes = Some(ErrorCode::KafkaStorageError);
    h.advance(61_000);
    assert_eq!(fetched(&h, "s", 0), 7);
    assert_eq!(h.coord.group_state("s"), Some(GroupState::Empty));
    // The next check, with the log writable again, expires them for good.
    h.fail_writes = None;
    h.advance(1_000);
    assert_eq!(h.coord.group_state("s"), None);
}

#[test]
fn static_rejoin_not_stored_reverts_to_the_old_member_id() {
    let mut h = Harness::new();
    let (ta, _) = h.join_req(5, "g", "", Some("ia"), range(&["t"]));
    h.advance(6_000);
    let a = h.take_join(ta).unwrap().member_id;
    let (tsa, _) = h.sync("g", &a, Some("ia"), 1, &[(&a, b"A")]);
    h.take_sync(tsa).unwrap();

    h.fail_writes = Some(ErrorCode::KafkaStorageError);
    h.last_failure = None;
    let (_, r) = h.join_req(5, "g", "", Some("ia"), range(&["t"]));
    let mut body = ResponseKind::JoinGroup(r.now().expect("answered at once"));
    h.last_failure
        .expect("write failed")
        .fail_response(&mut body);
    let ResponseKind::JoinGroup(r) = body else {
        unreachable!()
    };
    assert_eq!(r.error_code, code(ErrorCode::NotCoordinator));
    assert_eq!(r.member_id, "");
    assert_eq!(h.coord.member_ids("g"), Some(vec![a.clone()]));
    h.fail_writes = None;
    assert_eq!(h.heartbeat("g", &a, Some("ia"), 1), ErrorCode::None);
    assert_eq!(h.coord.group_state("g"), Some(GroupState::Stable));
}

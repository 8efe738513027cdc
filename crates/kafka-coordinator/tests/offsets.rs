//! OffsetCommit, OffsetFetch, OffsetDelete and offset expiration.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod util;

use kafka_coordinator::{CoordinatorConfig, CoordinatorRecord, GroupState};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic,
};
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetFetchRequest,
};
use kafka_protocol::ErrorCode;
use util::*;

pub fn commit_req(
    group: &str,
    member: &str,
    generation: i32,
    topic: &str,
    parts: &[(i32, i64)],
) -> OffsetCommitRequest {
    let mut req = OffsetCommitRequest::default();
    req.group_id = group.into();
    req.member_id = member.into();
    req.generation_id_or_member_epoch = generation;
    let mut t = OffsetCommitRequestTopic::default();
    t.name = topic.into();
    t.partitions = parts
        .iter()
        .map(|(p, o)| {
            let mut x = OffsetCommitRequestPartition::default();
            x.partition_index = *p;
            x.committed_offset = *o;
            x.committed_leader_epoch = 3;
            x.committed_metadata = Some(format!("m{o}"));
            x
        })
        .collect();
    req.topics = vec![t];
    req
}

fn codes(r: &OffsetCommitResponse) -> Vec<i16> {
    r.topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

#[test]
fn simple_commit_and_fetch() {
    let mut h = Harness::new();
    let r = h.coord.offset_commit(
        h.now,
        8,
        &commit_req("simple", "", -1, "t", &[(0, 10), (1, 20)]),
    );
    assert_eq!(codes(&r), vec![0, 0]);
    assert_eq!(h.coord.group_state("simple"), Some(GroupState::Empty));
    h.drain();
    assert_eq!(h.records.len(), 2);

    let mut req = OffsetFetchRequest::default();
    req.group_id = "simple".into();
    let mut t = OffsetFetchRequestTopic::default();
    t.name = "t".into();
    t.partition_indexes = vec![0, 1, 2];
    req.topics = Some(vec![t]);
    let r = h.coord.offset_fetch(7, &req);
    let parts = &r.topics[0].partitions;
    assert_eq!(parts[0].committed_offset, 10);
    assert_eq!(parts[0].committed_leader_epoch, 3);
    assert_eq!(parts[0].metadata.as_deref(), Some("m10"));
    assert_eq!(parts[1].committed_offset, 20);
    assert_eq!(parts[2].committed_offset, -1);
    assert_eq!(parts[2].metadata.as_deref(), Some(""));

    // Null topics: everything, and v8 with several groups.
    let mut req = OffsetFetchRequest::default();
    let mut g1 = OffsetFetchRequestGroup::default();
    g1.group_id = "simple".into();
    g1.topics = None;
    let mut g2 = OffsetFetchRequestGroup::default();
    g2.group_id = "unknown".into();
    g2.topics = None;
    req.groups = vec![g1, g2];
    let r = h.coord.offset_fetch(8, &req);
    assert_eq!(r.groups[0].topics[0].partitions.len(), 2);
    assert!(r.groups[1].topics.is_empty());
    assert_eq!(r.groups[1].error_code, 0);
}

#[test]
fn commit_checks_generation_and_member() {
    let mut h = Harness::new();
    // Unknown group with a generation: ILLEGAL_GENERATION before v9, GROUP_ID_NOT_FOUND in v9.
    let req = commit_req("nogroup", "m", 3, "t", &[(0, 1)]);
    assert_eq!(
        codes(&h.coord.offset_commit(h.now, 8, &req)),
        vec![code(ErrorCode::IllegalGeneration)]
    );
    assert_eq!(
        codes(&h.coord.offset_commit(h.now, 9, &req)),
        vec![code(ErrorCode::GroupIdNotFound)]
    );

    let (l, f, generation) = h.stable_pair("g");
    let ok = h
        .coord
        .offset_commit(h.now, 8, &commit_req("g", &l, generation, "t", &[(0, 5)]));
    assert_eq!(codes(&ok), vec![0]);
    let bad_gen = h.coord.offset_commit(
        h.now,
        8,
        &commit_req("g", &l, generation + 1, "t", &[(0, 6)]),
    );
    assert_eq!(codes(&bad_gen), vec![code(ErrorCode::IllegalGeneration)]);
    let stranger =
        h.coord
            .offset_commit(h.now, 8, &commit_req("g", "x", generation, "t", &[(0, 6)]));
    assert_eq!(codes(&stranger), vec![code(ErrorCode::UnknownMemberId)]);
    // A simple commit into a group with members is refused.
    let simple = h
        .coord
        .offset_commit(h.now, 8, &commit_req("g", "", -1, "t", &[(0, 6)]));
    assert_eq!(codes(&simple), vec![code(ErrorCode::UnknownMemberId)]);
    assert_eq!(h.coord.committed_offset("g", "t", 0).unwrap().0, 5);

    // During PreparingRebalance the old generation may still commit; during
    // CompletingRebalance the new generation gets REBALANCE_IN_PROGRESS.
    let (_c, _tc) = h.join_new("g", &["t"]);
    let during = h
        .coord
        .offset_commit(h.now, 8, &commit_req("g", &f, generation, "t", &[(1, 7)]));
    assert_eq!(codes(&during), vec![0]);
    let (tl, _) = h.join_req(9, "g", &l, None, range(&["t"]));
    let (_tf, _) = h.join_req(9, "g", &f, None, range(&["t"]));
    let j = h.take_join(tl).unwrap();
    let completing = h.coord.offset_commit(
        h.now,
        8,
        &commit_req("g", &l, j.generation_id, "t", &[(0, 9)]),
    );
    assert_eq!(
        codes(&completing),
        vec![code(ErrorCode::RebalanceInProgress)]
    );

    h.coord.begin_loading();
    let loading = h.coord.offset_commit(
        h.now,
        8,
        &commit_req("g", &l, j.generation_id, "t", &[(0, 9)]),
    );
    assert_eq!(
        codes(&loading),
        vec![code(ErrorCode::CoordinatorLoadInProgress)]
    );
}

#[test]
fn metadata_too_large() {
    let cfg = CoordinatorConfig {
        offset_metadata_max_bytes: 2,
        ..Default::default()
    };
    let mut h = Harness::with_config(cfg);
    let r = h
        .coord
        .offset_commit(h.now, 8, &commit_req("s", "", -1, "t", &[(0, 12345)]));
    assert_eq!(codes(&r), vec![code(ErrorCode::OffsetMetadataTooLarge)]);
}

fn delete_req(group: &str, topics: &[&str]) -> OffsetDeleteRequest {
    let mut req = OffsetDeleteRequest::default();
    req.group_id = group.into();
    req.topics = topics
        .iter()
        .map(|t| {
            let mut x = OffsetDeleteRequestTopic::default();
            x.name = (*t).into();
            let mut p = OffsetDeleteRequestPartition::default();
            p.partition_index = 0;
            x.partitions = vec![p];
            x
        })
        .collect();
    req
}

#[test]
fn offset_delete_respects_subscriptions() {
    let mut h = Harness::new();
    let (l, _f, generation) = h.stable_pair("g");
    h.coord
        .offset_commit(h.now, 8, &commit_req("g", &l, generation, "t", &[(0, 5)]));
    h.coord.offset_commit(
        h.now,
        8,
        &commit_req("g", &l, generation, "other", &[(0, 5)]),
    );
    let r = h
        .coord
        .offset_delete(h.now, 0, &delete_req("g", &["t", "other"]));
    assert_eq!(r.error_code, 0);
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        code(ErrorCode::GroupSubscribedToTopic)
    );
    assert_eq!(r.topics[1].partitions[0].error_code, 0);
    assert!(h.coord.committed_offset("g", "other", 0).is_none());
    assert!(h.coord.committed_offset("g", "t", 0).is_some());
    let r = h
        .coord
        .offset_delete(h.now, 0, &delete_req("missing", &["t"]));
    assert_eq!(r.error_code, code(ErrorCode::GroupIdNotFound));

    // An empty group: everything goes, and the group with it.
    h.coord
        .offset_commit(h.now, 8, &commit_req("s", "", -1, "t", &[(0, 1)]));
    let r = h.coord.offset_delete(h.now, 0, &delete_req("s", &["t"]));
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    assert!(h.coord.group_state("s").is_none());
    h.drain();
    assert!(h
        .records
        .iter()
        .any(|r| matches!(r, CoordinatorRecord::GroupTombstone { group_id } if group_id == "s")));
}

#[test]
fn offsets_of_empty_groups_expire() {
    let cfg = CoordinatorConfig {
        offsets_retention_minutes: 1,
        offsets_retention_check_interval_ms: 1_000,
        ..Default::default()
    };
    let mut h = Harness::with_config(cfg);
    h.coord
        .offset_commit(h.now, 8, &commit_req("s", "", -1, "t", &[(0, 1)]));
    h.advance(59_000);
    assert!(h.coord.committed_offset("s", "t", 0).is_some());
    h.advance(1_000);
    assert!(h.coord.committed_offset("s", "t", 0).is_none());
    assert!(h.coord.group_state("s").is_none());
    h.drain();
    assert!(h
        .records
        .iter()
        .any(|r| matches!(r, CoordinatorRecord::OffsetTombstone { .. })));
}

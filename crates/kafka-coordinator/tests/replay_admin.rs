//! Records and replay; DescribeGroups, ListGroups, DeleteGroups.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod util;

use kafka_coordinator::{
    CoordinatorConfig, CoordinatorRecord, GroupCoordinator, GroupState, RecordError,
};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    DeleteGroupsRequest, DescribeGroupsRequest, ListGroupsRequest, OffsetCommitRequest,
};
use kafka_protocol::ErrorCode;
use util::*;

fn commit(
    h: &mut Harness,
    group: &str,
    member: &str,
    generation: i32,
    partition: i32,
    offset: i64,
) {
    let mut req = OffsetCommitRequest::default();
    req.group_id = group.into();
    req.member_id = member.into();
    req.generation_id_or_member_epoch = generation;
    let mut t = OffsetCommitRequestTopic::default();
    t.name = "t".into();
    let mut p = OffsetCommitRequestPartition::default();
    p.partition_index = partition;
    p.committed_offset = offset;
    p.committed_leader_epoch = 4;
    p.committed_metadata = None;
    t.partitions = vec![p];
    req.topics = vec![t];
    let r = h.coord.offset_commit(h.now, 8, &req);
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    h.drain();
}

#[test]
fn replay_restores_offsets_and_groups() {
    let mut h = Harness::new();
    let (l, f, generation) = h.stable_pair("g");
    commit(&mut h, "g", &l, generation, 0, 100);
    commit(&mut h, "g", &f, generation, 1, 200);
    commit(&mut h, "g", &l, generation, 0, 150);
    commit(&mut h, "s", "", -1, 0, 7);
    commit(&mut h, "gone", "", -1, 0, 1);
    let r = h.coord.delete_groups(h.now, 2, &{
        let mut d = DeleteGroupsRequest::default();
        d.groups_names = vec!["gone".into()];
        d
    });
    assert_eq!(r.results[0].error_code, 0);
    h.drain();

    // Through the binary format, as the broker's log would hold them.
    let stored: Vec<Vec<u8>> = h.records.iter().map(|r| r.encode().unwrap()).collect();
    let mut restored = GroupCoordinator::new(CoordinatorConfig::default(), h.now);
    restored.begin_loading();
    for bytes in &stored {
        restored.replay(CoordinatorRecord::decode(bytes).unwrap());
    }
    let mut hb = kafka_protocol::messages::HeartbeatRequest::default();
    hb.group_id = "g".into();
    hb.member_id = l.clone();
    hb.generation_id = generation;
    assert_eq!(
        restored.heartbeat(h.now, 4, &hb).error_code,
        code(ErrorCode::CoordinatorLoadInProgress)
    );
    restored.finish_loading(h.now);

    assert_eq!(
        restored.committed_offset("g", "t", 0),
        Some((150, 4, String::new()))
    );
    assert_eq!(
        restored.committed_offset("g", "t", 1),
        Some((200, 4, String::new()))
    );
    assert_eq!(
        restored.committed_offset("s", "t", 0),
        Some((7, 4, String::new()))
    );
    assert!(restored.group_state("gone").is_none());
    assert_eq!(restored.group_state("g"), Some(GroupState::Stable));
    assert_eq!(restored.generation("g"), Some(generation));
    // Members carry on: heartbeats and syncs with the old ids work.
    assert_eq!(restored.heartbeat(h.now, 4, &hb).error_code, 0);
    let mut sync = kafka_protocol::messages::SyncGroupRequest::default();
    sync.group_id = "g".into();
    sync.member_id = f.clone();
    sync.generation_id = generation;
    let s = restored
        .sync_group(h.now, kafka_coordinator::ResponseToken(1), 5, &sync)
        .now()
        .unwrap();
    assert_eq!(s.assignment.as_ref(), b"F");
    // Silent restored members expire after their session timeout.
    restored.poll(h.now + SESSION as u64 + 1);
    assert_eq!(restored.group_state("g"), Some(GroupState::Empty));
    assert_eq!(restored.generation("g"), Some(generation + 1));
    let write = restored.take_records().expect("records to store");
    assert!(write.records().iter().any(|r| matches!(r,
        CoordinatorRecord::GroupMetadata { members, .. } if members.is_empty())));
    restored.write_completed(write);
}

#[test]
fn corrupt_records_are_rejected() {
    let rec = CoordinatorRecord::OffsetCommit {
        group_id: "g".into(),
        topic: "t".into(),
        partition: 0,
        offset: 1,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp: 0,
        expire_timestamp: None,
    };
    let bytes = rec.encode().unwrap();
    assert_eq!(CoordinatorRecord::decode(&bytes).unwrap(), rec);
    assert!(matches!(
        CoordinatorRecord::decode(&bytes[..bytes.len() - 1]),
        Err(RecordError::Truncated(_))
    ));
    assert!(matches!(
        CoordinatorRecord::decode(&[]),
        Err(RecordError::Truncated(_))
    ));
    assert_eq!(
        CoordinatorRecord::decode(&[200, 0]),
        Err(RecordError::UnknownType(200))
    );
    let mut long = bytes.clone();
    long.extend_from_slice(&[1, 2, 3]);
    assert_eq!(
        CoordinatorRecord::decode(&long),
        Err(RecordError::TrailingBytes(3))
    );
}

#[test]
fn describe_list_delete() {
    let mut h = Harness::new();
    let (l, f, _generation) = h.stable_pair("g");
    commit(&mut h, "s", "", -1, 0, 7);

    let mut req = DescribeGroupsRequest::default();
    req.groups = vec!["g".into(), "s".into(), "missing".into()];
    let r = h.coord.describe_groups(5, &req);
    let g = &r.groups[0];
    assert_eq!(g.group_state, "Stable");
    assert_eq!(g.protocol_type, "consumer");
    assert_eq!(g.protocol_data, "range");
    assert_eq!(g.members.len(), 2);
    let lm = g.members.iter().find(|m| m.member_id == l).unwrap();
    assert_eq!(lm.client_id, "client");
    assert_eq!(lm.client_host, "/127.0.0.1");
    assert_eq!(lm.member_assignment.as_ref(), b"L");
    assert_eq!(lm.member_metadata, subscription(&["t"]));
    assert_eq!(r.groups[1].group_state, "Empty");
    assert_eq!(r.groups[1].protocol_type, "");
    assert_eq!(r.groups[2].group_state, "Dead");
    assert_eq!(r.groups[2].error_code, 0);

    let r = h.coord.list_groups(5, &ListGroupsRequest::default());
    let listed: Vec<_> = r
        .groups
        .iter()
        .map(|g| (g.group_id.as_str(), g.group_state.as_str()))
        .collect();
    assert_eq!(listed, vec![("g", "Stable"), ("s", "Empty")]);
    let mut req = ListGroupsRequest::default();
    req.states_filter = vec!["empty".into()];
    assert_eq!(h.coord.list_groups(5, &req).groups.len(), 1);
    let mut req = ListGroupsRequest::default();
    req.types_filter = vec!["consumer".into()];
    assert!(h.coord.list_groups(5, &req).groups.is_empty());

    let mut req = DeleteGroupsRequest::default();
    req.groups_names = vec!["g".into(), "s".into(), "missing".into()];
    let r = h.coord.delete_groups(h.now, 2, &req);
    let codes: Vec<i16> = r.results.iter().map(|x| x.error_code).collect();
    assert_eq!(
        codes,
        vec![
            code(ErrorCode::NonEmptyGroup),
            0,
            code(ErrorCode::GroupIdNotFound)
        ]
    );
    assert!(h.coord.group_state("s").is_none());
    let _ = f;
}

/// A coordinator standing in for partitions another broker leads refuses every group API
/// with NOT_COORDINATOR, so clients look the coordinator up again; it writes nothing.
#[test]
fn a_refusing_coordinator_answers_not_coordinator_everywhere() {
    let mut h = Harness::new();
    h.coord = GroupCoordinator::refusing(
        CoordinatorConfig::default(),
        h.now,
        ErrorCode::NotCoordinator,
    );
    let not = code(ErrorCode::NotCoordinator);
    let (_, joined) = h.join_req(5, "g", "", None, range(&["t"]));
    assert_eq!(joined.now().unwrap().error_code, not);
    let mut hb = kafka_protocol::messages::HeartbeatRequest::default();
    hb.group_id = "g".into();
    assert_eq!(h.coord.heartbeat(h.now, 4, &hb).error_code, not);
    let commit = h.coord.offset_commit(h.now, 8, &{
        let mut r = OffsetCommitRequest::default();
        r.group_id = "g".into();
        r.generation_id_or_member_epoch = -1;
        r.topics = vec![{
            let mut t = OffsetCommitRequestTopic::default();
            t.name = "t".into();
            t.partitions = vec![{
                let mut p = OffsetCommitRequestPartition::default();
                p.committed_offset = 5;
                p
            }];
            t
        }];
        r
    });
    assert_eq!(commit.topics[0].partitions[0].error_code, not);
    let described = h.coord.describe_groups(5, &{
        let mut d = DescribeGroupsRequest::default();
        d.groups = vec!["g".into()];
        d
    });
    assert_eq!(described.groups[0].error_code, not);
    let deleted = h.coord.delete_groups(h.now, 2, &{
        let mut d = DeleteGroupsRequest::default();
        d.groups_names = vec!["g".into()];
        d
    });
    assert_eq!(deleted.results[0].error_code, not);
    assert!(!h.coord.is_loading());
    assert!(h.coord.take_records().is_none());
}

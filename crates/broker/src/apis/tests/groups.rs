//! Consumer groups through the dispatch: one member's whole life, and a commit the group log
//! refuses answered as an error.

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::ErrorCode;

use crate::apis::testing::Harness;

const GROUP: &str = "g";

/// What a client does first: finds the group's coordinator (creating `__consumer_offsets`).
fn find_coordinator(h: &Harness) -> i32 {
    let req = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(vec![GROUP.into()]);
    let ResponseKind::FindCoordinator(r) = h.respond(4, RequestKind::FindCoordinator(req)) else {
        panic!("not a FindCoordinator response");
    };
    assert_eq!(r.coordinators[0].error_code, 0, "{r:?}");
    assert_eq!(r.coordinators[0].node_id, h.state.meta.node_id);
    h.state
        .groups
        .partition_for(GROUP)
        .expect("__consumer_offsets exists once a coordinator was found")
}

fn join(h: &Harness, member_id: &str) -> JoinGroupResponse {
    let req = JoinGroupRequest::default()
        .with_group_id(GROUP.into())
        .with_session_timeout_ms(30_000)
        .with_rebalance_timeout_ms(30_000)
        .with_member_id(member_id.into())
        .with_protocol_type("consumer".into())
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name("range".into())
            .with_metadata(Bytes::from_static(b"subscription"))]);
    let ResponseKind::JoinGroup(r) = h.respond(7, RequestKind::JoinGroup(req)) else {
        panic!("not a JoinGroup response");
    };
    r
}

fn heartbeat(h: &Harness, generation: i32, member_id: &str) -> i16 {
    let req = HeartbeatRequest::default()
        .with_group_id(GROUP.into())
        .with_generation_id(generation)
        .with_member_id(member_id.into());
    let ResponseKind::Heartbeat(r) = h.respond(4, RequestKind::Heartbeat(req)) else {
        panic!("not a Heartbeat response");
    };
    r.error_code
}

/// Commits `offset` with `metadata` for partitions `0..partitions` of topic "t".
fn commit(
    h: &Harness,
    generation: i32,
    member_id: &str,
    partitions: i32,
    offset: i64,
    metadata: &str,
) -> Vec<i16> {
    // Commits to partitions that do not exist are refused before the coordinator: the topic
    // these tests commit to exists, with room for the largest commit.
    if h.state.topics.get("t").is_none() {
        super::create_topic(h, "t", 300);
    }
    let req = OffsetCommitRequest::default()
        .with_group_id(GROUP.into())
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(member_id.into())
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name("t".into())
            .with_partitions(
                (0..partitions)
                    .map(|p| {
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(p)
                            .with_committed_offset(offset)
                            .with_committed_leader_epoch(-1)
                            .with_committed_metadata(Some(metadata.into()))
                    })
                    .collect(),
            )]);
    let ResponseKind::OffsetCommit(r) = h.respond(8, RequestKind::OffsetCommit(req)) else {
        panic!("not an OffsetCommit response");
    };
    r.topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

/// Committed offsets of partitions `0..partitions` of "t".
fn committed(h: &Harness, partitions: i32) -> Vec<i64> {
    let req = OffsetFetchRequest::default()
        .with_group_id(GROUP.into())
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name("t".into())
            .with_partition_indexes((0..partitions).collect())]));
    let ResponseKind::OffsetFetch(r) = h.respond(7, RequestKind::OffsetFetch(req)) else {
        panic!("not an OffsetFetch response");
    };
    assert_eq!(r.error_code, 0);
    r.topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| {
            assert_eq!(p.error_code, 0, "{p:?}");
            p.committed_offset
        })
        .collect()
}

#[test]
fn one_member_joins_syncs_commits_and_leaves() {
    let h = Harness::new(&[("group.initial.rebalance.delay.ms", "0")]);
    find_coordinator(&h);
    // KIP-394: the first join of an unknown member is answered with its id, to join with.
    let r = join(&h, "");
    assert_eq!(r.error_code, ErrorCode::MemberIdRequired.code());
    let member = r.member_id;
    assert!(!member.is_empty());

    let r = join(&h, &member);
    assert_eq!(r.error_code, 0, "{r:?}");
    assert_eq!(r.generation_id, 1);
    assert_eq!(
        (r.leader.as_str(), r.member_id.as_str()),
        (&*member, &*member)
    );
    assert_eq!(r.protocol_name.as_deref(), Some("range"));
    assert_eq!(r.members.len(), 1, "the leader gets the members");
    assert_eq!(&r.members[0].metadata[..], b"subscription");

    let req = SyncGroupRequest::default()
        .with_group_id(GROUP.into())
        .with_generation_id(1)
        .with_member_id(member.clone())
        .with_protocol_type(Some("consumer".into()))
        .with_protocol_name(Some("range".into()))
        .with_assignments(vec![SyncGroupRequestAssignment::default()
            .with_member_id(member.clone())
            .with_assignment(Bytes::from_static(b"t-0,t-1"))]);
    let ResponseKind::SyncGroup(s) = h.respond(5, RequestKind::SyncGroup(req)) else {
        panic!("not a SyncGroup response");
    };
    assert_eq!(s.error_code, 0, "{s:?}");
    assert_eq!(&s.assignment[..], b"t-0,t-1");

    assert_eq!(heartbeat(&h, 1, &member), 0);
    assert_eq!(
        heartbeat(&h, 0, &member),
        ErrorCode::IllegalGeneration.code()
    );

    assert_eq!(commit(&h, 1, &member, 2, 42, "m"), vec![0, 0]);
    assert_eq!(committed(&h, 2), vec![42, 42]);
    assert_eq!(
        commit(&h, 2, &member, 1, 43, "m"),
        vec![ErrorCode::IllegalGeneration.code()]
    );
    assert_eq!(
        commit(&h, 1, "stranger", 1, 43, "m"),
        vec![ErrorCode::UnknownMemberId.code()]
    );
    assert_eq!(committed(&h, 2), vec![42, 42]);

    let req = LeaveGroupRequest::default()
        .with_group_id(GROUP.into())
        .with_members(vec![
            MemberIdentity::default().with_member_id(member.clone())
        ]);
    let ResponseKind::LeaveGroup(l) = h.respond(4, RequestKind::LeaveGroup(req)) else {
        panic!("not a LeaveGroup response");
    };
    assert_eq!(l.error_code, 0);
    assert_eq!(l.members[0].error_code, 0);
    assert_eq!(heartbeat(&h, 1, &member), ErrorCode::UnknownMemberId.code());
    // The group's offsets outlive its members.
    assert_eq!(committed(&h, 2), vec![42, 42]);
}

/// A commit whose records the group log refuses (together over `message.max.bytes`) answers
/// INVALID_COMMIT_OFFSET_SIZE on every partition through the dispatch, and OffsetFetch never
/// shows it.
#[test]
fn a_commit_the_group_log_refuses_answers_an_error() {
    let h = Harness::new(&[]);
    find_coordinator(&h);
    assert_eq!(commit(&h, -1, "", 300, 5, "m"), vec![0; 300]);
    assert_eq!(
        commit(&h, -1, "", 300, 9, &"x".repeat(4000)),
        vec![ErrorCode::InvalidCommitOffsetSize.code(); 300]
    );
    assert_eq!(committed(&h, 300), vec![5; 300]);
    // A commit the log takes afterwards is stored as usual.
    assert_eq!(commit(&h, -1, "", 300, 6, "m"), vec![0; 300]);
    assert_eq!(committed(&h, 300), vec![6; 300]);
}

/// A consumer of `__consumer_offsets` parked at its end wakes on the group's next write, as on
/// any other partition, instead of waiting out its max wait.
#[test]
fn a_group_write_wakes_fetches_parked_on_the_group_log() {
    let h = Harness::new(&[]);
    let partition = find_coordinator(&h);
    let log = h
        .state
        .logs
        .get_log(&kafka_storage::TopicPartition {
            topic: "__consumer_offsets".into(),
            partition,
        })
        .expect("the group log exists");
    let capture = h.send(
        12,
        super::fetch_partition(
            "__consumer_offsets",
            partition,
            log.log_end_offset(),
            60_000,
        ),
    );
    assert!(capture.try_take().is_none(), "nothing to read yet: parked");
    assert_eq!(commit(&h, -1, "", 1, 42, ""), vec![0]);
    match capture.wait(std::time::Duration::from_secs(10)) {
        Some(kafka_server::Captured::Response(ResponseKind::Fetch(r))) => {
            let p = &r.responses[0].partitions[0];
            assert_eq!(p.error_code, 0);
            assert!(p.records.as_ref().is_some_and(|r| !r.is_empty()));
        }
        other => panic!("the parked fetch was not woken by the commit: {other:?}"),
    }
}

/// Groups hash to the `__consumer_offsets` partition Kafka would pick; a broker serves only the
/// groups of partitions it has loaded, refusing the others with NOT_COORDINATOR (and
/// FindCoordinator with COORDINATOR_NOT_AVAILABLE) until it loads them again, offsets intact.
#[test]
fn a_group_is_served_only_while_its_partition_is_loaded() {
    let h = Harness::new(&[("offsets.topic.num.partitions", "4")]);
    let partition = find_coordinator(&h);
    assert_eq!(h.state.groups.partition_count(), 4);
    assert_eq!(
        partition,
        kafka_coordinator::offsets_partition_for(GROUP, 4),
        "Kafka's partitionFor"
    );
    assert_eq!(commit(&h, -1, "", 1, 7, ""), vec![0]);

    h.state.groups.unload(partition);
    assert_eq!(
        commit(&h, -1, "", 1, 8, ""),
        vec![ErrorCode::NotCoordinator.code()]
    );
    let req = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(vec![GROUP.into()]);
    let ResponseKind::FindCoordinator(r) = h.respond(4, RequestKind::FindCoordinator(req)) else {
        panic!("not a FindCoordinator response");
    };
    assert_eq!(
        r.coordinators[0].error_code,
        ErrorCode::CoordinatorNotAvailable.code()
    );

    h.state.groups.load(partition).unwrap();
    assert_eq!(committed(&h, 1), vec![7]);
}

/// A data directory of an earlier version holds every group in `__consumer_offsets-0` and has
/// no metadata log: the log is taken over as a one-partition topic, so every group still hashes
/// to the partition that holds its offsets, whatever `offsets.topic.num.partitions` says.
#[test]
fn an_earlier_single_partition_group_log_is_taken_over() {
    let h = Harness::new(&[("offsets.topic.num.partitions", "1")]);
    super::create_topic(&h, "t", 2);
    find_coordinator(&h);
    assert_eq!(commit(&h, -1, "", 2, 11, "m"), vec![0, 0]);
    let dir = h.dir().to_path_buf();
    let h = h.restart_with(&[("offsets.topic.num.partitions", "50")], || {
        // What earlier versions left: the logs, but no metadata log.
        std::fs::remove_dir_all(dir.join("__cluster_metadata-0")).unwrap();
    });
    assert_eq!(h.state.groups.partition_count(), 1);
    let topic = h
        .state
        .topics
        .get("__consumer_offsets")
        .expect("taken over");
    assert_eq!(topic.partitions, 1);
    assert_eq!(
        topic.configs.get("cleanup.policy").map(String::as_str),
        Some("compact"),
        "offsets are compacted, never deleted by time retention"
    );
    find_coordinator(&h);
    assert_eq!(committed(&h, 2), vec![11, 11]);
}

/// Offsets for a topic or partition that does not exist are refused per partition with
/// UNKNOWN_TOPIC_OR_PARTITION, as Kafka answers, while the partitions that exist commit; a
/// request with nothing that exists creates no group.
#[test]
fn commits_to_partitions_that_do_not_exist_are_refused_per_partition() {
    let h = Harness::new(&[]);
    super::create_topic(&h, "real", 2);
    find_coordinator(&h);
    let partition = |p: i32| {
        OffsetCommitRequestPartition::default()
            .with_partition_index(p)
            .with_committed_offset(7)
            .with_committed_leader_epoch(-1)
    };
    let req = |group: &str| {
        OffsetCommitRequest::default()
            .with_group_id(group.into())
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name("real".into())
                    .with_partitions(vec![partition(0), partition(2), partition(1)]),
                OffsetCommitRequestTopic::default()
                    .with_name("missing".into())
                    .with_partitions(vec![partition(0)]),
            ])
    };
    let ResponseKind::OffsetCommit(r) = h.respond(8, RequestKind::OffsetCommit(req(GROUP))) else {
        panic!("not an OffsetCommit response");
    };
    let mut answers: Vec<(String, i32, i16)> = r
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.clone(), p.partition_index, p.error_code))
        })
        .collect();
    answers.sort();
    let unknown = ErrorCode::UnknownTopicOrPartition.code();
    assert_eq!(
        answers,
        vec![
            ("missing".into(), 0, unknown),
            ("real".into(), 0, 0),
            ("real".into(), 1, 0),
            ("real".into(), 2, unknown),
        ]
    );

    let only_missing = OffsetCommitRequest::default()
        .with_group_id("ghost".into())
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name("missing".into())
            .with_partitions(vec![partition(0)])]);
    let ResponseKind::OffsetCommit(r) = h.respond(8, RequestKind::OffsetCommit(only_missing))
    else {
        panic!("not an OffsetCommit response");
    };
    assert_eq!(r.topics[0].partitions[0].error_code, unknown);
    let ResponseKind::ListGroups(l) = h.respond(
        4,
        RequestKind::ListGroups(kafka_protocol::messages::ListGroupsRequest::default()),
    ) else {
        panic!("not a ListGroups response");
    };
    assert!(l.groups.iter().all(|g| g.group_id != "ghost"), "{l:?}");
}

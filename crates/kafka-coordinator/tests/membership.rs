//! Join, sync, heartbeat, leave and the timers, with simulated time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod util;

use kafka_coordinator::{CoordinatorConfig, GroupState, Reply};
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::{JoinGroupRequest, LeaveGroupRequest};
use kafka_protocol::ErrorCode;
use util::*;

#[test]
fn two_members_two_step_join_leader_gets_metadata_and_syncs() {
    let mut h = Harness::new();
    let (a, ta) = h.join_new("g", &["t"]);
    assert_eq!(
        h.coord.group_state("g"),
        Some(GroupState::PreparingRebalance)
    );
    h.advance(1_000);
    let (b, tb) = h.join_new("g", &["t"]);
    // Initial delay: nothing before 3 s, then extended once because b joined.
    h.advance(2_000);
    assert!(h.take_join(ta).is_none());
    h.advance(2_999);
    assert!(h.take_join(ta).is_none());
    h.advance(1);
    let ja = h.take_join(ta).expect("leader answered");
    let jb = h.take_join(tb).expect("follower answered");
    assert_eq!(ja.error_code, 0);
    assert_eq!(ja.generation_id, 1);
    assert_eq!(ja.leader, a);
    assert_eq!(ja.protocol_name.as_deref(), Some("range"));
    assert_eq!(ja.protocol_type.as_deref(), Some("consumer"));
    assert!(!ja.skip_assignment);
    let mut ids: Vec<_> = ja.members.iter().map(|m| m.member_id.clone()).collect();
    ids.sort();
    let mut want = vec![a.clone(), b.clone()];
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(ja.members[0].metadata, subscription(&["t"]));
    assert_eq!(jb.leader, a);
    assert!(jb.members.is_empty());
    assert_eq!(
        h.coord.group_state("g"),
        Some(GroupState::CompletingRebalance)
    );

    // The follower syncs first and waits; the leader's sync releases both.
    let (tfb, rb) = h.sync("g", &b, None, 1, &[]);
    assert_eq!(rb, Reply::Later);
    let (tfa, ra) = h.sync("g", &a, None, 1, &[(&a, b"for-a"), (&b, b"for-b")]);
    assert_eq!(ra, Reply::Later);
    assert_eq!(h.take_sync(tfa).unwrap().assignment.as_ref(), b"for-a");
    let sb = h.take_sync(tfb).unwrap();
    assert_eq!(sb.assignment.as_ref(), b"for-b");
    assert_eq!(sb.protocol_name.as_deref(), Some("range"));
    assert_eq!(h.coord.group_state("g"), Some(GroupState::Stable));
    // The completed generation was persisted with the assignments.
    assert!(h.records.iter().any(|r| matches!(r,
        kafka_coordinator::CoordinatorRecord::GroupMetadata { generation_id: 1, members, .. } if members.len() == 2)));
    assert_eq!(h.heartbeat("g", &a, None, 1), ErrorCode::None);
}

#[test]
fn third_member_triggers_rebalance_and_everyone_rejoins() {
    let mut h = Harness::new();
    let (l, f, generation) = h.stable_pair("g");
    let (c, tc) = h.join_new("g", &["t"]);
    assert_eq!(
        h.coord.group_state("g"),
        Some(GroupState::PreparingRebalance)
    );
    assert_eq!(
        h.heartbeat("g", &l, None, generation),
        ErrorCode::RebalanceInProgress
    );
    assert_eq!(
        h.heartbeat("g", &f, None, generation),
        ErrorCode::RebalanceInProgress
    );
    let (tl, rl) = h.join_req(9, "g", &l, None, range(&["t"]));
    assert_eq!(rl, Reply::Later);
    assert!(h.take_join(tc).is_none(), "waits for every member");
    let (tf, _) = h.join_req(9, "g", &f, None, range(&["t"]));
    // Everyone rejoined: no delay outside an empty group's first rebalance.
    let jl = h.take_join(tl).unwrap();
    let jf = h.take_join(tf).unwrap();
    let jc = h.take_join(tc).unwrap();
    assert_eq!(jl.generation_id, generation + 1);
    assert_eq!(jl.leader, l);
    assert_eq!(jl.members.len(), 3);
    assert!(jf.members.is_empty() && jc.members.is_empty());
    assert_eq!(jc.member_id, c);
    // Old generation is now illegal.
    assert_eq!(
        h.heartbeat("g", &f, None, generation),
        ErrorCode::IllegalGeneration
    );
}

#[test]
fn leaving_member_triggers_rebalance() {
    let mut h = Harness::new();
    let (l, f, generation) = h.stable_pair("g");
    let mut req = LeaveGroupRequest::default();
    req.group_id = "g".into();
    let mut m = MemberIdentity::default();
    m.member_id = f.clone();
    req.members = vec![m];
    let r = h.coord.leave_group(h.now, 3, &req);
    assert_eq!(r.error_code, 0);
    assert_eq!(r.members[0].error_code, 0);
    assert_eq!(
        h.coord.group_state("g"),
        Some(GroupState::PreparingRebalance)
    );
    let (tl, _) = h.join_req(9, "g", &l, None, range(&["t"]));
    let jl = h
        .take_join(tl)
        .expect("completes at once: the only member rejoined");
    assert_eq!(jl.generation_id, generation + 1);
    assert_eq!(jl.members.len(), 1);
    // Leaving again with an unknown id (v0 form): UNKNOWN_MEMBER_ID at the top level.
    let mut req = LeaveGroupRequest::default();
    req.group_id = "g".into();
    req.member_id = f;
    let r = h.coord.leave_group(h.now, 0, &req);
    assert_eq!(r.error_code, code(ErrorCode::UnknownMemberId));
}

#[test]
fn member_that_stops_heartbeating_is_removed_after_session_timeout() {
    let mut h = Harness::new();
    let (l, f, generation) = h.stable_pair("g");
    // The leader heartbeats every 3 s; the follower is silent.
    for _ in 0..3 {
        h.advance(3_000);
        assert_eq!(h.heartbeat("g", &l, None, generation), ErrorCode::None);
        assert_eq!(h.coord.group_state("g"), Some(GroupState::Stable));
    }
    h.advance(1_001);
    assert_eq!(
        h.coord.group_state("g"),
        Some(GroupState::PreparingRebalance)
    );
    assert_eq!(h.coord.member_ids("g").unwrap(), vec![l.clone()]);
    assert_eq!(
        h.heartbeat("g", &l, None, generation),
        ErrorCode::RebalanceInProgress
    );
    assert_eq!(
        h.heartbeat("g", &f, None, generation),
        ErrorCode::UnknownMemberId
    );
    let (tl, _) = h.join_req(9, "g", &l, None, range(&["t"]));
    assert_eq!(h.take_join(tl).unwrap().generation_id, generation + 1);
}

#[test]
fn rebalance_timeout_removes_members_that_do_not_rejoin() {
    let mut h = Harness::new();
    let (l, f, generation) = h.stable_pair("g");
    let (_c, tc) = h.join_new("g", &["t"]);
    let (tl, _) = h.join_req(9, "g", &l, None, range(&["t"]));
    // f keeps heartbeating (and is told to rejoin) but never does.
    for _ in 0..9 {
        h.advance(3_000);
        assert_eq!(
            h.heartbeat("g", &f, None, generation),
            ErrorCode::RebalanceInProgress
        );
    }
    assert!(h.take_join(tl).is_none());
    h.advance(3_000);
    let jl = h
        .take_join(tl)
        .expect("rebalance timeout completes the join");
    assert!(h.take_join(tc).is_some());
    assert_eq!(jl.members.len(), 2);
    assert!(!jl.members.iter().any(|m| m.member_id == f));
    assert_eq!(
        h.heartbeat("g", &f, None, generation),
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn members_that_never_sync_are_removed() {
    let mut h = Harness::new();
    let (a, ta) = h.join_new("g", &["t"]);
    let (b, tb) = h.join_new("g", &["t"]);
    h.advance(6_000);
    let ja = h.take_join(ta).unwrap();
    h.take_join(tb).unwrap();
    let leader = ja.leader.clone();
    let other = if leader == a { b } else { a };
    // Only the follower syncs and keeps heartbeating; the leader never syncs.
    let (tf, _) = h.sync("g", &other, None, 1, &[]);
    for _ in 0..9 {
        h.advance(3_000);
        assert_eq!(h.heartbeat("g", &leader, None, 1), ErrorCode::None);
    }
    assert!(h.take_sync(tf).is_none());
    h.advance(3_000);
    let r = h
        .take_sync(tf)
        .expect("answered when the rebalance restarts");
    assert_eq!(r.error_code, code(ErrorCode::RebalanceInProgress));
    assert_eq!(h.coord.member_ids("g").unwrap(), vec![other]);
}

#[test]
fn static_member_rejoin_keeps_assignment_without_rebalance() {
    let mut h = Harness::new();
    let (ta, ra) = h.join_req(5, "g", "", Some("ia"), range(&["t"]));
    assert_eq!(ra, Reply::Later, "static members skip MEMBER_ID_REQUIRED");
    let (tb, _) = h.join_req(5, "g", "", Some("ib"), range(&["t"]));
    h.advance(6_000);
    let ja = h.take_join(ta).unwrap();
    let jb = h.take_join(tb).unwrap();
    assert!(ja.member_id.starts_with("ia-"));
    let (a, b) = (ja.member_id.clone(), jb.member_id.clone());
    assert_eq!(ja.leader, a);
    let (tsa, _) = h.sync("g", &a, Some("ia"), 1, &[(&a, b"A"), (&b, b"B")]);
    h.take_sync(tsa).unwrap();
    let sb = h.sync("g", &b, Some("ib"), 1, &[]).1.now().unwrap();
    assert_eq!(sb.assignment.as_ref(), b"B");

    // b restarts: joins with no member id, same instance id and metadata.
    let (_, rb) = h.join_req(5, "g", "", Some("ib"), range(&["t"]));
    let rb = rb.now().expect("answered at once");
    assert_eq!(rb.error_code, 0);
    assert_eq!(rb.generation_id, 1);
    assert_ne!(rb.member_id, b);
    assert_eq!(rb.leader, a);
    assert!(rb.members.is_empty());
    assert_eq!(h.coord.group_state("g"), Some(GroupState::Stable));
    let sb = h
        .sync("g", &rb.member_id, Some("ib"), 1, &[])
        .1
        .now()
        .unwrap();
    assert_eq!(sb.assignment.as_ref(), b"B");
    // The old member id is fenced.
    assert_eq!(
        h.heartbeat("g", &b, Some("ib"), 1),
        ErrorCode::FencedInstanceId
    );
    assert_eq!(
        h.heartbeat("g", &rb.member_id, Some("ib"), 1),
        ErrorCode::None
    );
    assert_eq!(h.coord.generation("g"), Some(1));

    // The static leader rejoining on v9 is told to skip the assignment.
    let (_, ra) = h.join_req(9, "g", "", Some("ia"), range(&["t"]));
    let ra = ra.now().unwrap();
    assert!(ra.skip_assignment);
    assert_eq!(ra.members.len(), 2);
    assert_eq!(ra.leader, a, "the previous leader id, as Kafka answers");
    assert_eq!(h.coord.group_state("g"), Some(GroupState::Stable));
}

#[test]
fn heartbeat_errors() {
    let mut h = Harness::new();
    assert_eq!(
        h.heartbeat("nope", "m", None, 1),
        ErrorCode::UnknownMemberId
    );
    assert_eq!(h.heartbeat("", "m", None, 1), ErrorCode::InvalidGroupId);
    let (l, _f, generation) = h.stable_pair("g");
    assert_eq!(
        h.heartbeat("g", "stranger", None, generation),
        ErrorCode::UnknownMemberId
    );
    assert_eq!(
        h.heartbeat("g", &l, None, generation + 7),
        ErrorCode::IllegalGeneration
    );
    assert_eq!(
        h.heartbeat("g", &l, Some("unknown-instance"), generation),
        ErrorCode::UnknownMemberId
    );
    h.coord.begin_loading();
    assert_eq!(
        h.heartbeat("g", &l, None, generation),
        ErrorCode::CoordinatorLoadInProgress
    );
}

#[test]
fn join_errors() {
    let cfg = CoordinatorConfig {
        group_max_size: 1,
        ..Default::default()
    };
    let mut h = Harness::with_config(cfg);
    let mut req = JoinGroupRequest::default();
    req.group_id = "g".into();
    req.session_timeout_ms = 1_000;
    req.protocol_type = "consumer".into();
    req.protocols = range(&["t"]);
    let r = h.join_with(5, &req).1.now().unwrap();
    assert_eq!(r.error_code, code(ErrorCode::InvalidSessionTimeout));
    req.session_timeout_ms = SESSION;
    req.member_id = "ghost".into();
    let r = h.join_with(5, &req).1.now().unwrap();
    assert_eq!(r.error_code, code(ErrorCode::UnknownMemberId));
    // v3: the member id is assigned at once, no MEMBER_ID_REQUIRED.
    let (t, r) = h.join_req(3, "g", "", None, range(&["t"]));
    assert_eq!(r, Reply::Later);
    h.advance(3_000);
    let j = h.take_join(t).unwrap();
    assert_eq!(j.protocol_name.as_deref(), Some("range"));
    // Group full.
    let (_, r) = h.join_req(3, "g", "", None, range(&["t"]));
    assert_eq!(
        r.now().unwrap().error_code,
        code(ErrorCode::GroupMaxSizeReached)
    );

    // Inconsistent protocol in a non-empty group.
    let mut h = Harness::new();
    let (_l, _f, _) = h.stable_pair("g");
    let (_, r) = h.join_req(
        9,
        "g",
        "",
        None,
        protocols(&[("roundrobin", subscription(&["t"]))]),
    );
    assert_eq!(
        r.now().unwrap().error_code,
        code(ErrorCode::InconsistentGroupProtocol)
    );
}

#[test]
fn protocol_selection_by_vote() {
    let mut h = Harness::new();
    let both = |first: &str, second: &str| {
        protocols(&[
            (first, subscription(&["t"])),
            (second, subscription(&["t"])),
        ])
    };
    let (_, r1) = h.join_req(3, "g", "", None, both("range", "roundrobin"));
    assert_eq!(r1, Reply::Later);
    let (t2, _) = h.join_req(3, "g", "", None, both("roundrobin", "range"));
    let (_t3, _) = h.join_req(3, "g", "", None, both("roundrobin", "range"));
    h.advance(REBALANCE as u64);
    assert_eq!(
        h.take_join(t2).unwrap().protocol_name.as_deref(),
        Some("roundrobin")
    );
}

#[test]
fn pending_member_that_never_rejoins_expires() {
    let mut h = Harness::new();
    let (l, f, generation) = h.stable_pair("g");
    let (_, r) = h.join_req(9, "g", "", None, range(&["t"]));
    let pending = r.now().unwrap();
    assert_eq!(pending.error_code, code(ErrorCode::MemberIdRequired));
    // A pending member does not trigger a rebalance by itself.
    assert_eq!(h.coord.group_state("g"), Some(GroupState::Stable));
    for _ in 0..4 {
        h.advance(3_000);
        assert_eq!(h.heartbeat("g", &l, None, generation), ErrorCode::None);
        assert_eq!(h.heartbeat("g", &f, None, generation), ErrorCode::None);
    }
    // Its session expired: joining with the handed-out id now fails.
    let (_, r) = h.join_req(9, "g", &pending.member_id, None, range(&["t"]));
    assert_eq!(
        r.now().unwrap().error_code,
        code(ErrorCode::UnknownMemberId)
    );
    assert_eq!(h.coord.group_state("g"), Some(GroupState::Stable));
}

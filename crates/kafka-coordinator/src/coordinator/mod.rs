//! [`GroupCoordinator`]: the classic group protocol's API handlers, timers and replay.
//!
//! One state (the groups), handled in three places, each an `impl GroupCoordinator`:
//!
//! - here: the contract (outputs, timers, loading and replay, introspection) and the group
//!   admin APIs (DescribeGroups, ListGroups, DeleteGroups);
//! - `membership`: JoinGroup, SyncGroup, Heartbeat, LeaveGroup and the rebalance timers
//!   (sessions, join and sync timeouts, the initial delay);
//! - `offsets`: OffsetCommit, OffsetFetch, OffsetDelete, offset expiration and the replay of
//!   offset records;
//! - `write`: persistence as a step of the contract ([`PendingWrite`], undoing a write that
//!   failed, [`WriteFailure`]).

mod membership;
mod offsets;
mod write;

use std::collections::HashMap;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    JoinGroupResponse, ListGroupsRequest, ListGroupsResponse, SyncGroupResponse,
};
use kafka_protocol::ErrorCode;

use crate::config::CoordinatorConfig;
use crate::group::{Effects, Group, GroupState, Member, OffsetEntry};
use crate::record::CoordinatorRecord;

pub use membership::subscription_topics;
pub(crate) use write::Undo;
pub use write::{PendingWrite, WriteFailure};

/// The caller's handle for a request whose response comes later (JoinGroup, SyncGroup).
/// The caller chooses the value (e.g. connection id and correlation id packed together) and
/// gets it back with the response from [`GroupCoordinator::take_ready`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResponseToken(pub u64);

/// The answer to a request that may have to wait.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply<R> {
    /// Send this now.
    Now(R),
    /// Parked: the response will come out of [`GroupCoordinator::take_ready`] with the
    /// request's [`ResponseToken`] — possibly already after this very call.
    Later,
}

impl<R> Reply<R> {
    /// The immediate response, if any.
    pub fn now(self) -> Option<R> {
        match self {
            Reply::Now(r) => Some(r),
            Reply::Later => None,
        }
    }
}

/// A parked request's response, ready to be sent (encode it with the version of the request
/// that the token stands for).
#[derive(Debug, Clone, PartialEq)]
pub enum DelayedResponse {
    /// The answer to a parked JoinGroup.
    JoinGroup(JoinGroupResponse),
    /// The answer to a parked SyncGroup.
    SyncGroup(SyncGroupResponse),
}

/// Who sent a JoinGroup: Kafka records both for DescribeGroups.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientInfo {
    /// The request header's client id.
    pub client_id: String,
    /// The client's address as Kafka shows it (`/127.0.0.1`).
    pub client_host: String,
}

impl ClientInfo {
    /// A client id and host.
    pub fn new(client_id: impl Into<String>, client_host: impl Into<String>) -> Self {
        ClientInfo {
            client_id: client_id.into(),
            client_host: client_host.into(),
        }
    }
}

/// Kafka's classic group coordinator, as pure logic. See the [crate docs](crate).
#[derive(Debug)]
pub struct GroupCoordinator {
    config: CoordinatorConfig,
    groups: HashMap<String, Group>,
    fx: Effects,
    /// Why every group API is refused: COORDINATOR_LOAD_IN_PROGRESS while loading,
    /// NOT_COORDINATOR for a coordinator standing in for partitions this broker does not lead.
    refusal: Option<ErrorCode>,
    rng: u64,
    next_offset_check: u64,
}

fn after(now: u64, ms: i32) -> u64 {
    now.saturating_add(u64::try_from(ms).unwrap_or(0))
}

impl GroupCoordinator {
    /// A coordinator with no groups. `now` is the current time in ms since the Unix epoch
    /// (the same clock every other call uses; commit timestamps are taken from it).
    pub fn new(config: CoordinatorConfig, now: u64) -> Self {
        let interval = u64::try_from(config.offsets_retention_check_interval_ms).unwrap_or(0);
        GroupCoordinator {
            rng: config.member_id_seed,
            config,
            groups: HashMap::new(),
            fx: Effects::default(),
            refusal: None,
            next_offset_check: now.saturating_add(interval),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CoordinatorConfig {
        &self.config
    }

    // ---------------------------------------------------------------- outputs and timers

    /// The parked responses that became ready, in the order they became ready. Call after
    /// every request and every [`GroupCoordinator::poll`].
    pub fn take_ready(&mut self) -> Vec<(ResponseToken, DelayedResponse)> {
        std::mem::take(&mut self.fx.ready)
    }

    /// The earliest time at which [`GroupCoordinator::poll`] has work to do.
    pub fn next_deadline(&self) -> Option<u64> {
        let offsets = self.next_offsets_deadline();
        match (offsets, self.next_membership_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs every timer due at `now`: session timeouts, rebalance (join) timeouts, the
    /// initial rebalance delay, the pending-sync timeout and offset expiration.
    pub fn poll(&mut self, now: u64) {
        for _ in 0..1000 {
            match self.next_deadline() {
                Some(t) if t <= now => self.poll_once(now),
                _ => return,
            }
        }
    }

    fn poll_once(&mut self, now: u64) {
        self.poll_membership(now);
        self.poll_offsets(now);
    }

    // ---------------------------------------------------------------- loading and replay

    /// Whether the coordinator is loading (every group API answers
    /// COORDINATOR_LOAD_IN_PROGRESS).
    pub fn is_loading(&self) -> bool {
        self.refusal == Some(ErrorCode::CoordinatorLoadInProgress)
    }

    /// A coordinator without groups that answers every group API with `code` (Kafka's
    /// NOT_COORDINATOR for a group whose `__consumer_offsets` partition another broker leads).
    pub fn refusing(config: CoordinatorConfig, now: u64, code: ErrorCode) -> Self {
        let mut c = GroupCoordinator::new(config, now);
        c.refusal = Some(code);
        c
    }

    /// Starts loading: call before replaying the log at start-up.
    pub fn begin_loading(&mut self) {
        self.refusal = Some(ErrorCode::CoordinatorLoadInProgress);
    }

    /// Ends loading: restored members get a fresh session (`now` + their session timeout)
    /// to heartbeat before they are expired, as Kafka schedules them after loading.
    pub fn finish_loading(&mut self, now: u64) {
        self.refusal = None;
        for g in self.groups.values_mut() {
            for m in g.members.values_mut() {
                m.heartbeat_deadline = Some(after(now, m.session_timeout_ms));
            }
        }
        let interval = u64::try_from(self.config.offsets_retention_check_interval_ms).unwrap_or(0);
        self.next_offset_check = now.saturating_add(interval);
    }

    /// Applies one record read back from the log (in log order). Offsets are restored
    /// exactly; a group record restores the group as Kafka loads it: Stable with its members,
    /// generation, protocol, leader and assignments if it had members, Empty otherwise.
    pub fn replay(&mut self, record: CoordinatorRecord) {
        match record {
            CoordinatorRecord::OffsetCommit {
                group_id,
                topic,
                partition,
                offset,
                leader_epoch,
                metadata,
                commit_timestamp,
                expire_timestamp,
            } => self.replay_offset_commit(
                group_id,
                (topic, partition),
                OffsetEntry {
                    offset,
                    leader_epoch,
                    metadata,
                    commit_timestamp,
                    expire_timestamp,
                },
            ),
            CoordinatorRecord::OffsetTombstone {
                group_id,
                topic,
                partition,
            } => self.replay_offset_tombstone(&group_id, (topic, partition)),
            CoordinatorRecord::GroupMetadata {
                group_id,
                protocol_type,
                generation_id,
                protocol_name,
                leader,
                current_state_timestamp,
                members,
            } => {
                let offsets = self
                    .groups
                    .remove(&group_id)
                    .map(|g| g.offsets)
                    .unwrap_or_default();
                let mut g = Group::new(&group_id, 0);
                g.offsets = offsets;
                g.protocol_type = protocol_type.clone();
                g.generation = generation_id;
                g.protocol_name = protocol_name.clone();
                g.state_timestamp =
                    (current_state_timestamp >= 0).then_some(current_state_timestamp);
                let protocol = protocol_name.unwrap_or_default();
                for m in members {
                    g.add_member(Member {
                        id: m.member_id,
                        instance_id: m.group_instance_id,
                        client_id: m.client_id,
                        client_host: m.client_host,
                        rebalance_timeout_ms: m.rebalance_timeout_ms,
                        session_timeout_ms: m.session_timeout_ms,
                        protocol_type: protocol_type.clone().unwrap_or_default(),
                        protocols: vec![(protocol.clone(), m.subscription)],
                        assignment: m.assignment,
                        awaiting_join: None,
                        awaiting_sync: None,
                        is_new: false,
                        heartbeat_deadline: None,
                    });
                }
                g.leader = leader.filter(|l| g.members.contains_key(l)).or(g.leader);
                g.state = if g.members.is_empty() {
                    GroupState::Empty
                } else {
                    GroupState::Stable
                };
                g.subscribed_topics = g.compute_subscribed_topics();
                self.groups.insert(group_id, g);
            }
            CoordinatorRecord::GroupTombstone { group_id } => {
                if let Some(g) = self.groups.remove(&group_id) {
                    if !g.offsets.is_empty() {
                        let mut fresh = Group::new(&group_id, 0);
                        fresh.offsets = g.offsets;
                        self.groups.insert(group_id, fresh);
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------- introspection

    /// A group's state, if the group exists.
    pub fn group_state(&self, group_id: &str) -> Option<GroupState> {
        self.groups.get(group_id).map(|g| g.state)
    }

    /// A group's generation, if the group exists.
    pub fn generation(&self, group_id: &str) -> Option<i32> {
        self.groups.get(group_id).map(|g| g.generation)
    }

    /// A group's member ids, if the group exists.
    pub fn member_ids(&self, group_id: &str) -> Option<Vec<String>> {
        self.groups
            .get(group_id)
            .map(|g| g.members.keys().cloned().collect())
    }

    /// A committed offset: (offset, leader epoch or -1, metadata).
    pub fn committed_offset(
        &self,
        group_id: &str,
        topic: &str,
        partition: i32,
    ) -> Option<(i64, i32, String)> {
        self.groups
            .get(group_id)?
            .offsets
            .get(&(topic.to_owned(), partition))
            .map(|o| (o.offset, o.leader_epoch, o.metadata.clone()))
    }

    /// The ids of all groups, sorted.
    pub fn group_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.groups.keys().cloned().collect();
        ids.sort();
        ids
    }

    // ---------------------------------------------------------------- admin APIs

    /// DescribeGroups (v0-v5). A group that does not exist is described as Dead with no
    /// members, as Kafka does before v6. `authorized_operations` is left for the broker.
    pub fn describe_groups(
        &self,
        _version: i16,
        req: &DescribeGroupsRequest,
    ) -> DescribeGroupsResponse {
        let mut r = DescribeGroupsResponse::default();
        for id in &req.groups {
            let mut d = DescribedGroup::default();
            d.group_id = id.clone();
            if let Some(code) = self.refusal {
                d.error_code = code.code();
                r.groups.push(d);
                continue;
            }
            match self.groups.get(id) {
                None => d.group_state = GroupState::Dead.name().to_owned(),
                Some(g) => {
                    d.group_state = g.state.name().to_owned();
                    d.protocol_type = g.protocol_type.clone().unwrap_or_default();
                    let stable = g.is(GroupState::Stable);
                    let protocol = g.protocol_name.clone().unwrap_or_default();
                    if stable {
                        d.protocol_data = protocol.clone();
                    }
                    d.members = g
                        .members
                        .values()
                        .map(|m| {
                            let mut dm = DescribedGroupMember::default();
                            dm.member_id = m.id.clone();
                            dm.group_instance_id = m.instance_id.clone();
                            dm.client_id = m.client_id.clone();
                            dm.client_host = m.client_host.clone();
                            if stable {
                                dm.member_metadata = m.metadata(&protocol);
                                dm.member_assignment = m.assignment.clone();
                            }
                            dm
                        })
                        .collect();
                }
            }
            r.groups.push(d);
        }
        r
    }

    /// ListGroups (v0-v5): the states filter (v4+) and types filter (v5+; every group here
    /// is `classic`) match case-insensitively.
    pub fn list_groups(&self, _version: i16, req: &ListGroupsRequest) -> ListGroupsResponse {
        let mut r = ListGroupsResponse::default();
        if let Some(code) = self.refusal {
            r.error_code = code.code();
        }
        let type_ok = req.types_filter.is_empty()
            || req
                .types_filter
                .iter()
                .any(|t| t.eq_ignore_ascii_case("classic"));
        let mut ids: Vec<&Group> = self
            .groups
            .values()
            .filter(|g| !g.is(GroupState::Dead))
            .filter(|g| {
                req.states_filter.is_empty()
                    || req
                        .states_filter
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(g.state.name()))
            })
            .filter(|_| type_ok)
            .collect();
        ids.sort_by(|a, b| a.id.cmp(&b.id));
        r.groups = ids
            .into_iter()
            .map(|g| {
                let mut l = ListedGroup::default();
                l.group_id = g.id.clone();
                l.protocol_type = g.protocol_type.clone().unwrap_or_default();
                l.group_state = g.state.name().to_owned();
                l.group_type = "classic".to_owned();
                l
            })
            .collect();
        r
    }

    /// DeleteGroups (v0-v2): only empty groups; their offsets and metadata get tombstones.
    pub fn delete_groups(
        &mut self,
        _now: u64,
        _version: i16,
        req: &DeleteGroupsRequest,
    ) -> DeleteGroupsResponse {
        let mut r = DeleteGroupsResponse::default();
        for id in &req.groups_names {
            let code = if let Some(code) = self.refusal {
                code
            } else {
                match self.groups.get(id) {
                    None => ErrorCode::GroupIdNotFound,
                    Some(g) if g.is(GroupState::Dead) => ErrorCode::GroupIdNotFound,
                    Some(g) if !g.is(GroupState::Empty) => ErrorCode::NonEmptyGroup,
                    Some(_) => {
                        if let Some(g) = self.groups.remove(id) {
                            for (topic, partition) in g.offsets.keys() {
                                self.fx.records.push(CoordinatorRecord::OffsetTombstone {
                                    group_id: id.clone(),
                                    topic: topic.clone(),
                                    partition: *partition,
                                });
                            }
                            self.fx.undo.push(Undo::RemovedGroup(Box::new(g)));
                        }
                        self.fx.records.push(CoordinatorRecord::GroupTombstone {
                            group_id: id.clone(),
                        });
                        tracing::info!(group = %id, "group deleted");
                        ErrorCode::None
                    }
                }
            };
            let mut d = DeletableGroupResult::default();
            d.group_id = id.clone();
            d.error_code = code.code();
            r.results.push(d);
        }
        r
    }
}

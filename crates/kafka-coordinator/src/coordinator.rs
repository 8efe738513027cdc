//! [`GroupCoordinator`]: the classic group protocol's API handlers, timers and replay.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse, OffsetCommitRequest,
    OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse, OffsetFetchRequest,
    OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::ErrorCode;

use crate::config::CoordinatorConfig;
use crate::group::{
    join_error, now_ts, parse_subscription, sync_error, Effects, Group, GroupState, Member,
    OffsetEntry, Waiter, CONSUMER_PROTOCOL_TYPE,
};
use crate::record::CoordinatorRecord;

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
    loading: bool,
    rng: u64,
    next_offset_check: u64,
}

/// splitmix64: the member-id UUID generator (uniqueness, not secrecy, is what Kafka needs).
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn uuid_string(state: &mut u64) -> String {
    let hi = (next_random(state) & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    let lo = (next_random(state) & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
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
            loading: false,
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

    /// The records to persist, in order. The broker appends them to its log (and waits for
    /// them to be durable, if it promises that) before sending the responses produced by the
    /// same call.
    pub fn take_records(&mut self) -> Vec<CoordinatorRecord> {
        std::mem::take(&mut self.fx.records)
    }

    /// The earliest time at which [`GroupCoordinator::poll`] has work to do.
    pub fn next_deadline(&self) -> Option<u64> {
        let mut next = if self.loading {
            None
        } else {
            Some(self.next_offset_check)
        };
        let mut consider = |t: Option<u64>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: u64| n.min(t)));
            }
        };
        for g in self.groups.values() {
            consider(g.join_timer.map(|t| t.deadline));
            consider(g.sync_deadline);
            consider(g.pending_members.values().min().copied());
            consider(
                g.members
                    .values()
                    .filter_map(|m| m.heartbeat_deadline)
                    .min(),
            );
        }
        next
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
        let Self {
            groups, fx, config, ..
        } = self;
        for g in groups.values_mut() {
            let expired_pending: Vec<String> = g
                .pending_members
                .iter()
                .filter(|(_, d)| **d <= now)
                .map(|(id, _)| id.clone())
                .collect();
            for id in expired_pending {
                tracing::info!(group = %g.id, member = %id, "pending member expired");
                g.pending_members.remove(&id);
                g.maybe_complete_join(config, fx, now);
            }
            let expired: Vec<String> = g
                .members
                .values()
                .filter(|m| m.heartbeat_deadline.is_some_and(|d| d <= now))
                .map(|m| m.id.clone())
                .collect();
            for id in expired {
                let Some(m) = g.members.get_mut(&id) else {
                    continue;
                };
                let satisfied =
                    !m.is_new && (m.awaiting_join.is_some() || m.awaiting_sync.is_some());
                if satisfied {
                    m.heartbeat_deadline = None;
                } else {
                    tracing::info!(group = %g.id, member = %id, "session timeout; member removed");
                    g.remove_member_and_update(&id, config, fx, now, "heartbeat expired");
                }
            }
            if g.join_timer.is_some_and(|t| t.deadline <= now) {
                g.on_join_deadline(config, fx, now);
            }
            if g.sync_deadline.is_some_and(|d| d <= now) {
                g.sync_deadline = None;
                if matches!(
                    g.state,
                    GroupState::CompletingRebalance | GroupState::Stable
                ) && !g.pending_sync.is_empty()
                {
                    let pending: Vec<String> = g.pending_sync.iter().cloned().collect();
                    tracing::info!(group = %g.id, ?pending, "members did not sync in time; removed");
                    for id in pending {
                        g.remove_member(&id, fx);
                    }
                    g.prepare_rebalance(config, fx, now, "pending sync members removed");
                }
            }
        }
        if !self.loading && self.next_offset_check <= now {
            let interval =
                u64::try_from(self.config.offsets_retention_check_interval_ms).unwrap_or(0);
            self.next_offset_check = now.saturating_add(interval.max(1));
            self.expire_offsets(now);
        }
    }

    fn expire_offsets(&mut self, now: u64) {
        let retention = self.config.offsets_retention_ms();
        let mut dead = Vec::new();
        for g in self.groups.values_mut() {
            for (topic, partition) in g.expired_offsets(now_ts(now), retention) {
                g.offsets.remove(&(topic.clone(), partition));
                self.fx.records.push(CoordinatorRecord::OffsetTombstone {
                    group_id: g.id.clone(),
                    topic,
                    partition,
                });
            }
            if g.is(GroupState::Empty) && g.offsets.is_empty() && g.pending_members.is_empty() {
                dead.push(g.id.clone());
            }
        }
        for id in dead {
            self.groups.remove(&id);
            self.fx
                .records
                .push(CoordinatorRecord::GroupTombstone { group_id: id });
        }
    }

    // ---------------------------------------------------------------- loading and replay

    /// Whether the coordinator is loading (every group API answers
    /// COORDINATOR_LOAD_IN_PROGRESS).
    pub fn is_loading(&self) -> bool {
        self.loading
    }

    /// Starts loading: call before replaying the log at start-up.
    pub fn begin_loading(&mut self) {
        self.loading = true;
    }

    /// Ends loading: restored members get a fresh session (`now` + their session timeout)
    /// to heartbeat before they are expired, as Kafka schedules them after loading.
    pub fn finish_loading(&mut self, now: u64) {
        self.loading = false;
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
            } => {
                let g = self
                    .groups
                    .entry(group_id.clone())
                    .or_insert_with(|| Group::new(&group_id, 0));
                g.offsets.insert(
                    (topic, partition),
                    OffsetEntry {
                        offset,
                        leader_epoch,
                        metadata,
                        commit_timestamp,
                        expire_timestamp,
                    },
                );
            }
            CoordinatorRecord::OffsetTombstone {
                group_id,
                topic,
                partition,
            } => {
                if let Some(g) = self.groups.get_mut(&group_id) {
                    g.offsets.remove(&(topic, partition));
                    if g.offsets.is_empty() && g.members.is_empty() && g.protocol_type.is_none() {
                        self.groups.remove(&group_id);
                    }
                }
            }
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

    // ---------------------------------------------------------------- JoinGroup

    /// JoinGroup (v0-v9). Errors and some rejoins are answered now; a join that waits for
    /// the rebalance is answered later through [`GroupCoordinator::take_ready`].
    pub fn join_group(
        &mut self,
        now: u64,
        token: ResponseToken,
        client: &ClientInfo,
        version: i16,
        req: &JoinGroupRequest,
    ) -> Reply<JoinGroupResponse> {
        let member_id = req.member_id.as_str();
        let err = |e: ErrorCode| Reply::Now(join_error(version, member_id, e));
        if self.loading {
            return err(ErrorCode::CoordinatorLoadInProgress);
        }
        if req.group_id.is_empty() {
            return err(ErrorCode::InvalidGroupId);
        }
        if req.session_timeout_ms < self.config.group_min_session_timeout_ms
            || req.session_timeout_ms > self.config.group_max_session_timeout_ms
        {
            return err(ErrorCode::InvalidSessionTimeout);
        }
        let rebalance_timeout_ms = if version == 0 || req.rebalance_timeout_ms < 0 {
            req.session_timeout_ms
        } else {
            req.rebalance_timeout_ms
        };
        let protocols: Vec<(String, Bytes)> = req
            .protocols
            .iter()
            .map(|p| (p.name.clone(), p.metadata.clone()))
            .collect();
        let is_unknown = member_id.is_empty();
        let waiter = Waiter { token, version };
        let Self {
            groups,
            fx,
            config,
            rng,
            ..
        } = self;
        let group = if is_unknown {
            groups
                .entry(req.group_id.clone())
                .or_insert_with(|| Group::new(&req.group_id, now))
        } else {
            match groups.get_mut(&req.group_id) {
                Some(g) => g,
                None => return err(ErrorCode::UnknownMemberId),
            }
        };
        let accept = match group.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                group
                    .members
                    .get(member_id)
                    .is_some_and(|m| m.awaiting_join.is_some())
                    || group.num_awaiting_join() < config.group_max_size
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                group.members.contains_key(member_id) || group.members.len() < config.group_max_size
            }
        };
        if !accept {
            return Reply::Now(join_error(version, "", ErrorCode::GroupMaxSizeReached));
        }
        let params = JoinParams {
            client,
            instance_id: req.group_instance_id.as_deref(),
            protocol_type: &req.protocol_type,
            protocols,
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms,
            waiter,
        };
        let reply = if is_unknown {
            join_new_member(group, config, fx, rng, now, params)
        } else {
            join_existing_member(group, config, fx, now, member_id, params)
        };
        if group.is(GroupState::PreparingRebalance) {
            group.maybe_complete_join(config, fx, now);
        }
        reply
    }

    // ---------------------------------------------------------------- SyncGroup

    /// SyncGroup (v0-v5). The leader's sync hands out every assignment; a follower's sync
    /// during CompletingRebalance waits for it.
    pub fn sync_group(
        &mut self,
        now: u64,
        token: ResponseToken,
        version: i16,
        req: &SyncGroupRequest,
    ) -> Reply<SyncGroupResponse> {
        let err = |e: ErrorCode| Reply::Now(sync_error(e));
        if self.loading {
            return err(ErrorCode::CoordinatorLoadInProgress);
        }
        if req.group_id.is_empty() {
            return err(ErrorCode::InvalidGroupId);
        }
        let Self { groups, fx, .. } = self;
        let Some(group) = groups.get_mut(&req.group_id) else {
            return err(ErrorCode::UnknownMemberId);
        };
        if group.is(GroupState::Dead) {
            return err(ErrorCode::CoordinatorNotAvailable);
        }
        if let Err(e) = group.validate_member(&req.member_id, req.group_instance_id.as_deref()) {
            return err(e);
        }
        if req.generation_id != group.generation {
            return err(ErrorCode::IllegalGeneration);
        }
        let inconsistent =
            |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(a), Some(b)) if a != b);
        if inconsistent(&req.protocol_type, &group.protocol_type)
            || inconsistent(&req.protocol_name, &group.protocol_name)
        {
            return err(ErrorCode::InconsistentGroupProtocol);
        }
        match group.state {
            GroupState::Empty | GroupState::Dead => err(ErrorCode::UnknownMemberId),
            GroupState::PreparingRebalance => err(ErrorCode::RebalanceInProgress),
            GroupState::Stable => {
                group.pending_sync.remove(&req.member_id);
                let Some(m) = group.members.get_mut(&req.member_id) else {
                    return err(ErrorCode::UnknownMemberId);
                };
                m.heartbeat_deadline = Some(after(now, m.session_timeout_ms));
                let assignment = m.assignment.clone();
                Reply::Now(group.sync_response(assignment))
            }
            GroupState::CompletingRebalance => {
                let Some(m) = group.members.get_mut(&req.member_id) else {
                    return err(ErrorCode::UnknownMemberId);
                };
                if let Some(old) = m.awaiting_sync.replace(Waiter { token, version }) {
                    // A retried SyncGroup replaces the parked one; answer the old token so
                    // that nothing is left waiting forever.
                    fx.ready.push((
                        old.token,
                        DelayedResponse::SyncGroup(sync_error(ErrorCode::RebalanceInProgress)),
                    ));
                }
                group.pending_sync.remove(&req.member_id);
                if group.is_leader(&req.member_id) {
                    let assignments: BTreeMap<String, Bytes> = req
                        .assignments
                        .iter()
                        .filter(|a| group.members.contains_key(&a.member_id))
                        .map(|a| (a.member_id.clone(), a.assignment.clone()))
                        .collect();
                    for m in group.members.values_mut() {
                        m.assignment = assignments.get(&m.id).cloned().unwrap_or_default();
                    }
                    fx.records.push(group.metadata_record());
                    group.set_and_propagate_assignment(&assignments, fx, now);
                    group.transition(GroupState::Stable, now);
                    tracing::info!(group = %group.id, generation = group.generation, "group stable");
                }
                Reply::Later
            }
        }
    }

    // ---------------------------------------------------------------- Heartbeat

    /// Heartbeat (v0-v4).
    pub fn heartbeat(
        &mut self,
        now: u64,
        _version: i16,
        req: &HeartbeatRequest,
    ) -> HeartbeatResponse {
        let code = self.heartbeat_error(now, req);
        let mut r = HeartbeatResponse::default();
        r.error_code = code.code();
        r
    }

    fn heartbeat_error(&mut self, now: u64, req: &HeartbeatRequest) -> ErrorCode {
        if self.loading {
            return ErrorCode::CoordinatorLoadInProgress;
        }
        if req.group_id.is_empty() {
            return ErrorCode::InvalidGroupId;
        }
        let Some(group) = self.groups.get_mut(&req.group_id) else {
            return ErrorCode::UnknownMemberId;
        };
        if group.is(GroupState::Dead) {
            return ErrorCode::CoordinatorNotAvailable;
        }
        if let Err(e) = group.validate_member(&req.member_id, req.group_instance_id.as_deref()) {
            return e;
        }
        if req.generation_id != group.generation {
            return ErrorCode::IllegalGeneration;
        }
        let state = group.state;
        let Some(m) = group.members.get_mut(&req.member_id) else {
            return ErrorCode::UnknownMemberId;
        };
        match state {
            GroupState::Empty | GroupState::Dead => ErrorCode::UnknownMemberId,
            GroupState::PreparingRebalance => {
                m.heartbeat_deadline = Some(after(now, m.session_timeout_ms));
                ErrorCode::RebalanceInProgress
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                m.heartbeat_deadline = Some(after(now, m.session_timeout_ms));
                ErrorCode::None
            }
        }
    }

    // ---------------------------------------------------------------- LeaveGroup

    /// LeaveGroup (v0-v5; v3+ leaves a batch, by member id or by group.instance.id).
    pub fn leave_group(
        &mut self,
        now: u64,
        version: i16,
        req: &LeaveGroupRequest,
    ) -> LeaveGroupResponse {
        let mut r = LeaveGroupResponse::default();
        let leaving: Vec<(String, Option<String>)> = if version >= 3 {
            req.members
                .iter()
                .map(|m| (m.member_id.clone(), m.group_instance_id.clone()))
                .collect()
        } else {
            vec![(req.member_id.clone(), None)]
        };
        let top = if self.loading {
            ErrorCode::CoordinatorLoadInProgress
        } else if req.group_id.is_empty() {
            ErrorCode::InvalidGroupId
        } else {
            match self.groups.get(&req.group_id) {
                None => ErrorCode::UnknownMemberId,
                Some(g) if g.is(GroupState::Dead) => ErrorCode::CoordinatorNotAvailable,
                Some(_) => ErrorCode::None,
            }
        };
        if top != ErrorCode::None {
            r.error_code = top.code();
            return r;
        }
        let Self {
            groups, fx, config, ..
        } = self;
        let Some(group) = groups.get_mut(&req.group_id) else {
            return r;
        };
        let mut responses = Vec::new();
        for (member_id, instance_id) in leaving {
            let code = if member_id.is_empty() {
                match instance_id
                    .as_ref()
                    .and_then(|i| group.static_members.get(i))
                    .cloned()
                {
                    Some(id) => {
                        group.remove_member_and_update(
                            &id,
                            config,
                            fx,
                            now,
                            "static member left (admin)",
                        );
                        ErrorCode::None
                    }
                    None => ErrorCode::UnknownMemberId,
                }
            } else if group.pending_members.remove(&member_id).is_some() {
                group.maybe_complete_join(config, fx, now);
                ErrorCode::None
            } else {
                match group.validate_member(&member_id, instance_id.as_deref()) {
                    Ok(()) => {
                        tracing::info!(group = %group.id, member = %member_id, "member left");
                        group.remove_member_and_update(&member_id, config, fx, now, "member left");
                        ErrorCode::None
                    }
                    Err(e) => e,
                }
            };
            let mut mr = MemberResponse::default();
            mr.member_id = member_id;
            mr.group_instance_id = instance_id;
            mr.error_code = code.code();
            responses.push(mr);
        }
        if version < 3 {
            r.error_code = responses.first().map_or(0, |m| m.error_code);
        } else {
            r.members = responses;
        }
        r
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
            if self.loading {
                d.error_code = ErrorCode::CoordinatorLoadInProgress.code();
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
        if self.loading {
            r.error_code = ErrorCode::CoordinatorLoadInProgress.code();
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
            let code = if self.loading {
                ErrorCode::CoordinatorLoadInProgress
            } else {
                match self.groups.get(id) {
                    None => ErrorCode::GroupIdNotFound,
                    Some(g) if g.is(GroupState::Dead) => ErrorCode::GroupIdNotFound,
                    Some(g) if !g.is(GroupState::Empty) => ErrorCode::NonEmptyGroup,
                    Some(_) => {
                        if let Some(g) = self.groups.remove(id) {
                            for (topic, partition) in g.offsets.into_keys() {
                                self.fx.records.push(CoordinatorRecord::OffsetTombstone {
                                    group_id: id.clone(),
                                    topic,
                                    partition,
                                });
                            }
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

    // ---------------------------------------------------------------- offsets

    /// OffsetCommit (v0-v9), with Kafka's generation/member checks for classic groups.
    pub fn offset_commit(
        &mut self,
        now: u64,
        version: i16,
        req: &OffsetCommitRequest,
    ) -> OffsetCommitResponse {
        let generation = if version >= 1 {
            req.generation_id_or_member_epoch
        } else {
            -1
        };
        let all = |code: ErrorCode| commit_response(req, |_| code);
        if self.loading {
            return all(ErrorCode::CoordinatorLoadInProgress);
        }
        let group = match self.groups.get_mut(&req.group_id) {
            Some(g) => g,
            None if generation < 0 => self
                .groups
                .entry(req.group_id.clone())
                .or_insert_with(|| Group::new(&req.group_id, now)),
            None if version >= 9 => return all(ErrorCode::GroupIdNotFound),
            None => return all(ErrorCode::IllegalGeneration),
        };
        if let Err(e) = validate_offset_commit(
            group,
            &req.member_id,
            req.group_instance_id.as_deref(),
            generation,
        ) {
            return all(e);
        }
        let commit_ts = now_ts(now);
        let expire = ((2..=4).contains(&version) && req.retention_time_ms != -1)
            .then(|| commit_ts.saturating_add(req.retention_time_ms));
        let max_meta = self.config.offset_metadata_max_bytes;
        let fx = &mut self.fx;
        commit_response(req, |(topic, p)| {
            let metadata = p.committed_metadata.clone().unwrap_or_default();
            if metadata.len() > max_meta {
                return ErrorCode::OffsetMetadataTooLarge;
            }
            let commit_timestamp = if version == 1 && p.commit_timestamp != -1 {
                p.commit_timestamp
            } else {
                commit_ts
            };
            let leader_epoch = if version >= 6 {
                p.committed_leader_epoch
            } else {
                -1
            };
            let entry = OffsetEntry {
                offset: p.committed_offset,
                leader_epoch,
                metadata: metadata.clone(),
                commit_timestamp,
                expire_timestamp: expire,
            };
            group
                .offsets
                .insert((topic.to_owned(), p.partition_index), entry);
            fx.records.push(CoordinatorRecord::OffsetCommit {
                group_id: group.id.clone(),
                topic: topic.to_owned(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch,
                metadata,
                commit_timestamp,
                expire_timestamp: expire,
            });
            ErrorCode::None
        })
    }

    /// OffsetFetch (v0-v7 one group, v8+ several; null topics = every committed offset).
    pub fn offset_fetch(&self, version: i16, req: &OffsetFetchRequest) -> OffsetFetchResponse {
        let mut r = OffsetFetchResponse::default();
        if version >= 8 {
            for g in &req.groups {
                let wanted: Option<Vec<(String, Vec<i32>)>> = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.clone(), t.partition_indexes.clone()))
                        .collect()
                });
                let mut out = OffsetFetchResponseGroup::default();
                out.group_id = g.group_id.clone();
                if self.loading {
                    out.error_code = ErrorCode::CoordinatorLoadInProgress.code();
                } else {
                    out.topics = self
                        .fetch_offsets(&g.group_id, wanted.as_deref())
                        .into_iter()
                        .map(|(name, parts)| {
                            let mut t = OffsetFetchResponseTopics::default();
                            t.name = name;
                            t.partitions = parts
                                .into_iter()
                                .map(|(idx, offset, epoch, meta)| {
                                    let mut p = OffsetFetchResponsePartitions::default();
                                    p.partition_index = idx;
                                    p.committed_offset = offset;
                                    p.committed_leader_epoch = epoch;
                                    p.metadata = Some(meta);
                                    p
                                })
                                .collect();
                            t
                        })
                        .collect();
                }
                r.groups.push(out);
            }
            return r;
        }
        let wanted: Option<Vec<(String, Vec<i32>)>> = req.topics.as_ref().map(|ts| {
            ts.iter()
                .map(|t| (t.name.clone(), t.partition_indexes.clone()))
                .collect()
        });
        if self.loading && version >= 2 {
            r.error_code = ErrorCode::CoordinatorLoadInProgress.code();
            return r;
        }
        let loading_code = if self.loading {
            ErrorCode::CoordinatorLoadInProgress.code()
        } else {
            0
        };
        r.topics = self
            .fetch_offsets(&req.group_id, wanted.as_deref())
            .into_iter()
            .map(|(name, parts)| {
                let mut t = OffsetFetchResponseTopic::default();
                t.name = name;
                t.partitions = parts
                    .into_iter()
                    .map(|(idx, offset, epoch, meta)| {
                        let mut p = OffsetFetchResponsePartition::default();
                        p.partition_index = idx;
                        p.committed_offset = if loading_code != 0 { -1 } else { offset };
                        p.committed_leader_epoch = epoch;
                        p.metadata = Some(meta);
                        p.error_code = loading_code;
                        p
                    })
                    .collect();
                t
            })
            .collect();
        r
    }

    #[allow(clippy::type_complexity)]
    fn fetch_offsets(
        &self,
        group_id: &str,
        wanted: Option<&[(String, Vec<i32>)]>,
    ) -> Vec<(String, Vec<(i32, i64, i32, String)>)> {
        let group = if self.loading {
            None
        } else {
            self.groups.get(group_id)
        };
        match wanted {
            Some(topics) => topics
                .iter()
                .map(|(name, parts)| {
                    let parts = parts
                        .iter()
                        .map(
                            |&p| match group.and_then(|g| g.offsets.get(&(name.clone(), p))) {
                                Some(o) => (p, o.offset, o.leader_epoch, o.metadata.clone()),
                                None => (p, -1, -1, String::new()),
                            },
                        )
                        .collect();
                    (name.clone(), parts)
                })
                .collect(),
            None => {
                let mut out: Vec<(String, Vec<(i32, i64, i32, String)>)> = Vec::new();
                if let Some(g) = group {
                    for ((topic, p), o) in &g.offsets {
                        let entry = (*p, o.offset, o.leader_epoch, o.metadata.clone());
                        match out.last_mut() {
                            Some((t, parts)) if t == topic => parts.push(entry),
                            _ => out.push((topic.clone(), vec![entry])),
                        }
                    }
                }
                out
            }
        }
    }

    /// OffsetDelete (v0): an empty group's offsets, or a consumer group's offsets of topics
    /// no member subscribes to (GROUP_SUBSCRIBED_TO_TOPIC for the others).
    pub fn offset_delete(
        &mut self,
        _now: u64,
        _version: i16,
        req: &OffsetDeleteRequest,
    ) -> OffsetDeleteResponse {
        let mut r = OffsetDeleteResponse::default();
        let top = if self.loading {
            ErrorCode::CoordinatorLoadInProgress
        } else if req.group_id.is_empty() {
            ErrorCode::InvalidGroupId
        } else {
            match self.groups.get(&req.group_id) {
                None => ErrorCode::GroupIdNotFound,
                Some(g) if g.is(GroupState::Dead) => ErrorCode::GroupIdNotFound,
                Some(g)
                    if !g.is(GroupState::Empty)
                        && g.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) =>
                {
                    ErrorCode::NonEmptyGroup
                }
                Some(_) => ErrorCode::None,
            }
        };
        if top != ErrorCode::None {
            r.error_code = top.code();
            return r;
        }
        let Some(group) = self.groups.get_mut(&req.group_id) else {
            return r;
        };
        let empty = group.is(GroupState::Empty);
        for t in &req.topics {
            let subscribed = !empty && group.is_subscribed_to_topic(&t.name);
            let mut rt = OffsetDeleteResponseTopic::default();
            rt.name = t.name.clone();
            for p in &t.partitions {
                let code = if subscribed {
                    ErrorCode::GroupSubscribedToTopic
                } else {
                    if group
                        .offsets
                        .remove(&(t.name.clone(), p.partition_index))
                        .is_some()
                    {
                        self.fx.records.push(CoordinatorRecord::OffsetTombstone {
                            group_id: group.id.clone(),
                            topic: t.name.clone(),
                            partition: p.partition_index,
                        });
                    }
                    ErrorCode::None
                };
                let mut rp = OffsetDeleteResponsePartition::default();
                rp.partition_index = p.partition_index;
                rp.error_code = code.code();
                rt.partitions.push(rp);
            }
            r.topics.push(rt);
        }
        if group.is(GroupState::Empty)
            && group.offsets.is_empty()
            && group.pending_members.is_empty()
        {
            let id = group.id.clone();
            self.groups.remove(&id);
            self.fx
                .records
                .push(CoordinatorRecord::GroupTombstone { group_id: id });
        }
        r
    }
}

/// Kafka's `ClassicGroup.validateOffsetCommit` (non-transactional).
fn validate_offset_commit(
    group: &Group,
    member_id: &str,
    instance_id: Option<&str>,
    generation: i32,
) -> Result<(), ErrorCode> {
    if group.is(GroupState::Dead) {
        return Err(ErrorCode::CoordinatorNotAvailable);
    }
    if generation < 0 && group.is(GroupState::Empty) {
        // Simple consumers and admin clients commit for groups without members.
        return Ok(());
    }
    if generation >= 0 || !member_id.is_empty() || instance_id.is_some() {
        group.validate_member(member_id, instance_id)?;
        if generation != group.generation {
            return Err(ErrorCode::IllegalGeneration);
        }
    } else if !group.is(GroupState::Empty) {
        return Err(ErrorCode::UnknownMemberId);
    }
    if group.is(GroupState::CompletingRebalance) {
        return Err(ErrorCode::RebalanceInProgress);
    }
    Ok(())
}

fn commit_response(
    req: &OffsetCommitRequest,
    mut f: impl FnMut(
        (
            &str,
            &kafka_protocol::messages::offset_commit_request::OffsetCommitRequestPartition,
        ),
    ) -> ErrorCode,
) -> OffsetCommitResponse {
    let mut r = OffsetCommitResponse::default();
    for t in &req.topics {
        let mut rt = OffsetCommitResponseTopic::default();
        rt.name = t.name.clone();
        for p in &t.partitions {
            let mut rp = OffsetCommitResponsePartition::default();
            rp.partition_index = p.partition_index;
            rp.error_code = f((&t.name, p)).code();
            rt.partitions.push(rp);
        }
        r.topics.push(rt);
    }
    r
}

struct JoinParams<'a> {
    client: &'a ClientInfo,
    instance_id: Option<&'a str>,
    protocol_type: &'a str,
    protocols: Vec<(String, Bytes)>,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
    waiter: Waiter,
}

fn park_join(member: &mut Member, waiter: Waiter, fx: &mut Effects) {
    if let Some(old) = member.awaiting_join.replace(waiter) {
        if old.token != waiter.token {
            // A retried JoinGroup replaces the parked one (Kafka drops the old callback);
            // answer the old token so that nothing is left waiting forever.
            fx.ready.push((
                old.token,
                DelayedResponse::JoinGroup(join_error(
                    old.version,
                    &member.id,
                    ErrorCode::RebalanceInProgress,
                )),
            ));
        }
    }
}

fn update_member(member: &mut Member, p: &JoinParams<'_>, fx: &mut Effects) {
    member.protocols = p.protocols.clone();
    member.rebalance_timeout_ms = p.rebalance_timeout_ms;
    member.session_timeout_ms = p.session_timeout_ms;
    park_join(member, p.waiter, fx);
}

fn join_new_member(
    group: &mut Group,
    cfg: &CoordinatorConfig,
    fx: &mut Effects,
    rng: &mut u64,
    now: u64,
    p: JoinParams<'_>,
) -> Reply<JoinGroupResponse> {
    let version = p.waiter.version;
    if group.is(GroupState::Dead) {
        return Reply::Now(join_error(version, "", ErrorCode::CoordinatorNotAvailable));
    }
    if !group.supports_protocols(p.protocol_type, &p.protocols) {
        return Reply::Now(join_error(
            version,
            "",
            ErrorCode::InconsistentGroupProtocol,
        ));
    }
    let prefix = p.instance_id.unwrap_or(&p.client.client_id);
    let new_id = loop {
        let candidate = format!("{prefix}-{}", uuid_string(rng));
        if !group.members.contains_key(&candidate)
            && !group.pending_members.contains_key(&candidate)
        {
            break candidate;
        }
    };
    match p.instance_id {
        Some(instance) => match group.static_members.get(instance).cloned() {
            None => add_member_and_rebalance(group, cfg, fx, now, new_id, p),
            Some(old_id) => update_static_member(group, cfg, fx, now, &old_id, new_id, p),
        },
        None if version >= 4 => {
            // KIP-394: hand out the member id first; the member joins again with it.
            group
                .pending_members
                .insert(new_id.clone(), after(now, p.session_timeout_ms));
            Reply::Now(join_error(version, &new_id, ErrorCode::MemberIdRequired))
        }
        None => add_member_and_rebalance(group, cfg, fx, now, new_id, p),
    }
}

fn add_member_and_rebalance(
    group: &mut Group,
    cfg: &CoordinatorConfig,
    fx: &mut Effects,
    now: u64,
    member_id: String,
    p: JoinParams<'_>,
) -> Reply<JoinGroupResponse> {
    if group.is(GroupState::PreparingRebalance)
        && group.join_timer.is_some_and(|t| t.initial.is_some())
    {
        group.new_member_added = true;
    }
    group.pending_members.remove(&member_id);
    tracing::info!(group = %group.id, member = %member_id, "new member joins");
    group.add_member(Member {
        id: member_id,
        instance_id: p.instance_id.map(str::to_owned),
        client_id: p.client.client_id.clone(),
        client_host: p.client.client_host.clone(),
        rebalance_timeout_ms: p.rebalance_timeout_ms,
        session_timeout_ms: p.session_timeout_ms,
        protocol_type: p.protocol_type.to_owned(),
        protocols: p.protocols,
        assignment: Bytes::new(),
        awaiting_join: Some(p.waiter),
        awaiting_sync: None,
        is_new: true,
        // New members cannot heartbeat while their JoinGroup is parked: they get Kafka's
        // new-member join timeout instead of their session timeout.
        heartbeat_deadline: Some(after(now, cfg.new_member_join_timeout_ms)),
    });
    if group.can_rebalance() {
        group.prepare_rebalance(cfg, fx, now, "adding new member");
    } else {
        group.maybe_complete_join(cfg, fx, now);
    }
    Reply::Later
}

fn update_static_member(
    group: &mut Group,
    cfg: &CoordinatorConfig,
    fx: &mut Effects,
    now: u64,
    old_id: &str,
    new_id: String,
    p: JoinParams<'_>,
) -> Reply<JoinGroupResponse> {
    let version = p.waiter.version;
    let current_leader = group.leader.clone();
    // Replace the old member id: its parked requests are fenced.
    let Some(mut member) = group.members.remove(old_id) else {
        return Reply::Now(join_error(version, "", ErrorCode::UnknownMemberId));
    };
    if let Some(w) = member.awaiting_join.take() {
        fx.ready.push((
            w.token,
            DelayedResponse::JoinGroup(join_error(w.version, old_id, ErrorCode::FencedInstanceId)),
        ));
    }
    if let Some(w) = member.awaiting_sync.take() {
        fx.ready.push((
            w.token,
            DelayedResponse::SyncGroup(sync_error(ErrorCode::FencedInstanceId)),
        ));
    }
    tracing::info!(group = %group.id, old = %old_id, new = %new_id, "static member rejoins with a new member id");
    member.id = new_id.clone();
    if group.is_leader(old_id) {
        group.leader = Some(new_id.clone());
    }
    if group.pending_sync.remove(old_id) {
        group.pending_sync.insert(new_id.clone());
    }
    if let Some(instance) = &member.instance_id {
        group
            .static_members
            .insert(instance.clone(), new_id.clone());
    }
    member.heartbeat_deadline = Some(after(now, member.session_timeout_ms));
    update_member(&mut member, &p, fx);
    group.members.insert(new_id.clone(), member);
    match group.state {
        GroupState::Stable => {
            if group.protocol_name == group.select_protocol() {
                // Same selected protocol: persist the new member id and hand back the
                // current generation; the member syncs to get its unchanged assignment.
                fx.records.push(group.metadata_record());
                let is_leader = group.is_leader(&new_id);
                let skip = is_leader && version >= 9;
                let mut r = group.join_response(version, &new_id, skip, skip);
                r.leader = current_leader.unwrap_or_default();
                if let Some(m) = group.members.get_mut(&new_id) {
                    m.awaiting_join = None;
                }
                Reply::Now(r)
            } else {
                group.prepare_rebalance(
                    cfg,
                    fx,
                    now,
                    "static member changed the selected protocol",
                );
                Reply::Later
            }
        }
        GroupState::CompletingRebalance => {
            group.prepare_rebalance(
                cfg,
                fx,
                now,
                "static member rejoined during CompletingRebalance",
            );
            Reply::Later
        }
        _ => Reply::Later,
    }
}

fn join_existing_member(
    group: &mut Group,
    cfg: &CoordinatorConfig,
    fx: &mut Effects,
    now: u64,
    member_id: &str,
    p: JoinParams<'_>,
) -> Reply<JoinGroupResponse> {
    let version = p.waiter.version;
    let err = |e: ErrorCode| Reply::Now(join_error(version, member_id, e));
    if group.is(GroupState::Dead) {
        return err(ErrorCode::CoordinatorNotAvailable);
    }
    if !group.supports_protocols(p.protocol_type, &p.protocols) {
        return err(ErrorCode::InconsistentGroupProtocol);
    }
    if group.pending_members.contains_key(member_id) {
        return add_member_and_rebalance(group, cfg, fx, now, member_id.to_owned(), p);
    }
    if let Err(e) = group.validate_member(member_id, p.instance_id) {
        return err(e);
    }
    let is_leader = group.is_leader(member_id);
    let state = group.state;
    let Some(member) = group.members.get_mut(member_id) else {
        return err(ErrorCode::UnknownMemberId);
    };
    let matches = member.matches(&p.protocols);
    match state {
        GroupState::PreparingRebalance => {
            update_member(member, &p, fx);
            Reply::Later
        }
        GroupState::CompletingRebalance if matches => {
            // The member lost the JoinGroup response: give it the current generation again.
            Reply::Now(group.join_response(version, member_id, is_leader, false))
        }
        GroupState::Stable if matches && !is_leader => {
            Reply::Now(group.join_response(version, member_id, false, false))
        }
        GroupState::CompletingRebalance | GroupState::Stable => {
            // A leader's rejoin or changed metadata triggers a rebalance.
            update_member(member, &p, fx);
            group.maybe_prepare_rebalance(
                cfg,
                fx,
                now,
                "member rejoined with new metadata or as leader",
            );
            Reply::Later
        }
        GroupState::Empty | GroupState::Dead => err(ErrorCode::UnknownMemberId),
    }
}

/// The subscribed topics of a member's consumer-protocol metadata (for tests and tools).
pub fn subscription_topics(metadata: &Bytes) -> Option<Vec<String>> {
    parse_subscription(metadata)
}

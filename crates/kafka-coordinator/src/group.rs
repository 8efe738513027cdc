//! A classic group's state (Kafka's `GroupMetadata` / `ClassicGroup` and `MemberMetadata` /
//! `ClassicGroupMember`) and the transitions shared by every API.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Buf, Bytes};
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{
    ConsumerProtocolSubscription, JoinGroupResponse, SyncGroupResponse,
};
use kafka_protocol::{Decodable, ErrorCode};

use crate::config::CoordinatorConfig;
use crate::coordinator::Undo;
use crate::record::{CoordinatorRecord, MemberRecord};
use crate::{DelayedResponse, ResponseToken};

/// The protocol type of Kafka consumers, whose metadata is a `ConsumerProtocolSubscription`.
pub(crate) const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// A classic group's state, as Kafka names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// No members (offsets may remain).
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignments.
    CompletingRebalance,
    /// Assignments handed out.
    Stable,
    /// Deleted.
    Dead,
}

impl GroupState {
    /// The name Kafka uses on the wire (DescribeGroups, ListGroups).
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// A request parked until the group can answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Waiter {
    pub(crate) token: ResponseToken,
    pub(crate) version: i16,
}

/// What the caller is given later: the ready responses and the records to persist, with
/// what the records changed (to undo if they are not stored) and the responses that must
/// wait for them.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    pub(crate) ready: Vec<(ResponseToken, DelayedResponse)>,
    pub(crate) records: Vec<CoordinatorRecord>,
    pub(crate) undo: Vec<Undo>,
    pub(crate) held: Vec<(ResponseToken, DelayedResponse)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) session_timeout_ms: i32,
    pub(crate) protocol_type: String,
    pub(crate) protocols: Vec<(String, Bytes)>,
    pub(crate) assignment: Bytes,
    pub(crate) awaiting_join: Option<Waiter>,
    pub(crate) awaiting_sync: Option<Waiter>,
    pub(crate) is_new: bool,
    pub(crate) heartbeat_deadline: Option<u64>,
}

impl Member {
    pub(crate) fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    pub(crate) fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(name, _)| name == protocol)
    }
}

/// The join phase's timer: Kafka's `DelayedJoin` (`initial: None`) or `InitialDelayedJoin`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JoinTimer {
    pub(crate) deadline: u64,
    /// For the initial delay of an empty group: (this delay, the remaining budget).
    pub(crate) initial: Option<(u64, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    pub(crate) offset: i64,
    pub(crate) leader_epoch: i32,
    pub(crate) metadata: String,
    pub(crate) commit_timestamp: i64,
    pub(crate) expire_timestamp: Option<i64>,
}

#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) id: String,
    pub(crate) state: GroupState,
    pub(crate) state_timestamp: Option<i64>,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) generation: i32,
    pub(crate) leader: Option<String>,
    pub(crate) members: BTreeMap<String, Member>,
    /// group.instance.id → member id.
    pub(crate) static_members: BTreeMap<String, String>,
    /// Member ids handed out by MEMBER_ID_REQUIRED, with their expiry.
    pub(crate) pending_members: BTreeMap<String, u64>,
    pub(crate) pending_sync: BTreeSet<String>,
    pub(crate) sync_deadline: Option<u64>,
    pub(crate) join_timer: Option<JoinTimer>,
    pub(crate) new_member_added: bool,
    pub(crate) subscribed_topics: Option<BTreeSet<String>>,
    pub(crate) offsets: BTreeMap<(String, i32), OffsetEntry>,
}

pub(crate) fn now_ts(now: u64) -> i64 {
    i64::try_from(now).unwrap_or(i64::MAX)
}

fn after(now: u64, ms: i32) -> u64 {
    now.saturating_add(u64::try_from(ms).unwrap_or(0))
}

pub(crate) fn join_error(version: i16, member_id: &str, error: ErrorCode) -> JoinGroupResponse {
    let mut r = JoinGroupResponse::default();
    r.error_code = error.code();
    r.generation_id = -1;
    r.member_id = member_id.to_owned();
    r.protocol_name = if version >= 7 {
        None
    } else {
        Some(String::new())
    };
    r
}

pub(crate) fn sync_error(error: ErrorCode) -> SyncGroupResponse {
    let mut r = SyncGroupResponse::default();
    r.error_code = error.code();
    r
}

impl Group {
    pub(crate) fn new(id: &str, now: u64) -> Group {
        Group {
            id: id.to_owned(),
            state: GroupState::Empty,
            state_timestamp: Some(now_ts(now)),
            protocol_type: None,
            protocol_name: None,
            generation: 0,
            leader: None,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            pending_sync: BTreeSet::new(),
            sync_deadline: None,
            join_timer: None,
            new_member_added: false,
            subscribed_topics: None,
            offsets: BTreeMap::new(),
        }
    }

    pub(crate) fn is(&self, state: GroupState) -> bool {
        self.state == state
    }

    pub(crate) fn transition(&mut self, state: GroupState, now: u64) {
        tracing::debug!(group = %self.id, from = self.state.name(), to = state.name(), "group state");
        self.state = state;
        self.state_timestamp = Some(now_ts(now));
    }

    pub(crate) fn can_rebalance(&self) -> bool {
        matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        )
    }

    pub(crate) fn is_leader(&self, member_id: &str) -> bool {
        self.leader.as_deref() == Some(member_id)
    }

    /// The largest rebalance timeout of the members: how long a rebalance waits.
    pub(crate) fn rebalance_timeout_ms(&self) -> i32 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    pub(crate) fn num_awaiting_join(&self) -> usize {
        self.members
            .values()
            .filter(|m| m.awaiting_join.is_some())
            .count()
    }

    pub(crate) fn has_all_members_joined(&self) -> bool {
        self.members.values().all(|m| m.awaiting_join.is_some()) && self.pending_members.is_empty()
    }

    /// Kafka's `supportsProtocols`: anything non-empty for an empty group, otherwise the same
    /// protocol type and at least one protocol every member supports.
    pub(crate) fn supports_protocols(
        &self,
        protocol_type: &str,
        protocols: &[(String, Bytes)],
    ) -> bool {
        if self.is(GroupState::Empty) {
            !protocol_type.is_empty() && !protocols.is_empty()
        } else {
            self.protocol_type.as_deref() == Some(protocol_type)
                && protocols.iter().any(|(name, _)| {
                    self.members.values().filter(|m| m.supports(name)).count() == self.members.len()
                })
        }
    }

    /// Kafka's `selectProtocol`: among the protocols every member supports, each member votes
    /// for the first one in its own preference order; the most votes win (ties: the
    /// candidate that comes first in the leader's preference order).
    pub(crate) fn select_protocol(&self) -> Option<String> {
        let n = self.members.len();
        let leader = self.leader.as_ref().and_then(|l| self.members.get(l));
        let first = leader.or_else(|| self.members.values().next())?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| self.members.values().filter(|m| m.supports(name)).count() == n)
            .collect();
        let mut votes: Vec<(usize, &str)> = candidates.iter().map(|c| (0, *c)).collect();
        for m in self.members.values() {
            if let Some((name, _)) = m
                .protocols
                .iter()
                .find(|(name, _)| candidates.contains(&name.as_str()))
            {
                if let Some(v) = votes.iter_mut().find(|(_, c)| *c == name) {
                    v.0 += 1;
                }
            }
        }
        let mut best: Option<(usize, &str)> = None;
        for (count, name) in votes {
            if best.is_none_or(|(b, _)| count > b) {
                best = Some((count, name));
            }
        }
        best.map(|(_, name)| name.to_owned())
    }

    pub(crate) fn add_member(&mut self, member: Member) {
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(member.id.clone());
        }
        if let Some(instance) = &member.instance_id {
            self.static_members
                .insert(instance.clone(), member.id.clone());
        }
        self.members.insert(member.id.clone(), member);
    }

    /// Removes a member, answering any request it has parked with UNKNOWN_MEMBER_ID.
    pub(crate) fn remove_member(&mut self, member_id: &str, fx: &mut Effects) -> Option<Member> {
        let mut member = self.members.remove(member_id)?;
        if let Some(w) = member.awaiting_join.take() {
            fx.ready.push((
                w.token,
                DelayedResponse::JoinGroup(join_error(w.version, "", ErrorCode::UnknownMemberId)),
            ));
        }
        if let Some(w) = member.awaiting_sync.take() {
            fx.ready.push((
                w.token,
                DelayedResponse::SyncGroup(sync_error(ErrorCode::UnknownMemberId)),
            ));
        }
        self.pending_sync.remove(member_id);
        if let Some(instance) = &member.instance_id {
            if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                self.static_members.remove(instance);
            }
        }
        if self.is_leader(member_id) {
            self.leader = self.members.keys().next().cloned();
        }
        Some(member)
    }

    /// Kafka's `validateMember`.
    pub(crate) fn validate_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), ErrorCode> {
        match instance_id {
            Some(instance) => match self.static_members.get(instance) {
                None => Err(ErrorCode::UnknownMemberId),
                Some(existing) if existing != member_id => Err(ErrorCode::FencedInstanceId),
                Some(_) => Ok(()),
            },
            None if !self.members.contains_key(member_id) => Err(ErrorCode::UnknownMemberId),
            None => Ok(()),
        }
    }

    pub(crate) fn current_member_metadata(&self) -> Vec<JoinGroupResponseMember> {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        self.members
            .values()
            .map(|m| {
                let mut r = JoinGroupResponseMember::default();
                r.member_id = m.id.clone();
                r.group_instance_id = m.instance_id.clone();
                r.metadata = m.metadata(&protocol);
                r
            })
            .collect()
    }

    /// The JoinGroup answer for `member_id` in the current generation (leader gets members).
    pub(crate) fn join_response(
        &self,
        version: i16,
        member_id: &str,
        with_members: bool,
        skip_assignment: bool,
    ) -> JoinGroupResponse {
        let mut r = JoinGroupResponse::default();
        r.generation_id = self.generation;
        r.protocol_type = self.protocol_type.clone();
        r.protocol_name = self.protocol_name.clone();
        if version < 7 && r.protocol_name.is_none() {
            r.protocol_name = Some(String::new());
        }
        r.leader = self.leader.clone().unwrap_or_default();
        r.member_id = member_id.to_owned();
        r.skip_assignment = skip_assignment;
        if with_members {
            r.members = self.current_member_metadata();
        }
        r
    }

    pub(crate) fn sync_response(&self, assignment: Bytes) -> SyncGroupResponse {
        let mut r = SyncGroupResponse::default();
        r.protocol_type = self.protocol_type.clone();
        r.protocol_name = self.protocol_name.clone();
        r.assignment = assignment;
        r
    }

    pub(crate) fn maybe_prepare_rebalance(
        &mut self,
        cfg: &CoordinatorConfig,
        fx: &mut Effects,
        now: u64,
        reason: &str,
    ) {
        if self.can_rebalance() {
            self.prepare_rebalance(cfg, fx, now, reason);
        }
    }

    /// Kafka's `prepareRebalance`.
    pub(crate) fn prepare_rebalance(
        &mut self,
        cfg: &CoordinatorConfig,
        fx: &mut Effects,
        now: u64,
        reason: &str,
    ) {
        if self.is(GroupState::CompletingRebalance) {
            self.reset_and_propagate_assignment_error(ErrorCode::RebalanceInProgress, fx, now);
        }
        self.pending_sync.clear();
        self.sync_deadline = None;
        let rebalance_timeout = u64::try_from(self.rebalance_timeout_ms()).unwrap_or(0);
        self.join_timer = Some(if self.is(GroupState::Empty) {
            let delay = u64::try_from(cfg.group_initial_rebalance_delay_ms).unwrap_or(0);
            self.new_member_added = false;
            JoinTimer {
                deadline: now.saturating_add(delay),
                initial: Some((delay, rebalance_timeout.saturating_sub(delay))),
            }
        } else {
            JoinTimer {
                deadline: now.saturating_add(rebalance_timeout),
                initial: None,
            }
        });
        tracing::info!(group = %self.id, generation = self.generation, reason, "preparing to rebalance");
        self.transition(GroupState::PreparingRebalance, now);
    }

    fn reset_and_propagate_assignment_error(
        &mut self,
        error: ErrorCode,
        fx: &mut Effects,
        now: u64,
    ) {
        for m in self.members.values_mut() {
            m.assignment = Bytes::new();
            if let Some(w) = m.awaiting_sync.take() {
                fx.ready
                    .push((w.token, DelayedResponse::SyncGroup(sync_error(error))));
                m.heartbeat_deadline = Some(after(now, m.session_timeout_ms));
            }
        }
    }

    /// The leader's assignments arrived: store them (a group metadata record) and hand them
    /// out, holding the responses until the record is stored.
    pub(crate) fn set_and_propagate_assignment(
        &mut self,
        assignments: &BTreeMap<String, Bytes>,
        fx: &mut Effects,
        now: u64,
    ) {
        for m in self.members.values_mut() {
            m.assignment = assignments.get(&m.id).cloned().unwrap_or_default();
        }
        fx.records.push(self.metadata_record());
        let protocol_type = self.protocol_type.clone();
        let protocol_name = self.protocol_name.clone();
        let mut tokens = Vec::new();
        for m in self.members.values_mut() {
            if let Some(w) = m.awaiting_sync.take() {
                let mut r = SyncGroupResponse::default();
                r.protocol_type = protocol_type.clone();
                r.protocol_name = protocol_name.clone();
                r.assignment = m.assignment.clone();
                fx.held.push((w.token, DelayedResponse::SyncGroup(r)));
                tokens.push(w.token);
                m.heartbeat_deadline = Some(after(now, m.session_timeout_ms));
            }
        }
        fx.undo.push(Undo::Assignment {
            group_id: self.id.clone(),
            generation: self.generation,
            tokens,
        });
    }

    /// Completes the join phase at once if every member has joined (not during the initial
    /// delay of an empty group, which only ends on its timer).
    pub(crate) fn maybe_complete_join(
        &mut self,
        cfg: &CoordinatorConfig,
        fx: &mut Effects,
        now: u64,
    ) {
        if self.is(GroupState::PreparingRebalance)
            && self.join_timer.is_some_and(|t| t.initial.is_none())
            && self.has_all_members_joined()
        {
            self.complete_join(cfg, fx, now);
        }
    }

    /// The join timer fired.
    pub(crate) fn on_join_deadline(&mut self, cfg: &CoordinatorConfig, fx: &mut Effects, now: u64) {
        let Some(timer) = self.join_timer else { return };
        if let Some((delay, remaining)) = timer.initial {
            if self.new_member_added && remaining != 0 {
                self.new_member_added = false;
                let configured = u64::try_from(cfg.group_initial_rebalance_delay_ms).unwrap_or(0);
                let next_delay = configured.min(remaining);
                self.join_timer = Some(JoinTimer {
                    deadline: now.saturating_add(next_delay),
                    initial: Some((next_delay, remaining.saturating_sub(delay))),
                });
                return;
            }
        }
        self.complete_join(cfg, fx, now);
    }

    /// Kafka's `onCompleteJoin`.
    pub(crate) fn complete_join(&mut self, _cfg: &CoordinatorConfig, fx: &mut Effects, now: u64) {
        self.join_timer = None;
        let not_rejoined: Vec<String> = self
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in not_rejoined {
            tracing::info!(group = %self.id, member = %id, "member did not rejoin in time; removed");
            self.remove_member(&id, fx);
        }
        if self.is(GroupState::Dead) {
            return;
        }
        if !self.maybe_elect_new_joined_leader() && !self.members.is_empty() {
            // Only static members that have not rejoined remain: wait another round for them
            // to rejoin or for their sessions to expire.
            let timeout = u64::try_from(self.rebalance_timeout_ms()).unwrap_or(0);
            self.join_timer = Some(JoinTimer {
                deadline: now.saturating_add(timeout),
                initial: None,
            });
            return;
        }
        self.init_next_generation(now);
        if self.is(GroupState::Empty) {
            fx.records.push(self.metadata_record());
            return;
        }
        tracing::info!(group = %self.id, generation = self.generation, members = self.members.len(), "rebalance complete");
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let waiter = self.members.get(&id).and_then(|m| m.awaiting_join);
            if let Some(waiter) = waiter {
                let response = self.join_response(waiter.version, &id, self.is_leader(&id), false);
                fx.ready
                    .push((waiter.token, DelayedResponse::JoinGroup(response)));
            }
            // Every member (static members that did not rejoin too) must now sync.
            if let Some(m) = self.members.get_mut(&id) {
                m.awaiting_join = None;
                m.heartbeat_deadline = Some(after(now, m.session_timeout_ms));
                m.is_new = false;
            }
            self.pending_sync.insert(id);
        }
        self.sync_deadline = Some(after(now, self.rebalance_timeout_ms()));
    }

    fn maybe_elect_new_joined_leader(&mut self) -> bool {
        let Some(leader) = self.leader.clone() else {
            return false;
        };
        if self
            .members
            .get(&leader)
            .is_some_and(|m| m.awaiting_join.is_some())
        {
            return true;
        }
        match self.members.values().find(|m| m.awaiting_join.is_some()) {
            Some(m) => {
                self.leader = Some(m.id.clone());
                true
            }
            None => false,
        }
    }

    pub(crate) fn init_next_generation(&mut self, now: u64) {
        self.generation = self.generation.wrapping_add(1);
        if self.members.is_empty() {
            self.protocol_name = None;
            self.subscribed_topics = None;
            self.transition(GroupState::Empty, now);
        } else {
            self.protocol_name = self.select_protocol();
            self.subscribed_topics = self.compute_subscribed_topics();
            self.transition(GroupState::CompletingRebalance, now);
        }
        self.pending_sync.clear();
    }

    /// The topics the group's consumers subscribe to, if the group speaks the consumer
    /// protocol and every member's metadata parses.
    pub(crate) fn compute_subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = BTreeSet::new();
        for m in self.members.values() {
            topics.extend(parse_subscription(&m.metadata(protocol))?);
        }
        Some(topics)
    }

    pub(crate) fn is_subscribed_to_topic(&self, topic: &str) -> bool {
        self.subscribed_topics
            .as_ref()
            .is_some_and(|t| t.contains(topic))
    }

    /// Kafka's member failure: remove it and rebalance (or finish the join phase).
    pub(crate) fn remove_member_and_update(
        &mut self,
        member_id: &str,
        cfg: &CoordinatorConfig,
        fx: &mut Effects,
        now: u64,
        reason: &str,
    ) {
        if self.remove_member(member_id, fx).is_none() {
            return;
        }
        match self.state {
            GroupState::Dead | GroupState::Empty => {}
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance(cfg, fx, now, reason)
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(cfg, fx, now),
        }
    }

    pub(crate) fn metadata_record(&self) -> CoordinatorRecord {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        CoordinatorRecord::GroupMetadata {
            group_id: self.id.clone(),
            protocol_type: self.protocol_type.clone(),
            generation_id: self.generation,
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone(),
            current_state_timestamp: self.state_timestamp.unwrap_or(-1),
            members: self
                .members
                .values()
                .map(|m| MemberRecord {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata(&protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// Kafka's offset expiration condition for classic groups: the timestamp an offset's
    /// retention counts from, or `None` if this group's offsets do not expire now.
    pub(crate) fn expired_offsets(&self, now: i64, retention_ms: i64) -> Vec<(String, i32)> {
        enum Base {
            StateTimestamp,
            CommitTimestamp,
        }
        let (base, subscribed) = match &self.protocol_type {
            Some(_) if self.is(GroupState::Empty) => (Base::StateTimestamp, None),
            Some(pt)
                if pt == CONSUMER_PROTOCOL_TYPE
                    && self.subscribed_topics.is_some()
                    && self.is(GroupState::Stable) =>
            {
                (Base::CommitTimestamp, self.subscribed_topics.as_ref())
            }
            Some(_) => return Vec::new(),
            None => (Base::CommitTimestamp, None),
        };
        self.offsets
            .iter()
            .filter(|((topic, _), _)| !subscribed.is_some_and(|s| s.contains(topic)))
            .filter(|(_, o)| match o.expire_timestamp {
                Some(expire) => now >= expire,
                None => {
                    let base = match base {
                        Base::StateTimestamp => self.state_timestamp.unwrap_or(o.commit_timestamp),
                        Base::CommitTimestamp => o.commit_timestamp,
                    };
                    now.saturating_sub(base) >= retention_ms
                }
            })
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// Parses a `ConsumerProtocolSubscription` (a big-endian version, then the body; versions
/// newer than we know are read as the newest, as Kafka's `ConsumerProtocol` does).
pub(crate) fn parse_subscription(metadata: &Bytes) -> Option<Vec<String>> {
    let mut buf = metadata.clone();
    if buf.remaining() < 2 {
        return None;
    }
    let version = buf.get_i16();
    if version < 0 {
        return None;
    }
    let version = version.min(3);
    ConsumerProtocolSubscription::decode(&mut buf, version)
        .ok()
        .map(|s| s.topics)
}

//! Group membership: JoinGroup, SyncGroup, Heartbeat and LeaveGroup, and the timers that
//! drive rebalances (member sessions, join and sync timeouts, the initial rebalance delay).

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::ErrorCode;

use super::write::{StaticMemberUndo, Undo};
use super::{after, ClientInfo, DelayedResponse, GroupCoordinator, Reply, ResponseToken};
use crate::config::CoordinatorConfig;
use crate::group::{
    join_error, parse_subscription, sync_error, Effects, Group, GroupState, Member, Waiter,
};

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

impl GroupCoordinator {
    /// The earliest deadline of a membership timer: a join or sync timeout, a pending
    /// member's or a member's session.
    pub(super) fn next_membership_deadline(&self) -> Option<u64> {
        let mut next = None;
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

    /// Runs the membership timers due at `now`: pending members and sessions that expired,
    /// join (rebalance) timeouts and the initial delay, the pending-sync timeout.
    pub(super) fn poll_membership(&mut self, now: u64) {
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
        if let Some(code) = self.refusal {
            return err(code);
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
        if let Some(code) = self.refusal {
            return err(code);
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
                    group.set_and_propagate_assignment(&assignments, fx, now);
                    group.transition(GroupState::Stable, now);
                    tracing::info!(group = %group.id, generation = group.generation, "group stable");
                }
                Reply::Later
            }
        }
    }

    /// Kafka's revert when a static member's new id is not stored: the member gets its old
    /// id, protocols and timeouts back (its JoinGroup answer carries the error).
    pub(super) fn undo_static_member(&mut self, u: StaticMemberUndo) {
        let Some(group) = self.groups.get_mut(&u.group_id) else {
            return;
        };
        let Some(mut member) = group.members.remove(&u.new_id) else {
            return;
        };
        tracing::warn!(group = %group.id, new = %u.new_id, old = %u.old_id, "static member's new id not stored; reverting to the old id");
        member.id = u.old_id.clone();
        member.protocols = u.protocols;
        member.rebalance_timeout_ms = u.rebalance_timeout_ms;
        member.session_timeout_ms = u.session_timeout_ms;
        member.awaiting_join = None;
        if u.was_leader || group.is_leader(&u.new_id) {
            group.leader = Some(u.old_id.clone());
        }
        if group.pending_sync.remove(&u.new_id) {
            group.pending_sync.insert(u.old_id.clone());
        }
        if let Some(instance) = &member.instance_id {
            group
                .static_members
                .insert(instance.clone(), u.old_id.clone());
        }
        group.members.insert(u.old_id, member);
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
        if let Some(code) = self.refusal {
            return code;
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
        let top = if let Some(code) = self.refusal {
            code
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
    let was_leader = group.is_leader(old_id);
    let previous = (
        member.protocols.clone(),
        member.rebalance_timeout_ms,
        member.session_timeout_ms,
    );
    member.id = new_id.clone();
    if was_leader {
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
                let (protocols, rebalance_timeout_ms, session_timeout_ms) = previous;
                fx.undo.push(Undo::StaticMember(Box::new(StaticMemberUndo {
                    group_id: group.id.clone(),
                    old_id: old_id.to_owned(),
                    new_id: new_id.clone(),
                    was_leader,
                    protocols,
                    rebalance_timeout_ms,
                    session_timeout_ms,
                })));
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

//! Committed offsets: OffsetCommit, OffsetFetch and OffsetDelete, their expiration, and the
//! records that persist them (commits and tombstones, produced here and replayed here).

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
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchResponse,
};
use kafka_protocol::ErrorCode;

use super::{GroupCoordinator, Undo};
use crate::group::{now_ts, Group, GroupState, OffsetEntry, CONSUMER_PROTOCOL_TYPE};
use crate::record::CoordinatorRecord;

impl GroupCoordinator {
    /// When offset expiration runs next (not while loading).
    pub(super) fn next_offsets_deadline(&self) -> Option<u64> {
        if self.refusal.is_some() {
            None
        } else {
            Some(self.next_offset_check)
        }
    }

    /// Expires offsets if the retention check is due at `now`.
    pub(super) fn poll_offsets(&mut self, now: u64) {
        if self.refusal.is_none() && self.next_offset_check <= now {
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
                let key = (topic.clone(), partition);
                let previous = g.offsets.remove(&key);
                self.fx.undo.push(Undo::Offset {
                    group_id: g.id.clone(),
                    key,
                    previous,
                });
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
            if let Some(g) = self.groups.remove(&id) {
                self.fx.undo.push(Undo::RemovedGroup(Box::new(g)));
            }
            self.fx
                .records
                .push(CoordinatorRecord::GroupTombstone { group_id: id });
        }
    }

    /// Replays a stored commit: the offset exactly as committed.
    pub(super) fn replay_offset_commit(
        &mut self,
        group_id: String,
        key: (String, i32),
        entry: OffsetEntry,
    ) {
        let g = self
            .groups
            .entry(group_id.clone())
            .or_insert_with(|| Group::new(&group_id, 0));
        g.offsets.insert(key, entry);
    }

    /// Replays an offset tombstone; a group left with nothing to remember goes too.
    pub(super) fn replay_offset_tombstone(&mut self, group_id: &str, key: (String, i32)) {
        if let Some(g) = self.groups.get_mut(group_id) {
            g.offsets.remove(&key);
            if g.offsets.is_empty() && g.members.is_empty() && g.protocol_type.is_none() {
                self.groups.remove(group_id);
            }
        }
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
        if let Some(code) = self.refusal {
            return all(code);
        }
        let group = match self.groups.get_mut(&req.group_id) {
            Some(g) => g,
            None if generation < 0 => {
                self.fx.undo.push(Undo::CreatedGroup {
                    group_id: req.group_id.clone(),
                });
                self.groups
                    .entry(req.group_id.clone())
                    .or_insert_with(|| Group::new(&req.group_id, now))
            }
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
            let key = (topic.to_owned(), p.partition_index);
            let previous = group.offsets.insert(key.clone(), entry);
            fx.undo.push(Undo::Offset {
                group_id: group.id.clone(),
                key,
                previous,
            });
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
                if let Some(code) = self.refusal {
                    out.error_code = code.code();
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
        if let (Some(code), true) = (self.refusal, version >= 2) {
            r.error_code = code.code();
            return r;
        }
        let refusal_code = self.refusal.map_or(0, |code| code.code());
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
                        p.committed_offset = if refusal_code != 0 { -1 } else { offset };
                        p.committed_leader_epoch = epoch;
                        p.metadata = Some(meta);
                        p.error_code = refusal_code;
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
        let group = if self.refusal.is_some() {
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
        let top = if let Some(code) = self.refusal {
            code
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
                    let key = (t.name.clone(), p.partition_index);
                    if let Some(previous) = group.offsets.remove(&key) {
                        self.fx.undo.push(Undo::Offset {
                            group_id: group.id.clone(),
                            key,
                            previous: Some(previous),
                        });
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
            if let Some(g) = self.groups.remove(&id) {
                self.fx.undo.push(Undo::RemovedGroup(Box::new(g)));
            }
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

//! Persistence as a step of the contract: the records of a call leave as a [`PendingWrite`]
//! that remembers what they changed in memory, and the caller reports whether the append
//! succeeded. A failed append is undone here (Kafka's `GroupMetadataManager` removes pending
//! offset commits; its `CoordinatorRuntime` reverts to the last committed snapshot) and the
//! responses that depended on it carry the error instead of success.

use bytes::Bytes;
use kafka_protocol::messages::ResponseKind;
use kafka_protocol::ErrorCode;

use super::{DelayedResponse, GroupCoordinator, ResponseToken};
use crate::group::{sync_error, Group, GroupState, OffsetEntry};
use crate::record::CoordinatorRecord;

/// What one record changed in memory, to put back if the record is not stored.
#[derive(Debug)]
pub(crate) enum Undo {
    /// An offset was committed or removed: `previous` is what was there before.
    Offset {
        group_id: String,
        key: (String, i32),
        previous: Option<OffsetEntry>,
    },
    /// A commit created the group (a simple consumer's first commit).
    CreatedGroup { group_id: String },
    /// A group was removed (deleted, or expired with its last offset).
    RemovedGroup(Box<Group>),
    /// The leader's assignments of `generation`: the sync responses handing them out (to
    /// `tokens`) are held in the [`PendingWrite`] until the record is stored.
    Assignment {
        group_id: String,
        generation: i32,
        tokens: Vec<ResponseToken>,
    },
    /// A static member rejoined a Stable group under a new member id.
    StaticMember(Box<StaticMemberUndo>),
}

/// What a static member's rejoin replaced (Kafka reverts to the old member id on failure).
#[derive(Debug)]
pub(crate) struct StaticMemberUndo {
    pub(crate) group_id: String,
    pub(crate) old_id: String,
    pub(crate) new_id: String,
    pub(crate) was_leader: bool,
    pub(crate) protocols: Vec<(String, Bytes)>,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) session_timeout_ms: i32,
}

/// The records of one call, on their way to the log. Report the outcome with
/// [`GroupCoordinator::write_completed`] or [`GroupCoordinator::write_failed`]: the responses
/// that depend on these records (the SyncGroup responses handing out stored assignments) are
/// held inside until then.
#[derive(Debug)]
#[must_use = "report the outcome with write_completed or write_failed"]
pub struct PendingWrite {
    records: Vec<CoordinatorRecord>,
    undo: Vec<Undo>,
    held: Vec<(ResponseToken, DelayedResponse)>,
}

impl PendingWrite {
    /// The records to append, in order (never empty).
    pub fn records(&self) -> &[CoordinatorRecord] {
        &self.records
    }
}

/// How a failed write is answered: the error each kind of response carries instead of
/// success. Returned by [`GroupCoordinator::write_failed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteFailure {
    /// The error of each OffsetCommit partition that would have succeeded.
    pub commit_error: ErrorCode,
    /// The error of the other group responses (JoinGroup, SyncGroup, LeaveGroup,
    /// DeleteGroups, OffsetDelete).
    pub group_error: ErrorCode,
}

impl WriteFailure {
    /// The answers to a failed append whose Kafka error code was `append_error`: Kafka's
    /// mapping of log append errors to what group clients understand (commits:
    /// `GroupMetadataManager.storeOffsets`; the rest: `appendGroupMetadataErrorToResponseError`
    /// and `GroupCoordinatorService.handleOperationException`). Codes with no mapping answer
    /// UNKNOWN_SERVER_ERROR: an append error of the coordinator's own records (a corrupt or
    /// invalid batch) is the broker's fault, not something the client could act on.
    pub fn from_append_error(append_error: ErrorCode) -> Self {
        use ErrorCode as E;
        let (commit_error, group_error) = match append_error {
            E::UnknownTopicOrPartition
            | E::NotEnoughReplicas
            | E::NotEnoughReplicasAfterAppend
            | E::RequestTimedOut => (E::CoordinatorNotAvailable, E::CoordinatorNotAvailable),
            E::NotLeaderOrFollower | E::KafkaStorageError => (E::NotCoordinator, E::NotCoordinator),
            E::MessageTooLarge | E::RecordListTooLarge | E::InvalidFetchSize => {
                (E::InvalidCommitOffsetSize, E::UnknownServerError)
            }
            _ => (E::UnknownServerError, E::UnknownServerError),
        };
        WriteFailure {
            commit_error,
            group_error,
        }
    }

    /// Rewrites the immediate response of the call whose write failed: every part that
    /// reported success now reports the error (errors found before the write stay).
    pub fn fail_response(&self, response: &mut ResponseKind) {
        let group = self.group_error.code();
        match response {
            ResponseKind::OffsetCommit(r) => {
                for p in r.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
                    if p.error_code == 0 {
                        p.error_code = self.commit_error.code();
                    }
                }
            }
            ResponseKind::DeleteGroups(r) => {
                for g in &mut r.results {
                    if g.error_code == 0 {
                        g.error_code = group;
                    }
                }
            }
            ResponseKind::OffsetDelete(r) if r.error_code == 0 => {
                r.error_code = group;
                r.topics.clear();
            }
            ResponseKind::LeaveGroup(r) if r.error_code == 0 => {
                r.error_code = group;
                r.members.clear();
            }
            ResponseKind::JoinGroup(r) if r.error_code == 0 => {
                r.error_code = group;
                r.member_id.clear();
                r.members.clear();
            }
            ResponseKind::SyncGroup(r) if r.error_code == 0 => {
                *r = sync_error(self.group_error);
            }
            // Other group APIs write nothing; anything else is not ours to rewrite.
            _ => {}
        }
    }
}

impl GroupCoordinator {
    /// The records to persist, in order, as one write; `None` if the calls since the last
    /// take changed nothing durable. Append [`PendingWrite::records`] to the log (and wait
    /// for them to be durable, if the broker promises that), then report the outcome with
    /// [`GroupCoordinator::write_completed`] or [`GroupCoordinator::write_failed`] before
    /// sending the responses produced by the same call.
    pub fn take_records(&mut self) -> Option<PendingWrite> {
        let records = std::mem::take(&mut self.fx.records);
        let undo = std::mem::take(&mut self.fx.undo);
        let held = std::mem::take(&mut self.fx.held);
        if records.is_empty() {
            // Nothing to wait for (a change with no record, e.g. a group created by a commit
            // that failed validation, is kept as Kafka keeps it).
            self.fx.ready.extend(held);
            return None;
        }
        Some(PendingWrite {
            records,
            undo,
            held,
        })
    }

    /// The write is stored: the responses it held become ready.
    pub fn write_completed(&mut self, write: PendingWrite) {
        self.fx.ready.extend(write.held);
    }

    /// The write failed with `append_error` (the Kafka error code of the log append). What
    /// its records changed is put back: offsets committed or removed, groups deleted or
    /// expired, a static member's new id; stored assignments are withdrawn (every member
    /// waiting for one gets the error and the group rebalances, as Kafka's
    /// `resetAndPropagateAssignmentError` and `maybePrepareRebalance`). Group metadata that
    /// only mirrors the membership (a group left empty) is not undone: the membership change
    /// happened, and a restart replays the last stored metadata instead.
    ///
    /// The returned [`WriteFailure`] rewrites the immediate response of the call
    /// ([`WriteFailure::fail_response`]); parked responses come out of
    /// [`GroupCoordinator::take_ready`] already carrying the error.
    pub fn write_failed(
        &mut self,
        write: PendingWrite,
        append_error: ErrorCode,
        now: u64,
    ) -> WriteFailure {
        let failure = WriteFailure::from_append_error(append_error);
        tracing::warn!(
            records = write.records.len(),
            ?append_error,
            "coordinator records not stored; undoing what they changed"
        );
        let PendingWrite { undo, mut held, .. } = write;
        for u in undo.into_iter().rev() {
            self.undo(u, failure, &mut held, now);
        }
        // Responses held for a write and not withdrawn above are errors already.
        self.fx.ready.extend(held);
        failure
    }

    fn undo(
        &mut self,
        undo: Undo,
        failure: WriteFailure,
        held: &mut [(ResponseToken, DelayedResponse)],
        now: u64,
    ) {
        match undo {
            Undo::Offset {
                group_id,
                key,
                previous,
            } => {
                if let Some(g) = self.groups.get_mut(&group_id) {
                    match previous {
                        Some(entry) => {
                            g.offsets.insert(key, entry);
                        }
                        None => {
                            g.offsets.remove(&key);
                        }
                    }
                }
            }
            Undo::CreatedGroup { group_id } => {
                let unused = self.groups.get(&group_id).is_some_and(|g| {
                    g.is(GroupState::Empty)
                        && g.offsets.is_empty()
                        && g.members.is_empty()
                        && g.pending_members.is_empty()
                        && g.protocol_type.is_none()
                });
                if unused {
                    self.groups.remove(&group_id);
                }
            }
            Undo::RemovedGroup(group) => {
                let id = group.id.clone();
                self.groups.insert(id, *group);
            }
            Undo::Assignment {
                group_id,
                generation,
                tokens,
            } => {
                for (token, response) in held.iter_mut() {
                    if tokens.contains(token) {
                        *response = DelayedResponse::SyncGroup(sync_error(failure.group_error));
                    }
                }
                let Self {
                    groups, fx, config, ..
                } = self;
                let Some(g) = groups.get_mut(&group_id) else {
                    return;
                };
                if g.generation != generation {
                    return;
                }
                for m in g.members.values_mut() {
                    m.assignment = Bytes::new();
                }
                tracing::info!(group = %g.id, generation, error = ?failure.group_error, "assignment not stored; rebalancing");
                g.maybe_prepare_rebalance(config, fx, now, "error storing the group assignment");
            }
            Undo::StaticMember(u) => self.undo_static_member(*u),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_errors_map_as_kafka_maps_them() {
        use ErrorCode as E;
        let cases = [
            (
                E::UnknownTopicOrPartition,
                E::CoordinatorNotAvailable,
                E::CoordinatorNotAvailable,
            ),
            (
                E::NotEnoughReplicas,
                E::CoordinatorNotAvailable,
                E::CoordinatorNotAvailable,
            ),
            (
                E::RequestTimedOut,
                E::CoordinatorNotAvailable,
                E::CoordinatorNotAvailable,
            ),
            (E::NotLeaderOrFollower, E::NotCoordinator, E::NotCoordinator),
            (E::KafkaStorageError, E::NotCoordinator, E::NotCoordinator),
            (
                E::MessageTooLarge,
                E::InvalidCommitOffsetSize,
                E::UnknownServerError,
            ),
            (
                E::RecordListTooLarge,
                E::InvalidCommitOffsetSize,
                E::UnknownServerError,
            ),
            (
                E::InvalidFetchSize,
                E::InvalidCommitOffsetSize,
                E::UnknownServerError,
            ),
            (
                E::CorruptMessage,
                E::UnknownServerError,
                E::UnknownServerError,
            ),
            (E::None, E::UnknownServerError, E::UnknownServerError),
        ];
        for (append, commit, group) in cases {
            let f = WriteFailure::from_append_error(append);
            assert_eq!(
                (f.commit_error, f.group_error),
                (commit, group),
                "{append:?}"
            );
        }
    }
}

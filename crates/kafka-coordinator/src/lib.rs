//! Kafka's classic group coordinator (`group.protocol=classic`: Kafka's `GroupCoordinator`,
//! `GroupMetadata` and `MemberMetadata`, or the `group-coordinator` module's `ClassicGroup`)
//! as pure logic: no sockets, no threads, no clock.
//!
//! # Contract
//!
//! The caller (the broker's request handler) owns one [`GroupCoordinator`] behind a lock and:
//!
//! - feeds requests in with the current time in ms: [`GroupCoordinator::join_group`],
//!   [`GroupCoordinator::sync_group`], [`GroupCoordinator::heartbeat`],
//!   [`GroupCoordinator::leave_group`], [`GroupCoordinator::describe_groups`],
//!   [`GroupCoordinator::list_groups`], [`GroupCoordinator::delete_groups`],
//!   [`GroupCoordinator::offset_commit`], [`GroupCoordinator::offset_fetch`],
//!   [`GroupCoordinator::offset_delete`]. Each takes the request's API version and returns
//!   its response, except JoinGroup and SyncGroup, which return a [`Reply`]: `Now(response)`
//!   or `Later` (parked under the caller's [`ResponseToken`]);
//! - after every call, persists what the call changed: [`GroupCoordinator::take_records`]
//!   gives a [`PendingWrite`] (or `None`); the caller appends its records to the log (durably,
//!   if it promises that) and reports the outcome with [`GroupCoordinator::write_completed`]
//!   or [`GroupCoordinator::write_failed`] (with the append's Kafka error code). A failed write
//!   is undone (offsets committed or removed, groups deleted or expired, a static member's new
//!   id, stored assignments, which also sends the group back to rebalancing) and the returned
//!   [`WriteFailure`] rewrites the call's immediate response
//!   ([`WriteFailure::fail_response`]: an OffsetCommit's partitions, DeleteGroups' groups,
//!   ...) so that nothing not stored is answered as success;
//! - then drains [`GroupCoordinator::take_ready`] (parked JoinGroup/SyncGroup responses that
//!   are now ready, possibly the current request's own; responses that depend on a write are
//!   held until its outcome is reported, and carry the error if it failed);
//! - arms a timer for [`GroupCoordinator::next_deadline`] and calls
//!   [`GroupCoordinator::poll`] when it fires (session timeouts, rebalance timeouts, the
//!   initial rebalance delay, the pending-sync timeout, offset expiration), then persists and
//!   drains again;
//! - at start-up calls [`GroupCoordinator::begin_loading`], replays every stored
//!   [`CoordinatorRecord`] with [`GroupCoordinator::replay`], then
//!   [`GroupCoordinator::finish_loading`]. While loading, every group API answers
//!   COORDINATOR_LOAD_IN_PROGRESS.
//!
//! Every parked token is answered exactly once: by the rebalance completing, by an error
//! (the member is removed, fenced or the rebalance restarts), or, if the same member parks a
//! second request, with REBALANCE_IN_PROGRESS for the first one; a response held for a write
//! is answered when the write's outcome is reported.

mod config;
mod coordinator;
mod group;
mod partition;
pub mod record;

pub use config::CoordinatorConfig;
pub use coordinator::{
    subscription_topics, ClientInfo, DelayedResponse, GroupCoordinator, PendingWrite, Reply,
    ResponseToken, WriteFailure,
};
pub use group::GroupState;
pub use partition::offsets_partition_for;
pub use record::{CoordinatorRecord, MemberRecord, RecordError};

//! Group membership for the consumer: Kafka's `ConsumerCoordinator` on the classic protocol.
//!
//! Asynchronous like Java's: [`ConsumerCoordinator::poll`] sends what is due (FindCoordinator,
//! JoinGroup, SyncGroup, Heartbeat, OffsetFetch) and returns; answers come back through
//! [`ConsumerCoordinator::handle_response`]. A JoinGroup the broker holds for a rebalance
//! therefore never blocks the caller's `poll`, and it travels on a connection of its own to
//! the coordinator (id `i32::MAX - broker id`, as Java does) so fetches are not queued behind
//! it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::heartbeat_request::HeartbeatRequest;
use kafka_protocol::messages::join_group_request::{JoinGroupRequest, JoinGroupRequestProtocol};
use kafka_protocol::messages::join_group_response::JoinGroupResponse;
use kafka_protocol::messages::leave_group_request::{LeaveGroupRequest, MemberIdentity};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_response::OffsetFetchResponse;
use kafka_protocol::messages::sync_group_request::{SyncGroupRequest, SyncGroupRequestAssignment};
use kafka_protocol::messages::{RequestKind, ResponseKind};
use kafka_protocol::{ApiKey, ErrorCode};

use crate::config::ConsumerConfig;
use crate::consumer::assignor::{
    decode_assignment, decode_subscription, encode_assignment, join_group_protocols,
    rebalance_protocol, Assignment, PartitionAssignor, RebalanceProtocol, CONSUMER_PROTOCOL_TYPE,
};
use crate::error::{Error, Result};
use crate::network_client::{backoff, ClientResponse, NetworkClient};
use crate::offsets::{committed_offsets, offset_fetch_request};
use crate::types::{NodeId, TopicPartition};

/// Tags of the coordinator's requests (high byte 1); commit tags carry a sequence number.
pub(crate) const TAG_COORDINATOR: u64 = 1 << 56;
const TAG_FIND: u64 = TAG_COORDINATOR | 1;
const TAG_JOIN: u64 = TAG_COORDINATOR | 2;
const TAG_SYNC: u64 = TAG_COORDINATOR | 3;
const TAG_HEARTBEAT: u64 = TAG_COORDINATOR | 4;
const TAG_LEAVE: u64 = TAG_COORDINATOR | 5;
const TAG_OFFSET_FETCH: u64 = TAG_COORDINATOR | 6;
const TAG_COMMIT: u64 = TAG_COORDINATOR | (1 << 32);

/// Called when partitions are taken from or given to this consumer (Java's
/// `ConsumerRebalanceListener`). Runs inside `poll`, on the caller's thread.
pub trait ConsumerRebalanceListener: Send {
    /// Partitions this consumer stops owning; with auto-commit, their positions were
    /// committed just before.
    fn on_partitions_revoked(&mut self, partitions: &[TopicPartition]) {
        let _ = partitions;
    }
    /// Partitions this consumer now owns (only the new ones under cooperative rebalancing).
    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]) {
        let _ = partitions;
    }
    /// Partitions lost without a chance to commit (the member was fenced or expired).
    fn on_partitions_lost(&mut self, partitions: &[TopicPartition]) {
        self.on_partitions_revoked(partitions);
    }
}

#[derive(Debug)]
struct NoopListener;
impl ConsumerRebalanceListener for NoopListener {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not in the group (or needs to rejoin).
    Unjoined,
    /// JoinGroup sent.
    Joining,
    /// Leader waiting for metadata of every member's topics before assigning.
    AwaitingMetadata,
    /// SyncGroup sent.
    Syncing,
    /// Member of the current generation.
    Stable,
}

/// What the consumer must do after the coordinator handled something.
#[derive(Debug, Default)]
pub(crate) struct CoordinatorEvents {
    /// A new assignment: the full set of partitions owned now.
    pub(crate) assigned: Option<Vec<TopicPartition>>,
    /// Committed offsets fetched for initializing partitions (`None`: no committed offset).
    pub(crate) committed: Vec<(TopicPartition, Option<i64>)>,
    /// Finished commits: their id and outcome.
    pub(crate) commits: Vec<(u64, Result<()>)>,
    /// Partitions revoked or lost: positions must be dropped.
    pub(crate) revoked: Vec<TopicPartition>,
}

/// One consumer's membership in one group.
pub(crate) struct ConsumerCoordinator {
    group_id: String,
    group_instance_id: Option<String>,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    heartbeat_interval: Duration,
    retry_backoff: Duration,
    retry_backoff_max: Duration,
    rack: Option<String>,
    assignors: Vec<Box<dyn PartitionAssignor>>,
    protocol: RebalanceProtocol,
    listener: Box<dyn ConsumerRebalanceListener>,

    coordinator: Option<NodeId>,
    find_in_flight: bool,
    find_attempts: u32,
    find_retry_at: Option<Instant>,

    state: State,
    member_id: String,
    generation: i32,
    protocol_name: Option<String>,
    leader_join: Option<JoinGroupResponse>,
    join_attempts: u32,
    join_retry_at: Option<Instant>,
    rejoin_reason: String,

    owned: Vec<TopicPartition>,
    subscribed_topics: BTreeSet<String>,
    /// Topic partition counts seen when this member last assigned as leader, to rebalance
    /// when a topic grows.
    assigned_counts: BTreeMap<String, i32>,

    heartbeat_in_flight: bool,
    next_heartbeat: Option<Instant>,
    last_heartbeat_ok: Option<Instant>,

    offset_fetch_in_flight: Option<Vec<TopicPartition>>,
    /// Owned partitions were lost (heartbeat rejected, poll interval exceeded) on a thread
    /// that must not call the listener; the caller's next poll reports them.
    deferred_lost: bool,
    next_commit_id: u64,
    /// Commits sent and not answered: id → partitions committed.
    commits_in_flight: BTreeMap<u64, BTreeMap<TopicPartition, i64>>,
}

impl std::fmt::Debug for ConsumerCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerCoordinator")
            .field("group_id", &self.group_id)
            .field("state", &self.state)
            .field("member_id", &self.member_id)
            .field("generation", &self.generation)
            .field("coordinator", &self.coordinator)
            .finish_non_exhaustive()
    }
}

impl ConsumerCoordinator {
    pub(crate) fn new(
        config: &ConsumerConfig,
        group_id: String,
        assignors: Vec<Box<dyn PartitionAssignor>>,
    ) -> Result<Self> {
        let protocol = rebalance_protocol(&assignors)?;
        Ok(ConsumerCoordinator {
            group_id,
            group_instance_id: config.group_instance_id.clone(),
            session_timeout: config.session_timeout,
            rebalance_timeout: config.max_poll_interval,
            heartbeat_interval: config.heartbeat_interval,
            retry_backoff: config.common.retry_backoff,
            retry_backoff_max: config.common.retry_backoff_max,
            rack: Some(config.common.client_rack.clone()).filter(|r| !r.is_empty()),
            assignors,
            protocol,
            listener: Box::new(NoopListener),
            coordinator: None,
            find_in_flight: false,
            find_attempts: 0,
            find_retry_at: None,
            state: State::Unjoined,
            member_id: String::new(),
            generation: -1,
            protocol_name: None,
            leader_join: None,
            join_attempts: 0,
            join_retry_at: None,
            rejoin_reason: String::new(),
            owned: Vec::new(),
            subscribed_topics: BTreeSet::new(),
            assigned_counts: BTreeMap::new(),
            heartbeat_in_flight: false,
            next_heartbeat: None,
            last_heartbeat_ok: None,
            offset_fetch_in_flight: None,
            deferred_lost: false,
            next_commit_id: 0,
            commits_in_flight: BTreeMap::new(),
        })
    }

    pub(crate) fn set_listener(&mut self, listener: Box<dyn ConsumerRebalanceListener>) {
        self.listener = listener;
    }

    pub(crate) fn group_id(&self) -> &str {
        &self.group_id
    }

    pub(crate) fn generation(&self) -> i32 {
        self.generation
    }

    pub(crate) fn member_id(&self) -> &str {
        &self.member_id
    }

    /// Whether the member is in a stable generation.
    pub(crate) fn is_stable(&self) -> bool {
        self.state == State::Stable
    }

    /// Partitions owned in the current generation.
    pub(crate) fn owned(&self) -> &[TopicPartition] {
        &self.owned
    }

    /// A coordinator node, if known and reachable.
    pub(crate) fn coordinator(&self) -> Option<NodeId> {
        self.coordinator
    }

    /// Changes the subscription; a member rejoins so the leader reassigns.
    pub(crate) fn set_subscription(&mut self, topics: BTreeSet<String>) {
        if topics != self.subscribed_topics {
            self.subscribed_topics = topics;
            self.request_rejoin("subscription changed");
        }
    }

    fn request_rejoin(&mut self, reason: &str) {
        if self.state == State::Stable || self.state == State::AwaitingMetadata {
            tracing::info!(group = %self.group_id, %reason, "rejoining group");
            self.state = State::Unjoined;
        }
        self.rejoin_reason = reason.to_string();
    }

    fn coordinator_unknown(&mut self, client: &mut NetworkClient, now: Instant) {
        if let Some(node) = self.coordinator.take() {
            tracing::info!(group = %self.group_id, node, "coordinator lost; rediscovering");
            client.disconnect(node, now);
        }
        self.heartbeat_in_flight = false;
        if matches!(self.state, State::Joining | State::Syncing) {
            self.state = State::Unjoined;
        }
    }

    fn reset_generation(&mut self, reason: &str) {
        self.member_id.clear();
        self.generation = -1;
        self.state = State::Unjoined;
        self.rejoin_reason = reason.to_string();
    }

    /// Gives up the owned partitions as lost (fenced, expired): no commit possible.
    fn lose_partitions(&mut self, events: &mut CoordinatorEvents) {
        if !self.owned.is_empty() {
            let lost = std::mem::take(&mut self.owned);
            self.listener.on_partitions_lost(&lost);
            events.revoked.extend(lost);
        }
    }

    fn send(
        &self,
        client: &mut NetworkClient,
        node: NodeId,
        key: ApiKey,
        tag: u64,
        now: Instant,
        build: impl FnOnce(i16) -> RequestKind,
    ) -> Result<()> {
        if !client.ready(node, now) {
            return Err(Error::Other(format!("node {node} not ready")));
        }
        let version = client
            .api_version(node, key)
            .ok_or_else(|| Error::UnsupportedVersion(format!("{key:?} on node {node}")))?;
        let request = build(version);
        client.send(node, &request, version, true, tag, now)?;
        Ok(())
    }

    /// Sends what is due. `needs_committed` lists partitions waiting for their committed
    /// offset; `consumed` is what auto-commit would commit.
    pub(crate) fn poll(
        &mut self,
        client: &mut NetworkClient,
        needs_committed: &[TopicPartition],
        subscribed: bool,
        now: Instant,
    ) {
        let Some(node) = self.ensure_coordinator(client, now) else {
            return;
        };
        if subscribed {
            self.maybe_rejoin_on_metadata(client);
            match self.state {
                State::Unjoined => {
                    if self.join_retry_at.is_none_or(|t| t <= now) {
                        self.send_join(client, node, now);
                    }
                }
                State::AwaitingMetadata => self.try_assign(client, node, now),
                State::Stable => self.maybe_heartbeat(client, node, now),
                State::Joining | State::Syncing => {}
            }
        }
        if !needs_committed.is_empty()
            && self.offset_fetch_in_flight.is_none()
            && (!subscribed || self.state == State::Stable)
        {
            self.send_offset_fetch(client, node, needs_committed, now);
        }
    }

    /// How long the caller may wait before the coordinator has something to do.
    pub(crate) fn time_to_next_poll(&self, now: Instant) -> Duration {
        let mut next = Duration::from_millis(500);
        if let Some(t) = self.next_heartbeat {
            next = next.min(t.saturating_duration_since(now));
        }
        if let Some(t) = self.join_retry_at {
            next = next.min(t.saturating_duration_since(now));
        }
        if let Some(t) = self.find_retry_at {
            next = next.min(t.saturating_duration_since(now));
        }
        if self.coordinator.is_none() || self.state == State::AwaitingMetadata {
            next = next.min(Duration::from_millis(50));
        }
        next
    }

    fn ensure_coordinator(&mut self, client: &mut NetworkClient, now: Instant) -> Option<NodeId> {
        if let Some(node) = self.coordinator {
            if client.connection_failed(node) && !client.is_connected(node) {
                self.coordinator_unknown(client, now);
            } else {
                client.ready(node, now);
                return Some(node);
            }
        }
        if self.find_in_flight || self.find_retry_at.is_some_and(|t| t > now) {
            return None;
        }
        let node = client.least_loaded_node(now)?;
        let group = self.group_id.clone();
        match self.send(client, node, ApiKey::FindCoordinator, TAG_FIND, now, |v| {
            let mut r = FindCoordinatorRequest::default().with_key_type(0);
            if v >= 4 {
                r = r.with_coordinator_keys(vec![group]);
            } else {
                r = r.with_key(group);
            }
            RequestKind::FindCoordinator(r)
        }) {
            Ok(()) => self.find_in_flight = true,
            Err(e) => tracing::trace!(error = %e, "FindCoordinator not sent yet"),
        }
        None
    }

    fn retry_find(&mut self, now: Instant) {
        self.find_retry_at = Some(
            now + backoff(
                self.retry_backoff,
                self.retry_backoff_max,
                self.find_attempts,
            ),
        );
        self.find_attempts = self.find_attempts.saturating_add(1);
    }

    fn send_join(&mut self, client: &mut NetworkClient, node: NodeId, now: Instant) {
        let topics: Vec<String> = self.subscribed_topics.iter().cloned().collect();
        let owned = if self.protocol == RebalanceProtocol::Cooperative {
            self.owned.clone()
        } else {
            Vec::new()
        };
        let generation = (self.generation >= 0).then_some(self.generation);
        let protocols = match join_group_protocols(
            &self.assignors,
            &topics,
            &owned,
            generation,
            self.rack.as_deref(),
        ) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode the subscription");
                return;
            }
        };
        let session_ms = i32::try_from(self.session_timeout.as_millis()).unwrap_or(i32::MAX);
        let rebalance_ms = i32::try_from(self.rebalance_timeout.as_millis()).unwrap_or(i32::MAX);
        let request = JoinGroupRequest::default()
            .with_group_id(self.group_id.clone())
            .with_session_timeout_ms(session_ms)
            .with_rebalance_timeout_ms(rebalance_ms)
            .with_member_id(self.member_id.clone())
            .with_group_instance_id(self.group_instance_id.clone())
            .with_protocol_type(CONSUMER_PROTOCOL_TYPE.to_string())
            .with_protocols(
                protocols
                    .into_iter()
                    .map(|(name, metadata)| {
                        JoinGroupRequestProtocol::default()
                            .with_name(name.to_string())
                            .with_metadata(metadata)
                    })
                    .collect(),
            )
            .with_reason(Some(self.rejoin_reason.clone()).filter(|r| !r.is_empty()));
        let instance = self.group_instance_id.is_some();
        if self
            .send(client, node, ApiKey::JoinGroup, TAG_JOIN, now, |v| {
                let mut r = request;
                if v < 5 && instance {
                    r.group_instance_id = None;
                }
                if v < 8 {
                    r.reason = None;
                }
                RequestKind::JoinGroup(r)
            })
            .is_ok()
        {
            tracing::debug!(group = %self.group_id, member = %self.member_id, "JoinGroup sent");
            self.state = State::Joining;
            self.heartbeat_in_flight = false;
            self.next_heartbeat = None;
        }
    }

    /// A leader assigns once metadata knows every member's topics.
    fn try_assign(&mut self, client: &mut NetworkClient, node: NodeId, now: Instant) {
        let Some(join) = self.leader_join.as_ref() else {
            self.state = State::Unjoined;
            return;
        };
        let protocol = join.protocol_name.clone().unwrap_or_default();
        let Some(assignor) = self.assignors.iter().find(|a| a.name() == protocol) else {
            tracing::error!(%protocol, "the group chose an assignor this member does not have");
            self.reset_generation("unknown assignor");
            return;
        };
        let mut subscriptions = BTreeMap::new();
        let mut all_topics = BTreeSet::new();
        for m in &join.members {
            match decode_subscription(m.metadata.clone()) {
                Ok(s) => {
                    all_topics.extend(s.topics.iter().cloned());
                    subscriptions.insert(m.member_id.clone(), s);
                }
                Err(e) => {
                    tracing::warn!(member = %m.member_id, error = %e, "undecodable subscription; member gets nothing");
                    subscriptions.insert(m.member_id.clone(), Default::default());
                }
            }
        }
        let metadata = client.metadata_mut();
        let missing: Vec<&String> = all_topics
            .iter()
            .filter(|t| !metadata.topics().contains(*t))
            .collect();
        if !missing.is_empty() {
            metadata.add_topics(missing.iter().map(|s| s.as_str()));
            metadata.request_update();
            return;
        }
        if metadata.update_requested() && !metadata.is_bootstrapped() {
            return;
        }
        let cluster = metadata.cluster();
        let counts: BTreeMap<String, i32> = all_topics
            .iter()
            .filter_map(|t| cluster.partition_count(t).map(|c| (t.clone(), c)))
            .collect();
        let assignments = match assignor.assign(&counts, &subscriptions) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "assignment failed");
                self.reset_generation("assignment failed");
                return;
            }
        };
        let mut encoded = Vec::new();
        for (member, assignment) in &assignments {
            match encode_assignment(assignment) {
                Ok(bytes) => encoded.push(
                    SyncGroupRequestAssignment::default()
                        .with_member_id(member.clone())
                        .with_assignment(bytes),
                ),
                Err(e) => tracing::error!(error = %e, "cannot encode an assignment"),
            }
        }
        self.assigned_counts = counts;
        self.send_sync(client, node, encoded, now);
    }

    fn send_sync(
        &mut self,
        client: &mut NetworkClient,
        node: NodeId,
        assignments: Vec<SyncGroupRequestAssignment>,
        now: Instant,
    ) {
        let request = SyncGroupRequest::default()
            .with_group_id(self.group_id.clone())
            .with_generation_id(self.generation)
            .with_member_id(self.member_id.clone())
            .with_group_instance_id(self.group_instance_id.clone())
            .with_protocol_type(Some(CONSUMER_PROTOCOL_TYPE.to_string()))
            .with_protocol_name(self.protocol_name.clone())
            .with_assignments(assignments);
        let instance = self.group_instance_id.is_some();
        match self.send(client, node, ApiKey::SyncGroup, TAG_SYNC, now, |v| {
            let mut r = request;
            if v < 3 && instance {
                r.group_instance_id = None;
            }
            if v < 5 {
                r.protocol_type = None;
                r.protocol_name = None;
            }
            RequestKind::SyncGroup(r)
        }) {
            Ok(()) => self.state = State::Syncing,
            Err(e) => {
                tracing::debug!(error = %e, "SyncGroup not sent; rejoining");
                self.state = State::Unjoined;
            }
        }
    }

    fn maybe_heartbeat(&mut self, client: &mut NetworkClient, node: NodeId, now: Instant) {
        if let Some(ok) = self.last_heartbeat_ok {
            if now.saturating_duration_since(ok) > self.session_timeout {
                // The coordinator has most likely expired us; find it again.
                self.coordinator_unknown(client, now);
                self.last_heartbeat_ok = Some(now);
                return;
            }
        }
        if self.heartbeat_in_flight || self.next_heartbeat.is_some_and(|t| t > now) {
            return;
        }
        let request = HeartbeatRequest::default()
            .with_group_id(self.group_id.clone())
            .with_generation_id(self.generation)
            .with_member_id(self.member_id.clone())
            .with_group_instance_id(self.group_instance_id.clone());
        let instance = self.group_instance_id.is_some();
        if self
            .send(client, node, ApiKey::Heartbeat, TAG_HEARTBEAT, now, |v| {
                let mut r = request;
                if v < 3 && instance {
                    r.group_instance_id = None;
                }
                RequestKind::Heartbeat(r)
            })
            .is_ok()
        {
            self.heartbeat_in_flight = true;
            self.next_heartbeat = Some(now + self.heartbeat_interval);
        }
    }

    /// A leader rebalances when a subscribed topic's partition count changed.
    fn maybe_rejoin_on_metadata(&mut self, client: &NetworkClient) {
        if self.state != State::Stable || self.assigned_counts.is_empty() {
            return;
        }
        let cluster = client.metadata().cluster();
        let changed = self
            .assigned_counts
            .iter()
            .any(|(t, c)| cluster.partition_count(t).is_some_and(|now| now != *c));
        if changed {
            self.assigned_counts.clear();
            self.request_rejoin("partition count changed");
        }
    }

    fn send_offset_fetch(
        &mut self,
        client: &mut NetworkClient,
        node: NodeId,
        partitions: &[TopicPartition],
        now: Instant,
    ) {
        let group = self.group_id.clone();
        if self
            .send(
                client,
                node,
                ApiKey::OffsetFetch,
                TAG_OFFSET_FETCH,
                now,
                |v| {
                    // With the partitions named, every version can carry the request.
                    RequestKind::OffsetFetch(
                        offset_fetch_request(&group, Some(partitions), v).unwrap_or_default(),
                    )
                },
            )
            .is_ok()
        {
            self.offset_fetch_in_flight = Some(partitions.to_vec());
        }
    }

    /// Sends an OffsetCommit; returns its id (reported in `CoordinatorEvents::commits`).
    pub(crate) fn send_commit(
        &mut self,
        client: &mut NetworkClient,
        offsets: &BTreeMap<TopicPartition, i64>,
        now: Instant,
    ) -> Result<u64> {
        let node = self
            .coordinator
            .ok_or_else(|| Error::kafka(ErrorCode::CoordinatorNotAvailable))?;
        let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
        for (tp, offset) in offsets {
            let p = OffsetCommitRequestPartition::default()
                .with_partition_index(tp.partition)
                .with_committed_offset(*offset)
                .with_committed_leader_epoch(-1)
                .with_commit_timestamp(-1);
            match topics.iter_mut().find(|t| *t.name == *tp.topic) {
                Some(t) => t.partitions.push(p),
                None => topics.push(
                    OffsetCommitRequestTopic::default()
                        .with_name(tp.topic.to_string())
                        .with_partitions(vec![p]),
                ),
            }
        }
        // A member commits with its generation, also while a rebalance is being prepared
        // (the coordinator accepts the current generation until the next one forms);
        // outside a group (assign()) commits carry none, as Java sends them.
        let (generation, member) = if self.generation >= 0 && !self.member_id.is_empty() {
            (self.generation, self.member_id.clone())
        } else {
            (-1, String::new())
        };
        let request = OffsetCommitRequest::default()
            .with_group_id(self.group_id.clone())
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(member)
            .with_group_instance_id(self.group_instance_id.clone())
            .with_retention_time_ms(-1)
            .with_topics(topics);
        let instance = self.group_instance_id.is_some();
        self.next_commit_id += 1;
        let id = self.next_commit_id;
        self.send(
            client,
            node,
            ApiKey::OffsetCommit,
            TAG_COMMIT | id,
            now,
            |v| {
                let mut r = request;
                if v < 7 && instance {
                    r.group_instance_id = None;
                }
                RequestKind::OffsetCommit(r)
            },
        )?;
        self.commits_in_flight.insert(id, offsets.clone());
        Ok(id)
    }

    /// Eager protocol: before rejoining, give up every partition (after committing, which the
    /// caller does first).
    pub(crate) fn needs_revocation_before_join(&self) -> bool {
        self.protocol == RebalanceProtocol::Eager
            && self.state == State::Unjoined
            && !self.owned.is_empty()
    }

    /// Reports partitions lost on the heartbeat thread (listener calls run here, on the
    /// caller's thread).
    pub(crate) fn run_deferred_losses(&mut self, events: &mut CoordinatorEvents) {
        if std::mem::take(&mut self.deferred_lost) {
            self.lose_partitions(events);
        }
    }

    /// After leaving the group from the heartbeat thread: the owned partitions are lost.
    pub(crate) fn defer_all_as_lost(&mut self) {
        self.deferred_lost = true;
    }

    /// Sends a heartbeat if one is due (heartbeat thread).
    pub(crate) fn heartbeat_if_due(&mut self, client: &mut NetworkClient, now: Instant) {
        if let Some(node) = self.coordinator {
            if self.state == State::Stable {
                self.maybe_heartbeat(client, node, now);
            }
        }
    }

    /// Whether `response` answers one of this coordinator's heartbeats.
    pub(crate) fn is_heartbeat(&self, response: &ClientResponse) -> bool {
        response.tag == TAG_HEARTBEAT
    }

    /// Revokes all owned partitions (eager rebalance, unsubscribe, close).
    pub(crate) fn revoke_all(&mut self, events: &mut CoordinatorEvents) {
        if !self.owned.is_empty() {
            let revoked = std::mem::take(&mut self.owned);
            self.listener.on_partitions_revoked(&revoked);
            events.revoked.extend(revoked);
        }
    }

    /// Handles an answer to one of the coordinator's requests.
    pub(crate) fn handle_response(
        &mut self,
        client: &mut NetworkClient,
        response: ClientResponse,
        now: Instant,
        events: &mut CoordinatorEvents,
    ) {
        let tag = response.tag;
        let body = match response.result {
            Ok(Some(body)) => Ok(body),
            Ok(None) => Err(Error::Other("no response".into())),
            Err(e) => Err(e),
        };
        if tag & TAG_COMMIT == TAG_COMMIT {
            let id = tag & !TAG_COMMIT & !TAG_COORDINATOR;
            let result = self.handle_commit(client, id, body, now);
            events.commits.push((id, result));
            return;
        }
        match tag {
            TAG_FIND => self.handle_find(client, body, now),
            TAG_JOIN => self.handle_join(client, body, now, events),
            TAG_SYNC => self.handle_sync(client, body, now, events),
            TAG_HEARTBEAT => self.handle_heartbeat(client, body, now),
            TAG_LEAVE => {}
            TAG_OFFSET_FETCH => self.handle_offset_fetch(client, body, now, events),
            _ => {}
        }
    }

    fn handle_find(
        &mut self,
        client: &mut NetworkClient,
        body: Result<ResponseKind>,
        now: Instant,
    ) {
        self.find_in_flight = false;
        let r = match body {
            Ok(ResponseKind::FindCoordinator(r)) => r,
            Ok(_) => return self.retry_find(now),
            Err(e) => {
                tracing::debug!(error = %e, "FindCoordinator failed");
                return self.retry_find(now);
            }
        };
        let (code, node_id, host, port) = match r.coordinators.first() {
            Some(c) => (c.error_code, c.node_id, c.host.clone(), c.port),
            None => (r.error_code, r.node_id, r.host.clone(), r.port),
        };
        let code = ErrorCode::from(code);
        if code.is_error() {
            tracing::debug!(group = %self.group_id, %code, "FindCoordinator answered with an error");
            return self.retry_find(now);
        }
        let Ok(port) = u16::try_from(port) else {
            return self.retry_find(now);
        };
        let id = i32::MAX - node_id;
        client.add_node(id, &host, port);
        self.coordinator = Some(id);
        self.find_attempts = 0;
        self.find_retry_at = None;
        client.ready(id, now);
        tracing::debug!(group = %self.group_id, node_id, %host, port, "coordinator found");
    }

    fn join_failed(&mut self, now: Instant) {
        self.state = State::Unjoined;
        self.join_retry_at = Some(
            now + backoff(
                self.retry_backoff,
                self.retry_backoff_max,
                self.join_attempts,
            ),
        );
        self.join_attempts = self.join_attempts.saturating_add(1);
    }

    fn handle_join(
        &mut self,
        client: &mut NetworkClient,
        body: Result<ResponseKind>,
        now: Instant,
        events: &mut CoordinatorEvents,
    ) {
        let r = match body {
            Ok(ResponseKind::JoinGroup(r)) => r,
            Ok(_) => return self.join_failed(now),
            Err(e) => {
                tracing::debug!(error = %e, "JoinGroup failed");
                if !e.is_retriable() {
                    return self.join_failed(now);
                }
                self.coordinator_unknown(client, now);
                return self.join_failed(now);
            }
        };
        let code = ErrorCode::from(r.error_code);
        match code {
            ErrorCode::None => {}
            ErrorCode::MemberIdRequired => {
                // KIP-394: join again at once with the id the coordinator gave.
                self.member_id = r.member_id.clone();
                self.state = State::Unjoined;
                self.join_retry_at = None;
                return;
            }
            ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration => {
                self.lose_partitions(events);
                self.reset_generation("unknown member");
                return;
            }
            ErrorCode::FencedInstanceId => {
                tracing::error!(group = %self.group_id, "fenced: another consumer uses this group.instance.id");
                self.lose_partitions(events);
                self.reset_generation("fenced");
                return self.join_failed(now);
            }
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                self.coordinator_unknown(client, now);
                return self.join_failed(now);
            }
            ErrorCode::RebalanceInProgress | ErrorCode::CoordinatorLoadInProgress => {
                return self.join_failed(now);
            }
            other => {
                tracing::warn!(group = %self.group_id, code = %other, "JoinGroup failed");
                return self.join_failed(now);
            }
        }
        self.join_attempts = 0;
        self.join_retry_at = None;
        self.member_id = r.member_id.clone();
        self.generation = r.generation_id;
        self.protocol_name = r.protocol_name.clone();
        tracing::debug!(group = %self.group_id, generation = r.generation_id, leader = %r.leader, member = %r.member_id, "joined");
        let Some(node) = self.coordinator else {
            self.state = State::Unjoined;
            return;
        };
        if r.leader == r.member_id && !r.skip_assignment {
            self.leader_join = Some(r);
            self.state = State::AwaitingMetadata;
            self.try_assign(client, node, now);
        } else {
            self.leader_join = None;
            self.assigned_counts.clear();
            self.send_sync(client, node, Vec::new(), now);
        }
    }

    fn handle_sync(
        &mut self,
        client: &mut NetworkClient,
        body: Result<ResponseKind>,
        now: Instant,
        events: &mut CoordinatorEvents,
    ) {
        let r = match body {
            Ok(ResponseKind::SyncGroup(r)) => r,
            Ok(_) => return self.join_failed(now),
            Err(e) => {
                tracing::debug!(error = %e, "SyncGroup failed");
                self.coordinator_unknown(client, now);
                return self.join_failed(now);
            }
        };
        let code = ErrorCode::from(r.error_code);
        match code {
            ErrorCode::None => {}
            ErrorCode::RebalanceInProgress => {
                self.state = State::Unjoined;
                return;
            }
            ErrorCode::UnknownMemberId
            | ErrorCode::IllegalGeneration
            | ErrorCode::FencedInstanceId => {
                self.lose_partitions(events);
                self.reset_generation("sync rejected");
                return;
            }
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                self.coordinator_unknown(client, now);
                return self.join_failed(now);
            }
            _ => return self.join_failed(now),
        }
        let assignment = if r.assignment.is_empty() {
            Assignment::default()
        } else {
            match decode_assignment(r.assignment.clone()) {
                Ok(a) => a,
                Err(e) => {
                    tracing::error!(error = %e, "undecodable assignment; rejoining");
                    return self.join_failed(now);
                }
            }
        };
        let mut new: Vec<TopicPartition> = assignment.partitions.clone();
        new.sort();
        new.dedup();
        if let Some(a) = self
            .assignors
            .iter()
            .find(|a| Some(a.name()) == self.protocol_name.as_deref())
        {
            a.on_assignment(&assignment, self.generation);
        }
        let old: BTreeSet<TopicPartition> = self.owned.iter().cloned().collect();
        let new_set: BTreeSet<TopicPartition> = new.iter().cloned().collect();
        let revoked: Vec<TopicPartition> = old.difference(&new_set).cloned().collect();
        let added: Vec<TopicPartition> = new_set.difference(&old).cloned().collect();
        self.state = State::Stable;
        self.last_heartbeat_ok = Some(now);
        self.next_heartbeat = Some(now + self.heartbeat_interval);
        self.heartbeat_in_flight = false;
        if !revoked.is_empty() {
            self.listener.on_partitions_revoked(&revoked);
            events.revoked.extend(revoked.iter().cloned());
        }
        self.owned = new.clone();
        events.assigned = Some(new);
        self.listener.on_partitions_assigned(&added);
        tracing::info!(group = %self.group_id, generation = self.generation, partitions = self.owned.len(), "assignment received");
        if self.protocol == RebalanceProtocol::Cooperative && !revoked.is_empty() {
            // KIP-429: revoked partitions are handed to their new owners in a second round.
            self.request_rejoin("partitions revoked (cooperative)");
        }
    }

    fn handle_heartbeat(
        &mut self,
        client: &mut NetworkClient,
        body: Result<ResponseKind>,
        now: Instant,
    ) {
        self.heartbeat_in_flight = false;
        let code = match body {
            Ok(ResponseKind::Heartbeat(r)) => ErrorCode::from(r.error_code),
            Ok(_) => return,
            Err(e) => {
                tracing::debug!(error = %e, "heartbeat failed");
                self.coordinator_unknown(client, now);
                return;
            }
        };
        match code {
            ErrorCode::None => self.last_heartbeat_ok = Some(now),
            ErrorCode::RebalanceInProgress => {
                self.last_heartbeat_ok = Some(now);
                self.request_rejoin("the group is rebalancing");
            }
            ErrorCode::UnknownMemberId
            | ErrorCode::IllegalGeneration
            | ErrorCode::FencedInstanceId => {
                tracing::info!(group = %self.group_id, %code, "member no longer in the group");
                // Heartbeat answers may be handled on the heartbeat thread: report the loss
                // from the caller's next poll.
                self.deferred_lost = true;
                self.reset_generation("heartbeat rejected");
            }
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                self.coordinator_unknown(client, now);
            }
            _ => {}
        }
    }

    fn handle_offset_fetch(
        &mut self,
        client: &mut NetworkClient,
        body: Result<ResponseKind>,
        now: Instant,
        events: &mut CoordinatorEvents,
    ) {
        let requested = self.offset_fetch_in_flight.take().unwrap_or_default();
        let r: OffsetFetchResponse = match body {
            Ok(ResponseKind::OffsetFetch(r)) => r,
            Ok(_) => return,
            Err(e) => {
                tracing::debug!(error = %e, "OffsetFetch failed");
                self.coordinator_unknown(client, now);
                return;
            }
        };
        let found = match committed_offsets(&r, &self.group_id) {
            Ok(found) => found,
            Err(e) => {
                if matches!(
                    e.code(),
                    Some(ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable)
                ) {
                    self.coordinator_unknown(client, now);
                }
                return;
            }
        };
        for tp in requested {
            match found.iter().find(|c| c.tp == tp) {
                Some(c) if !c.error.is_error() => {
                    events
                        .committed
                        .push((tp, (c.offset >= 0).then_some(c.offset)));
                }
                Some(_) => {}
                None => events.committed.push((tp, None)),
            }
        }
    }

    fn handle_commit(
        &mut self,
        client: &mut NetworkClient,
        id: u64,
        body: Result<ResponseKind>,
        now: Instant,
    ) -> Result<()> {
        self.commits_in_flight.remove(&id);
        let r = match body {
            Ok(ResponseKind::OffsetCommit(r)) => r,
            Ok(_) => return Err(Error::Other("unexpected answer to OffsetCommit".into())),
            Err(e) => {
                if e.is_retriable() {
                    self.coordinator_unknown(client, now);
                }
                return Err(e);
            }
        };
        for t in &r.topics {
            for p in &t.partitions {
                let code = ErrorCode::from(p.error_code);
                if code.is_error() {
                    match code {
                        ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                            self.coordinator_unknown(client, now);
                        }
                        ErrorCode::UnknownMemberId
                        | ErrorCode::IllegalGeneration
                        | ErrorCode::RebalanceInProgress => {
                            self.request_rejoin("commit rejected");
                        }
                        _ => {}
                    }
                    return Err(Error::kafka_with_message(
                        code,
                        Some(format!("committing {}-{}", t.name, p.partition_index)),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Leaves the group (dynamic members only: a static member keeps its place until its
    /// session times out, as in Java).
    pub(crate) fn leave_group(&mut self, client: &mut NetworkClient, now: Instant) {
        let Some(node) = self.coordinator else {
            return;
        };
        if self.group_instance_id.is_some() || self.member_id.is_empty() {
            return;
        }
        let member = self.member_id.clone();
        let group = self.group_id.clone();
        let _ = self.send(client, node, ApiKey::LeaveGroup, TAG_LEAVE, now, |v| {
            let r = LeaveGroupRequest::default().with_group_id(group);
            RequestKind::LeaveGroup(if v >= 3 {
                r.with_members(vec![MemberIdentity::default()
                    .with_member_id(member)
                    .with_reason(Some("the consumer is being closed".into()))])
            } else {
                r.with_member_id(member)
            })
        });
        self.reset_generation("left");
    }
}

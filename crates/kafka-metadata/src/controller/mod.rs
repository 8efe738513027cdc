//! The active controller's logic, as Kafka's `QuorumController`, without I/O or threads.
//!
//! The controller holds two images: the committed one (replayed from what the quorum has
//! committed, [`QuorumController::replay_committed`]) and a speculative one (committed plus every
//! batch this controller proposed that is not committed yet), so that a second request sees the
//! effects of the first before the quorum commits them, as Kafka's timeline data structures do.
//! Every operation checks the request against the speculative image and returns its response
//! with the records to propose as one raft entry ([`ControllerResult`]). The caller proposes the
//! records and sends the response only once they commit (Kafka answers after commit too); a
//! response whose records are empty can be sent at once. When leadership is lost,
//! [`QuorumController::on_leadership_lost`] drops the speculation; a new leader calls
//! [`QuorumController::on_became_leader`], which restarts every broker's session timer.
//!
//! Time is passed in (`now_ms`); randomness (topic ids, placement start) comes from a generator
//! seeded by the caller, so tests are deterministic.

mod configs;
mod topics;

pub use topics::{validate_topic_name, OFFSETS_TOPIC};

#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};

use kafka_protocol::messages::{
    BrokerHeartbeatRequest, BrokerHeartbeatResponse, BrokerRegistrationRequest,
    BrokerRegistrationResponse, UnregisterBrokerRequest, UnregisterBrokerResponse,
};
use kafka_protocol::{ErrorCode, Uuid};

use crate::error::Result;
use crate::image::{
    BrokerRegistration, ConfigResource, MetadataImage, Provenance, METADATA_VERSION_FEATURE,
};
use crate::placement::PlacementRng;
use crate::records::register_broker_record::{BrokerEndpoint, BrokerFeature};
use crate::records::{
    BrokerRegistrationChangeRecord, FeatureLevelRecord, FenceBrokerRecord, MetadataRecord,
    PartitionChangeRecord, ProducerIdsRecord, RegisterBrokerRecord, UnfenceBrokerRecord,
    UnregisterBrokerRecord,
};

/// The `metadata.version` level a new cluster starts at: Kafka 3.9's `3.9-IV0`.
pub const DEFAULT_METADATA_VERSION: i16 = 21;

/// The controller's settings (Kafka's keys in the field docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerConfig {
    /// `broker.session.timeout.ms`: a broker not heard from for this long is fenced.
    pub session_timeout_ms: i64,
    /// `default.replication.factor`, for CreateTopics with -1.
    pub default_replication_factor: i16,
    /// `num.partitions`, for CreateTopics with -1.
    pub num_partitions: i32,
    /// `offsets.topic.num.partitions`.
    pub offsets_topic_num_partitions: i32,
    /// `offsets.topic.replication.factor`, capped at the live brokers when the topic is made.
    pub offsets_topic_replication_factor: i16,
    /// Producer ids handed out per AllocateProducerIds.
    pub producer_id_block_size: i64,
    /// The `metadata.version` level of [`QuorumController::bootstrap_records`].
    pub metadata_version: i16,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            session_timeout_ms: 9000,
            default_replication_factor: 1,
            num_partitions: 1,
            offsets_topic_num_partitions: 50,
            offsets_topic_replication_factor: 3,
            producer_id_block_size: 1000,
            metadata_version: DEFAULT_METADATA_VERSION,
        }
    }
}

/// An operation's answer and the records to propose for it, atomically.
///
/// When to answer, as Kafka's controller: once `records` have committed; when `records` is
/// empty, once every batch proposed before this operation has committed (the answer may rest
/// on them, e.g. TOPIC_ALREADY_EXISTS for a topic still pending), which is at once when
/// [`QuorumController::pending_batches`] is 0. If leadership is lost first, answer
/// NOT_CONTROLLER instead.
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerResult<R> {
    /// The response, to send once `records` commit.
    pub response: R,
    /// One raft entry's worth of records; empty when nothing changes.
    pub records: Vec<MetadataRecord>,
}

impl<R> ControllerResult<R> {
    fn new(response: R, records: Vec<MetadataRecord>) -> Self {
        ControllerResult { response, records }
    }
}

/// An error for one item of a response: Kafka's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The code.
    pub code: ErrorCode,
    /// The message, if any.
    pub message: Option<String>,
}

impl ApiError {
    /// An error with a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: Some(message.into()),
        }
    }

    /// An error without a message.
    pub fn code(code: ErrorCode) -> Self {
        ApiError {
            code,
            message: None,
        }
    }
}

/// Checks config keys and values, which only the broker knows (its config table).
pub trait ConfigValidator {
    /// Accepts or refuses setting `name` to `value` (`None`: removing it) on `resource`.
    fn validate(
        &self,
        resource: &ConfigResource,
        name: &str,
        value: Option<&str>,
    ) -> std::result::Result<(), ApiError>;

    /// Whether `name` holds a comma-separated list (IncrementalAlterConfigs APPEND/SUBTRACT are
    /// allowed only there).
    fn is_list(&self, _resource: &ConfigResource, _name: &str) -> bool {
        false
    }
}

/// A validator that accepts everything (and treats no key as a list).
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAllConfigs;

impl ConfigValidator for AcceptAllConfigs {
    fn validate(
        &self,
        _resource: &ConfigResource,
        _name: &str,
        _value: Option<&str>,
    ) -> std::result::Result<(), ApiError> {
        Ok(())
    }
}

/// A block of producer ids for one broker (AllocateProducerIds' answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdBlock {
    /// NONE, NOT_CONTROLLER, STALE_BROKER_EPOCH or UNKNOWN_SERVER_ERROR (ids exhausted).
    pub error: ErrorCode,
    /// The first id of the block.
    pub first_producer_id: i64,
    /// How many ids, from the first.
    pub size: i64,
}

/// A broker's liveness, known only to the active controller (not in the log).
#[derive(Debug, Clone, Copy)]
struct Session {
    last_contact_ms: i64,
    /// The committed offset at which the broker was first seen in controlled shutdown leading
    /// nothing: it may stop once it has replayed that far.
    shutdown_offset: Option<i64>,
}

/// SplitMix64: small, seedable, good enough for ids and placement starts.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl PlacementRng for Rng {
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % (n.max(1) as u64)) as usize
    }
}

/// The controller (see the module docs).
#[derive(Debug)]
pub struct QuorumController {
    config: ControllerConfig,
    active: bool,
    committed: MetadataImage,
    speculative: MetadataImage,
    /// Proposed batches not committed yet, oldest first.
    pending: VecDeque<Vec<MetadataRecord>>,
    sessions: HashMap<i32, Session>,
    /// The committed offset of each broker's registration: it is caught up (and may be
    /// unfenced) once it has replayed that far. Kept on every node, so a new leader knows it;
    /// a broker registered before the last snapshot counts as caught up.
    registration_offsets: HashMap<i32, i64>,
    last_broker_epoch: i64,
    rng: Rng,
}

impl QuorumController {
    /// A controller (inactive until [`QuorumController::on_became_leader`]) over an empty image
    /// of cluster `cluster_id`; `seed` drives topic ids and placement (seed it from the OS).
    pub fn new(config: ControllerConfig, cluster_id: &str, seed: u64) -> Self {
        let image = MetadataImage::new(cluster_id);
        QuorumController {
            config,
            active: false,
            committed: image.clone(),
            speculative: image,
            pending: VecDeque::new(),
            sessions: HashMap::new(),
            registration_offsets: HashMap::new(),
            last_broker_epoch: -1,
            rng: Rng(seed),
        }
    }

    /// Replaces the committed state with a snapshot's image (at start-up or when the raft
    /// library installs a snapshot); any speculation is dropped.
    pub fn load_snapshot(&mut self, image: MetadataImage) {
        self.committed = image;
        self.registration_offsets.clear();
        self.resync();
    }

    /// The settings.
    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    /// Whether this node is the active controller (as last told).
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// The committed image.
    pub fn committed(&self) -> &MetadataImage {
        &self.committed
    }

    /// The committed image plus this controller's uncommitted proposals.
    pub fn speculative(&self) -> &MetadataImage {
        &self.speculative
    }

    /// How many proposed batches wait for commit.
    pub fn pending_batches(&self) -> usize {
        self.pending.len()
    }

    /// The records that start a new cluster's log (the finalized `metadata.version`), to be
    /// proposed by the first active controller when its committed image has no
    /// `metadata.version` yet.
    pub fn bootstrap_records(&mut self) -> Result<Vec<MetadataRecord>> {
        if !self.active || self.speculative.metadata_version() != 0 {
            return Ok(Vec::new());
        }
        let records = vec![FeatureLevelRecord::default()
            .with_name(METADATA_VERSION_FEATURE.to_string())
            .with_feature_level(self.config.metadata_version)
            .into()];
        self.propose(records)
    }

    /// Applies one committed batch at `provenance` (every node calls this for every entry the
    /// quorum commits, in order, its own proposals included).
    pub fn replay_committed(
        &mut self,
        provenance: Provenance,
        records: &[MetadataRecord],
    ) -> Result<()> {
        self.committed.apply_batch(provenance, records)?;
        for r in records {
            if let MetadataRecord::RegisterBroker(b) = r {
                self.registration_offsets
                    .insert(b.broker_id, provenance.offset);
            }
            if let MetadataRecord::UnregisterBroker(b) = r {
                self.registration_offsets.remove(&b.broker_id);
            }
        }
        if !self.active {
            // A follower's speculative image is its committed one: apply the batch to both
            // rather than copying the whole image per batch.
            if self.speculative.apply_batch(provenance, records).is_err() {
                self.speculative = self.committed.clone();
            }
            self.pending.clear();
            return Ok(());
        }
        if records.is_empty() {
            // A raft no-op (a new term's first entry): nothing changes.
            self.speculative.set_provenance(provenance);
        } else if self
            .pending
            .front()
            .is_some_and(|p| p.as_slice() == records)
        {
            // Our own oldest proposal committed: the speculative image already holds it.
            self.pending.pop_front();
            self.speculative.set_provenance(provenance);
        } else {
            // Something else committed (an earlier leader's entry): rebuild on top of it.
            self.resync();
        }
        Ok(())
    }

    /// Speculative := committed + pending; pending batches that no longer apply are dropped.
    fn resync(&mut self) {
        let mut image = self.committed.clone();
        let mut kept = VecDeque::new();
        for batch in self.pending.drain(..) {
            let mut next = image.clone();
            if batch.iter().all(|r| next.apply(r).is_ok()) {
                image = next;
                kept.push_back(batch);
            }
        }
        self.pending = kept;
        self.speculative = image;
    }

    /// This node became the active controller at `now_ms`: every registered broker's session
    /// starts now (as a new Kafka controller, which cannot know when they were last heard).
    pub fn on_became_leader(&mut self, now_ms: i64) {
        self.active = true;
        self.pending.clear();
        self.speculative = self.committed.clone();
        self.sessions = self
            .committed
            .brokers()
            .keys()
            .map(|id| {
                (
                    *id,
                    Session {
                        last_contact_ms: now_ms,
                        shutdown_offset: None,
                    },
                )
            })
            .collect();
    }

    /// This node is no longer the active controller: uncommitted proposals are forgotten (the
    /// new leader decides whether they commit; if they do, they are replayed as committed).
    pub fn on_leadership_lost(&mut self) {
        self.active = false;
        self.pending.clear();
        self.speculative = self.committed.clone();
        self.sessions.clear();
    }

    /// When [`QuorumController::tick`] next has something to do (the earliest session expiry),
    /// if anything.
    pub fn poll_timeout(&self) -> Option<i64> {
        if !self.active {
            return None;
        }
        self.speculative
            .brokers()
            .values()
            .filter(|b| !b.fenced)
            .filter_map(|b| self.sessions.get(&b.id))
            .map(|s| {
                s.last_contact_ms
                    .saturating_add(self.config.session_timeout_ms)
                    + 1
            })
            .min()
    }

    /// Applies `records` (made elsewhere, e.g. migrated from an older store) to the speculative
    /// image and queues them as one pending batch, as any operation's records.
    pub fn propose_records(&mut self, records: Vec<MetadataRecord>) -> Result<Vec<MetadataRecord>> {
        self.propose(records)
    }

    /// Forgets every uncommitted proposal: one failed to reach the log (or its fate is
    /// unknown), and speculating past it could answer from state that never commits. What does
    /// commit later is replayed as committed.
    pub fn abandon_pending(&mut self) {
        self.pending.clear();
        self.speculative = self.committed.clone();
    }

    /// Applies `records` to the speculative image and queues them as one pending batch.
    fn propose(&mut self, records: Vec<MetadataRecord>) -> Result<Vec<MetadataRecord>> {
        let mut batch = Vec::with_capacity(records.len());
        for r in records {
            self.emit(&mut batch, r)?;
        }
        Ok(self.finish(batch))
    }

    /// Applies `record` to the speculative image now (so the rest of an operation sees it)
    /// and adds it to `batch`; the batch is queued by [`QuorumController::finish`].
    fn emit(&mut self, batch: &mut Vec<MetadataRecord>, record: MetadataRecord) -> Result<()> {
        if let Err(e) = self.speculative.apply(&record) {
            // A record the controller built does not apply: a bug. Undo what this batch did.
            batch.clear();
            self.resync();
            return Err(e);
        }
        batch.push(record);
        Ok(())
    }

    fn finish(&mut self, batch: Vec<MetadataRecord>) -> Vec<MetadataRecord> {
        if !batch.is_empty() {
            self.pending.push_back(batch.clone());
        }
        batch
    }

    fn fresh_uuid(&mut self) -> Uuid {
        loop {
            let id = Uuid::from_u64_pair(self.rng.next_u64(), self.rng.next_u64());
            // As Kafka's Uuid.randomUuid: never the zero id or the reserved metadata topic id
            // (1), and never one whose base64 form starts with '-' (it reads as a CLI flag).
            let reserved = id == Uuid::ZERO || id == Uuid::from_u64_pair(0, 1);
            if !reserved && (id.0[0] >> 2) != 62 && self.speculative.topic_by_id(id).is_none() {
                return id;
            }
        }
    }

    /// A broker epoch above every epoch issued before, here or by an earlier controller: above
    /// every registered broker's epoch and above the committed log offset. Kafka uses the
    /// registration record's offset, which is not known before the record is proposed; the
    /// offset bound keeps epochs growing across controller fail-overs all the same.
    fn next_broker_epoch(&mut self) -> i64 {
        let registered = self
            .speculative
            .brokers()
            .values()
            .map(|b| b.epoch)
            .max()
            .unwrap_or(-1);
        let epoch = (self.last_broker_epoch + 1)
            .max(registered + 1)
            .max(self.committed.provenance().offset + 1);
        self.last_broker_epoch = epoch;
        epoch
    }

    fn session_alive(&self, broker: i32, now_ms: i64) -> bool {
        self.sessions
            .get(&broker)
            .is_some_and(|s| now_ms - s.last_contact_ms <= self.config.session_timeout_ms)
    }

    fn touch(&mut self, broker: i32, now_ms: i64) {
        let s = self.sessions.entry(broker).or_insert(Session {
            last_contact_ms: now_ms,
            shutdown_offset: None,
        });
        s.last_contact_ms = s.last_contact_ms.max(now_ms);
    }

    /// BrokerRegistration: a broker (re)joins, fenced until it has caught up.
    pub fn register_broker(
        &mut self,
        now_ms: i64,
        request: &BrokerRegistrationRequest,
    ) -> Result<ControllerResult<BrokerRegistrationResponse>> {
        let refuse = |code: ErrorCode| {
            ControllerResult::new(
                BrokerRegistrationResponse::default()
                    .with_error_code(code.code())
                    .with_broker_epoch(-1),
                Vec::new(),
            )
        };
        if !self.active {
            return Ok(refuse(ErrorCode::NotController));
        }
        if request.cluster_id != self.speculative.cluster_id() {
            return Ok(refuse(ErrorCode::InconsistentClusterId));
        }
        // As Kafka, every finalized feature must be within the broker's range; a feature the
        // broker does not list counts as supported at level 0 only.
        for (name, level) in self.speculative.features() {
            let (min, max) = request
                .features
                .iter()
                .find(|f| &f.name == name)
                .map(|f| (f.min_supported_version, f.max_supported_version))
                .unwrap_or((0, 0));
            if *level < min || *level > max {
                return Ok(refuse(ErrorCode::UnsupportedVersion));
            }
        }
        let id = request.broker_id;
        if id < 0 {
            return Ok(refuse(ErrorCode::InvalidRegistration));
        }
        let existing = self.speculative.broker(id).cloned();
        if let Some(e) = &existing {
            // Another live process with this id is refused, unless the new one proves it is
            // the restart of the registered one: it stopped cleanly and kept its epoch
            // (Kafka's KIP-966 `previousBrokerEpoch`).
            let restart_of_registered =
                request.previous_broker_epoch >= 0 && request.previous_broker_epoch == e.epoch;
            if e.incarnation_id != request.incarnation_id
                && self.session_alive(id, now_ms)
                && !restart_of_registered
            {
                return Ok(refuse(ErrorCode::DuplicateBrokerRegistration));
            }
        }
        let mut batch = Vec::new();
        if existing.as_ref().is_some_and(|e| !e.fenced) {
            // Back without having been fenced (an unclean restart): its leaderships and ISR
            // places go first, as Kafka's handleBrokerUncleanShutdown.
            self.remove_from_partitions(&mut batch, id)?;
        }
        let epoch = self.next_broker_epoch();
        let record = RegisterBrokerRecord::default()
            .with_broker_id(id)
            .with_incarnation_id(request.incarnation_id)
            .with_broker_epoch(epoch)
            .with_end_points(
                request
                    .listeners
                    .iter()
                    .map(|l| {
                        BrokerEndpoint::default()
                            .with_name(l.name.clone())
                            .with_host(l.host.clone())
                            .with_port(l.port)
                            .with_security_protocol(l.security_protocol)
                    })
                    .collect(),
            )
            .with_features(
                request
                    .features
                    .iter()
                    .map(|f| {
                        BrokerFeature::default()
                            .with_name(f.name.clone())
                            .with_min_supported_version(f.min_supported_version)
                            .with_max_supported_version(f.max_supported_version)
                    })
                    .collect(),
            )
            .with_rack(request.rack.clone())
            .with_fenced(true)
            .with_in_controlled_shutdown(false)
            .with_log_dirs(request.log_dirs.clone());
        self.emit(&mut batch, record.into())?;
        self.sessions.insert(
            id,
            Session {
                last_contact_ms: now_ms,
                shutdown_offset: None,
            },
        );
        let records = self.finish(batch);
        Ok(ControllerResult::new(
            BrokerRegistrationResponse::default().with_broker_epoch(epoch),
            records,
        ))
    }

    /// Checks a broker's id and epoch as Kafka's `checkBrokerEpoch`.
    fn check_broker_epoch(&self, id: i32, epoch: i64) -> std::result::Result<(), ErrorCode> {
        match self.speculative.broker(id) {
            Some(b) if b.epoch == epoch => Ok(()),
            _ => Err(ErrorCode::StaleBrokerEpoch),
        }
    }

    /// BrokerHeartbeat: keeps the session alive and moves the broker between fenced, unfenced,
    /// controlled shutdown and shut down, as Kafka's `BrokerHeartbeatManager`.
    pub fn heartbeat(
        &mut self,
        now_ms: i64,
        request: &BrokerHeartbeatRequest,
    ) -> Result<ControllerResult<BrokerHeartbeatResponse>> {
        let refuse = |code: ErrorCode| {
            ControllerResult::new(
                BrokerHeartbeatResponse::default()
                    .with_error_code(code.code())
                    .with_is_fenced(true),
                Vec::new(),
            )
        };
        if !self.active {
            return Ok(refuse(ErrorCode::NotController));
        }
        let id = request.broker_id;
        if let Err(code) = self.check_broker_epoch(id, request.broker_epoch) {
            return Ok(refuse(code));
        }
        self.touch(id, now_ms);
        let Some(broker) = self.speculative.broker(id).cloned() else {
            return Ok(refuse(ErrorCode::StaleBrokerEpoch));
        };
        let caught_up = match self.registration_offsets.get(&id) {
            Some(offset) => request.current_metadata_offset >= *offset,
            // Registered before the snapshot this node started from, or not committed yet.
            None => self
                .committed
                .broker(id)
                .is_some_and(|b| b.epoch == broker.epoch),
        };
        let mut batch = Vec::new();
        let mut should_shut_down = false;
        if broker.fenced {
            if request.want_shut_down {
                should_shut_down = true;
            } else if !request.want_fence && caught_up {
                self.emit(
                    &mut batch,
                    UnfenceBrokerRecord::default()
                        .with_id(id)
                        .with_epoch(broker.epoch)
                        .into(),
                )?;
                self.elect_offline_partitions(&mut batch)?;
            }
        } else if request.want_fence && !request.want_shut_down {
            self.fence(&mut batch, &broker)?;
        } else if broker.in_controlled_shutdown || request.want_shut_down {
            if !broker.in_controlled_shutdown {
                self.emit(
                    &mut batch,
                    BrokerRegistrationChangeRecord::default()
                        .with_broker_id(id)
                        .with_broker_epoch(broker.epoch)
                        .with_in_controlled_shutdown(1)
                        .into(),
                )?;
                self.remove_from_partitions(&mut batch, id)?;
            }
            should_shut_down = self.may_shut_down(id, request.current_metadata_offset);
        }
        let is_fenced = self.speculative.broker(id).is_none_or(|b| b.fenced);
        let records = self.finish(batch);
        Ok(ControllerResult::new(
            BrokerHeartbeatResponse::default()
                .with_is_caught_up(caught_up)
                .with_is_fenced(is_fenced)
                .with_should_shut_down(should_shut_down),
            records,
        ))
    }

    /// A broker in controlled shutdown may stop once the committed image shows it leading
    /// nothing and it has replayed up to where that was first seen.
    fn may_shut_down(&mut self, id: i32, current_offset: i64) -> bool {
        let committed_done = self
            .committed
            .broker(id)
            .is_some_and(|b| b.in_controlled_shutdown)
            && self.committed.partitions_led_by(id).next().is_none();
        if !committed_done {
            return false;
        }
        let offset = self.committed.provenance().offset;
        let Some(session) = self.sessions.get_mut(&id) else {
            return false;
        };
        let target = *session.shutdown_offset.get_or_insert(offset);
        current_offset >= target
    }

    /// UnregisterBroker: the broker leaves the cluster for good.
    pub fn unregister_broker(
        &mut self,
        request: &UnregisterBrokerRequest,
    ) -> Result<ControllerResult<UnregisterBrokerResponse>> {
        if !self.active {
            return Ok(ControllerResult::new(
                UnregisterBrokerResponse::default()
                    .with_error_code(ErrorCode::NotController.code()),
                Vec::new(),
            ));
        }
        let id = request.broker_id;
        let Some(broker) = self.speculative.broker(id).cloned() else {
            return Ok(ControllerResult::new(
                UnregisterBrokerResponse::default()
                    .with_error_code(ErrorCode::BrokerIdNotRegistered.code())
                    .with_error_message(Some(format!("Broker ID {id} is not registered."))),
                Vec::new(),
            ));
        };
        let mut batch = Vec::new();
        self.remove_from_partitions(&mut batch, id)?;
        self.emit(
            &mut batch,
            UnregisterBrokerRecord::default()
                .with_broker_id(id)
                .with_broker_epoch(broker.epoch)
                .into(),
        )?;
        self.sessions.remove(&id);
        let records = self.finish(batch);
        Ok(ControllerResult::new(
            UnregisterBrokerResponse::default(),
            records,
        ))
    }

    /// Fences every unfenced broker whose session expired by `now_ms` and moves its
    /// leaderships to other in-sync replicas (or takes the partition offline).
    pub fn tick(&mut self, now_ms: i64) -> Result<Vec<MetadataRecord>> {
        if !self.active {
            return Ok(Vec::new());
        }
        let mut expired = Vec::new();
        for b in self.speculative.brokers().values().filter(|b| !b.fenced) {
            let session = self.sessions.entry(b.id).or_insert(Session {
                last_contact_ms: now_ms,
                shutdown_offset: None,
            });
            if now_ms - session.last_contact_ms > self.config.session_timeout_ms {
                expired.push(b.clone());
            }
        }
        let mut batch = Vec::new();
        for b in &expired {
            self.fence(&mut batch, b)?;
        }
        Ok(self.finish(batch))
    }

    fn fence(
        &mut self,
        batch: &mut Vec<MetadataRecord>,
        broker: &BrokerRegistration,
    ) -> Result<()> {
        self.emit(
            batch,
            FenceBrokerRecord::default()
                .with_id(broker.id)
                .with_epoch(broker.epoch)
                .into(),
        )?;
        self.remove_from_partitions(batch, broker.id)
    }

    /// Removes `broker` from every ISR it is in (never emptying one: the last member stays, so
    /// the partition comes back with it) and elects a new leader wherever it led, from the ISR
    /// in replica order among active brokers; none: leader -1, the partition is offline
    /// (`unclean.leader.election.enable` is false).
    fn remove_from_partitions(
        &mut self,
        batch: &mut Vec<MetadataRecord>,
        broker: i32,
    ) -> Result<()> {
        let mut changes = Vec::new();
        for t in self.speculative.topics() {
            for (index, p) in &t.partitions {
                if !p.isr.contains(&broker) && p.leader != broker {
                    continue;
                }
                let mut isr: Vec<i32> = p.isr.iter().copied().filter(|b| *b != broker).collect();
                if isr.is_empty() {
                    isr = p.isr.clone();
                }
                let leader_ok = p.leader >= 0
                    && p.leader != broker
                    && isr.contains(&p.leader)
                    && self.is_active_leader(p.leader, broker);
                let leader = if leader_ok {
                    p.leader
                } else {
                    p.replicas
                        .iter()
                        .copied()
                        .find(|r| isr.contains(r) && self.is_active_leader(*r, broker))
                        .unwrap_or(-1)
                };
                let mut record = PartitionChangeRecord::default()
                    .with_topic_id(t.id)
                    .with_partition_id(*index);
                let mut changed = false;
                if isr != p.isr {
                    record = record.with_isr(Some(isr));
                    changed = true;
                }
                if leader != p.leader {
                    record = record.with_leader(leader);
                    changed = true;
                }
                if changed {
                    changes.push(record);
                }
            }
        }
        for c in changes {
            self.emit(batch, c.into())?;
        }
        Ok(())
    }

    /// Whether `id` may lead: registered, unfenced, not shutting down, and not `excluded`.
    fn is_active_leader(&self, id: i32, excluded: i32) -> bool {
        id != excluded
            && self
                .speculative
                .broker(id)
                .is_some_and(BrokerRegistration::is_active)
    }

    /// Elects a leader for every offline partition with an active broker in its ISR.
    fn elect_offline_partitions(&mut self, batch: &mut Vec<MetadataRecord>) -> Result<()> {
        let mut changes = Vec::new();
        for t in self.speculative.topics() {
            for (index, p) in &t.partitions {
                if p.leader >= 0 {
                    continue;
                }
                if let Some(leader) = p
                    .replicas
                    .iter()
                    .copied()
                    .find(|r| p.isr.contains(r) && self.is_active_leader(*r, -1))
                {
                    changes.push(
                        PartitionChangeRecord::default()
                            .with_topic_id(t.id)
                            .with_partition_id(*index)
                            .with_leader(leader),
                    );
                }
            }
        }
        for c in changes {
            self.emit(batch, c.into())?;
        }
        Ok(())
    }

    /// AllocateProducerIds: the next block of producer ids for `broker_id`.
    pub fn allocate_producer_ids(
        &mut self,
        broker_id: i32,
        broker_epoch: i64,
    ) -> Result<ControllerResult<ProducerIdBlock>> {
        let refuse = |error| {
            ControllerResult::new(
                ProducerIdBlock {
                    error,
                    first_producer_id: -1,
                    size: 0,
                },
                Vec::new(),
            )
        };
        if !self.active {
            return Ok(refuse(ErrorCode::NotController));
        }
        if let Err(code) = self.check_broker_epoch(broker_id, broker_epoch) {
            return Ok(refuse(code));
        }
        let first = self.speculative.next_producer_id();
        let size = self.config.producer_id_block_size.max(1);
        let Some(next) = first.checked_add(size) else {
            return Ok(refuse(ErrorCode::UnknownServerError));
        };
        let records = self.propose(vec![ProducerIdsRecord::default()
            .with_broker_id(broker_id)
            .with_broker_epoch(broker_epoch)
            .with_next_producer_id(next)
            .into()])?;
        Ok(ControllerResult::new(
            ProducerIdBlock {
                error: ErrorCode::None,
                first_producer_id: first,
                size,
            },
            records,
        ))
    }
}

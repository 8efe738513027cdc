//! The `Sender`: the producer's I/O thread, Kafka's `org.apache.kafka.clients.producer.internals.Sender`.
//!
//! It owns the [`NetworkClient`]. Each turn it asks the accumulator which leaders have a
//! sendable batch, drains at most one batch per partition for each ready leader into one
//! Produce request per node, and handles the answers: success completes the batch's
//! futures, a retriable error puts the batch back (in sequence order) after a backoff, other
//! errors fail it. Batches past `delivery.timeout.ms` fail with a timeout.
//!
//! Idempotence: before the first drain it obtains a producer id with InitProducerId; the
//! accumulator stamps each batch with the partition's next sequence when it is first drained,
//! and retries resend the identical bytes, so the broker can drop duplicates.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use kafka_protocol::messages::init_producer_id_request::InitProducerIdRequest;
use kafka_protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use kafka_protocol::messages::produce_response::ProduceResponse;
use kafka_protocol::messages::{RequestKind, ResponseKind};
use kafka_protocol::records::Records;
use kafka_protocol::{ApiKey, ErrorCode};

use crate::config::{Acks, ProducerConfig};
use crate::error::{Error, Result};
use crate::metadata::Cluster;
use crate::network_client::{backoff, ClientResponse, NetworkClient};
use crate::producer::accumulator::RecordAccumulator;
use crate::producer::batch::ProducerBatch;
use crate::types::{NodeId, TopicPartition};

/// The tag of InitProducerId requests; Produce requests use tags from 1 up.
const INIT_PRODUCER_ID_TAG: u64 = 0;

/// Metadata shared between the caller threads (partitioning in `send`) and the Sender (which
/// owns the network client that fetches it).
#[derive(Debug, Default)]
pub(crate) struct SharedMetadata {
    cluster: RwLock<Arc<Cluster>>,
    version: Mutex<u64>,
    updated: Condvar,
    /// Topics `send` was asked for; the Sender adds them to its metadata requests.
    wanted: Mutex<BTreeSet<String>>,
    wanted_changed: AtomicBool,
    fatal: RwLock<HashMap<String, ErrorCode>>,
    /// The last connection's authentication failure, reported by `send` at once.
    auth_error: RwLock<Option<Error>>,
}

impl SharedMetadata {
    pub(crate) fn cluster(&self) -> Arc<Cluster> {
        Arc::clone(&self.cluster.read().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn version(&self) -> u64 {
        *self.version.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn fatal_error(&self, topic: &str) -> Option<ErrorCode> {
        self.fatal
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(topic)
            .copied()
    }

    pub(crate) fn auth_error(&self) -> Option<Error> {
        self.auth_error
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_auth_error(&self, error: Option<Error>) {
        let changed = {
            let mut slot = self.auth_error.write().unwrap_or_else(|e| e.into_inner());
            let changed = slot.is_some() != error.is_some();
            *slot = error;
            changed
        };
        if changed {
            // Wake senders blocked on metadata so they see it.
            let _guard = self.version.lock().unwrap_or_else(|e| e.into_inner());
            self.updated.notify_all();
        }
    }

    /// Asks the Sender for metadata of `topic`; returns whether it was new.
    pub(crate) fn want(&self, topic: &str) -> bool {
        let mut wanted = self.wanted.lock().unwrap_or_else(|e| e.into_inner());
        let new = wanted.insert(topic.to_string());
        self.wanted_changed.store(true, Ordering::Release);
        new
    }

    /// Waits until the metadata version exceeds `seen` or `deadline` passes.
    pub(crate) fn await_update(&self, seen: u64, deadline: Instant) -> bool {
        let mut version = self.version.lock().unwrap_or_else(|e| e.into_inner());
        while *version <= seen && self.auth_error().is_none() {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            version = self
                .updated
                .wait_timeout(version, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    fn publish(&self, client: &NetworkClient) {
        let metadata = client.metadata();
        {
            let mut fatal = self.fatal.write().unwrap_or_else(|e| e.into_inner());
            fatal.clear();
            for t in metadata.topics() {
                if let Some(code) = metadata.fatal_topic_error(t) {
                    fatal.insert(t.clone(), code);
                }
            }
        }
        *self.cluster.write().unwrap_or_else(|e| e.into_inner()) =
            Arc::new(metadata.cluster().clone());
        let mut version = self.version.lock().unwrap_or_else(|e| e.into_inner());
        *version = metadata.version();
        self.updated.notify_all();
    }
}

/// What the Sender shares with the producer handle.
#[derive(Debug)]
pub(crate) struct SenderShared {
    pub(crate) running: AtomicBool,
    pub(crate) force_close: AtomicBool,
    pub(crate) metadata: SharedMetadata,
    /// Requests sent, for the tests and metrics.
    pub(crate) requests_sent: AtomicU64,
}

impl SenderShared {
    pub(crate) fn new() -> Self {
        SenderShared {
            running: AtomicBool::new(true),
            force_close: AtomicBool::new(false),
            metadata: SharedMetadata::default(),
            requests_sent: AtomicU64::new(0),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProducerIdState {
    /// Idempotence is off.
    NotNeeded,
    Unknown,
    Requested,
    Known,
}

/// The producer's I/O loop.
#[derive(Debug)]
pub(crate) struct Sender {
    client: NetworkClient,
    accumulator: Arc<RecordAccumulator>,
    shared: Arc<SenderShared>,
    config: ProducerConfig,
    in_flight: HashMap<u64, Vec<ProducerBatch>>,
    next_tag: u64,
    producer_id: ProducerIdState,
    init_attempts: u32,
    init_retry_at: Option<Instant>,
    /// Partitions with a batch in flight, when order must be kept without idempotence.
    guarantee_order: bool,
    published_version: u64,
    /// A batch that had a sequence number ended without being written (expired, or refused
    /// for good): the broker's next expected sequence can no longer be reached, so the epoch
    /// is bumped and sequences restart at 0 (KIP-360), as Java's idempotent producer does.
    epoch_bump_needed: bool,
}

impl Sender {
    pub(crate) fn new(
        client: NetworkClient,
        accumulator: Arc<RecordAccumulator>,
        shared: Arc<SenderShared>,
        config: ProducerConfig,
    ) -> Self {
        let guarantee_order = config.common.max_in_flight == 1 && !config.idempotence;
        Sender {
            producer_id: if config.idempotence {
                ProducerIdState::Unknown
            } else {
                ProducerIdState::NotNeeded
            },
            client,
            accumulator,
            shared,
            config,
            in_flight: HashMap::new(),
            next_tag: 1,
            init_attempts: 0,
            init_retry_at: None,
            guarantee_order,
            published_version: 0,
            epoch_bump_needed: false,
        }
    }

    /// Runs until the producer closes: then sends what is left (unless forced) and returns.
    pub(crate) fn run(mut self) {
        while self.shared.running.load(Ordering::Acquire) {
            self.run_once();
        }
        // Closing: keep sending until everything is delivered or failed.
        while !self.shared.force_close.load(Ordering::Acquire)
            && (self.accumulator.has_undrained() || !self.in_flight.is_empty())
        {
            self.run_once();
        }
        if self.shared.force_close.load(Ordering::Acquire) {
            let err = Error::Other("the producer was closed forcefully".into());
            for (_, batches) in self.in_flight.drain() {
                for mut batch in batches {
                    batch.fail(err.clone());
                    self.accumulator.deallocate(&batch);
                }
            }
            self.accumulator.abort_incomplete_batches(err);
        }
        self.client.close();
    }

    fn run_once(&mut self) {
        let now = Instant::now();
        self.sync_wanted_topics();
        let mut poll_timeout = Duration::from_millis(100);
        if !self.maybe_init_producer_id(now) {
            poll_timeout = poll_timeout.min(Duration::from_millis(10));
        } else {
            poll_timeout = poll_timeout.min(self.send_producer_data(now));
        }
        self.fail_expired(now);
        let responses = self.client.poll(poll_timeout);
        let now = Instant::now();
        for response in responses {
            self.handle_response(response, now);
        }
        self.shared
            .metadata
            .set_auth_error(self.client.last_authentication_error());
        if self.client.metadata().version() != self.published_version {
            self.published_version = self.client.metadata().version();
            self.shared.metadata.publish(&self.client);
        }
    }

    fn sync_wanted_topics(&mut self) {
        if self
            .shared
            .metadata
            .wanted_changed
            .swap(false, Ordering::AcqRel)
        {
            let wanted: Vec<String> = self
                .shared
                .metadata
                .wanted
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned()
                .collect();
            self.client
                .metadata_mut()
                .add_topics(wanted.iter().map(String::as_str));
        }
    }

    /// Returns whether data may be sent (the producer id is known or not needed).
    fn maybe_init_producer_id(&mut self, now: Instant) -> bool {
        match self.producer_id {
            ProducerIdState::NotNeeded => return true,
            ProducerIdState::Known if !self.epoch_bump_needed => return true,
            // Bump once nothing sent under the old epoch is outstanding; send nothing new.
            ProducerIdState::Known if !self.in_flight.is_empty() => return false,
            ProducerIdState::Known => {
                self.epoch_bump_needed = false;
                self.producer_id = ProducerIdState::Unknown;
            }
            ProducerIdState::Requested => return false,
            ProducerIdState::Unknown => {}
        }
        if self.init_retry_at.is_some_and(|t| t > now) {
            return false;
        }
        let Some(node) = self.client.least_loaded_node(now) else {
            return false;
        };
        if !self.client.ready(node, now) {
            return false;
        }
        let Some(version) = self.client.api_version(node, ApiKey::InitProducerId) else {
            self.fail_all_unrecoverable(Error::UnsupportedVersion(format!(
                "node {node} does not support InitProducerId, which idempotence needs"
            )));
            return false;
        };
        // From v3 a producer that has an id asks for the next epoch of it (KIP-360).
        let (pid, epoch) = match self.accumulator.producer_id_and_epoch() {
            Some((pid, epoch)) if version >= 3 => (pid, epoch),
            _ => (-1, -1),
        };
        let request = RequestKind::InitProducerId(
            InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(i32::MAX)
                .with_producer_id(pid)
                .with_producer_epoch(epoch),
        );
        match self
            .client
            .send(node, &request, version, true, INIT_PRODUCER_ID_TAG, now)
        {
            Ok(_) => self.producer_id = ProducerIdState::Requested,
            Err(e) => tracing::debug!(error = %e, "InitProducerId not sent"),
        }
        false
    }

    fn handle_init_producer_id(&mut self, result: Result<Option<ResponseKind>>, now: Instant) {
        let outcome = match result {
            Ok(Some(ResponseKind::InitProducerId(r))) => {
                let code = ErrorCode::from(r.error_code);
                if code.is_error() {
                    Err(Error::kafka(code))
                } else {
                    Ok((r.producer_id, r.producer_epoch))
                }
            }
            Ok(_) => Err(Error::Other("unexpected answer to InitProducerId".into())),
            Err(e) => Err(e),
        };
        match outcome {
            Ok((pid, epoch)) => {
                tracing::debug!(producer_id = pid, epoch, "producer id assigned");
                self.accumulator.set_producer_id_and_epoch(pid, epoch);
                self.producer_id = ProducerIdState::Known;
                self.init_attempts = 0;
            }
            Err(e) if e.is_retriable() => {
                self.producer_id = ProducerIdState::Unknown;
                self.init_retry_at = Some(
                    now + backoff(
                        self.config.common.retry_backoff,
                        self.config.common.retry_backoff_max,
                        self.init_attempts,
                    ),
                );
                self.init_attempts = self.init_attempts.saturating_add(1);
            }
            Err(e) => {
                tracing::error!(error = %e, "InitProducerId failed");
                self.fail_all_unrecoverable(e);
                self.producer_id = ProducerIdState::Unknown;
                self.init_retry_at = Some(now + self.config.common.retry_backoff_max);
            }
        }
    }

    fn fail_all_unrecoverable(&mut self, err: Error) {
        self.accumulator.abort_incomplete_batches(err);
    }

    /// Drains ready batches into Produce requests; returns how long the next turn may wait.
    fn send_producer_data(&mut self, now: Instant) -> Duration {
        let cluster_ref = self.client.metadata().cluster();
        let leader_of = |tp: &TopicPartition| cluster_ref.leader_for(tp);
        let ready = self.accumulator.ready(now, &leader_of);
        if !ready.unknown_leader_topics.is_empty() {
            let topics: Vec<String> = ready
                .unknown_leader_topics
                .iter()
                .map(|t| t.to_string())
                .collect();
            let metadata = self.client.metadata_mut();
            metadata.add_topics(topics.iter().map(String::as_str));
            metadata.request_update();
        }
        let mut next = ready.next_ready_check_delay;
        let mut nodes: HashSet<NodeId> = HashSet::new();
        for node in ready.ready_nodes {
            if self.client.ready(node, now) {
                nodes.insert(node);
            } else {
                next = next.min(
                    self.client
                        .connection_delay(node, now)
                        .max(Duration::from_millis(1)),
                );
            }
        }
        if nodes.is_empty() {
            return next;
        }
        let cluster = self.client.metadata().cluster();
        let partitions_of = |node: NodeId| cluster.partitions_for_node(node);
        let drained =
            self.accumulator
                .drain(&nodes, &partitions_of, self.config.max_request_size, now);
        for (node, batches) in drained {
            if batches.is_empty() {
                continue;
            }
            if self.guarantee_order {
                for b in &batches {
                    self.accumulator.mute(b.topic_partition());
                }
            }
            self.send_produce_request(node, batches, now);
        }
        next
    }

    fn send_produce_request(&mut self, node: NodeId, batches: Vec<ProducerBatch>, now: Instant) {
        let version = match self.client.api_versions(node, ApiKey::Produce) {
            Some(range) if range.max >= 3 => range.max,
            _ => {
                let err = Error::UnsupportedVersion(format!(
                    "node {node} does not support Produce v3+ (record batches v2)"
                ));
                for mut b in batches {
                    b.fail(err.clone());
                    self.accumulator.deallocate(&b);
                }
                return;
            }
        };
        let mut topics: Vec<TopicProduceData> = Vec::new();
        for batch in &batches {
            let tp = batch.topic_partition();
            let data = PartitionProduceData::default()
                .with_index(tp.partition)
                .with_records(batch.records().cloned().map(Records::from));
            match topics.iter_mut().find(|t| *t.name == *tp.topic) {
                Some(t) => t.partition_data.push(data),
                None => topics.push(
                    TopicProduceData::default()
                        .with_name(tp.topic.to_string())
                        .with_partition_data(vec![data]),
                ),
            }
        }
        let timeout_ms =
            i32::try_from(self.config.common.request_timeout.as_millis()).unwrap_or(i32::MAX);
        let request = RequestKind::Produce(
            ProduceRequest::default()
                .with_transactional_id(None)
                .with_acks(self.config.acks.wire())
                .with_timeout_ms(timeout_ms)
                .with_topic_data(topics),
        );
        let tag = self.next_tag;
        self.next_tag += 1;
        let expect_response = self.config.acks != Acks::None;
        match self
            .client
            .send(node, &request, version, expect_response, tag, now)
        {
            Ok(_) => {
                self.shared.requests_sent.fetch_add(1, Ordering::Relaxed);
                self.in_flight.insert(tag, batches);
            }
            Err(e) => {
                tracing::debug!(node, error = %e, "produce request not sent");
                for b in batches {
                    self.retry_or_fail(b, Error::Other(e.to_string()), true, now);
                }
            }
        }
    }

    fn handle_response(&mut self, response: ClientResponse, now: Instant) {
        if response.tag == INIT_PRODUCER_ID_TAG {
            self.handle_init_producer_id(response.result, now);
            return;
        }
        let Some(batches) = self.in_flight.remove(&response.tag) else {
            return;
        };
        match response.result {
            Ok(None) => {
                // acks=0: nothing comes back; the offset is unknown, as in Java.
                for b in batches {
                    self.complete(b, -1, None);
                }
            }
            Ok(Some(ResponseKind::Produce(r))) => self.handle_produce_response(batches, &r, now),
            Ok(Some(_)) => {
                for b in batches {
                    self.retry_or_fail(
                        b,
                        Error::Other("unexpected answer to Produce".into()),
                        false,
                        now,
                    );
                }
            }
            Err(e) => {
                for b in batches {
                    self.retry_or_fail(b, e.clone(), true, now);
                }
            }
        }
    }

    fn handle_produce_response(
        &mut self,
        batches: Vec<ProducerBatch>,
        response: &ProduceResponse,
        now: Instant,
    ) {
        for batch in batches {
            let tp = batch.topic_partition().clone();
            let answer = response
                .responses
                .iter()
                .find(|t| *t.name == *tp.topic)
                .and_then(|t| {
                    t.partition_responses
                        .iter()
                        .find(|p| p.index == tp.partition)
                });
            let Some(p) = answer else {
                self.retry_or_fail(
                    batch,
                    Error::Other(format!("the Produce response does not mention {tp}")),
                    false,
                    now,
                );
                continue;
            };
            let code = ErrorCode::from(p.error_code);
            match code {
                ErrorCode::None => {
                    let append_time = (p.log_append_time_ms >= 0).then_some(p.log_append_time_ms);
                    self.complete(batch, p.base_offset, append_time);
                }
                // The broker already has this batch: it was written by an earlier attempt.
                ErrorCode::DuplicateSequenceNumber => self.complete(batch, p.base_offset, None),
                _ => {
                    if matches!(
                        code,
                        ErrorCode::NotLeaderOrFollower
                            | ErrorCode::UnknownTopicOrPartition
                            | ErrorCode::LeaderNotAvailable
                            | ErrorCode::FencedLeaderEpoch
                            | ErrorCode::KafkaStorageError
                    ) {
                        self.client.metadata_mut().request_update();
                    }
                    let message = p.error_message.clone().or_else(|| {
                        p.record_errors
                            .first()
                            .and_then(|e| e.batch_index_error_message.clone())
                    });
                    let retriable = code.is_retriable()
                        || (code == ErrorCode::OutOfOrderSequenceNumber
                            && self.earlier_batch_pending(&batch));
                    let err = Error::kafka_with_message(code, message);
                    self.retry_or_fail(batch, err, retriable, now);
                }
            }
        }
    }

    /// Whether a batch of the same partition with a lower sequence is still being retried:
    /// then an out-of-order answer only means this one overtook it.
    fn earlier_batch_pending(&self, batch: &ProducerBatch) -> bool {
        if !batch.has_sequence() {
            return false;
        }
        let seq = batch.base_sequence();
        let tp = batch.topic_partition();
        self.accumulator.has_batch_below_sequence(tp, seq)
            || self
                .in_flight
                .values()
                .flatten()
                .any(|b| b.topic_partition() == tp && b.has_sequence() && b.base_sequence() < seq)
    }

    fn complete(&mut self, mut batch: ProducerBatch, base_offset: i64, append_time: Option<i64>) {
        if self.guarantee_order {
            self.accumulator.unmute(batch.topic_partition());
        }
        batch.complete(base_offset, append_time);
        self.accumulator.deallocate(&batch);
    }

    fn retry_or_fail(
        &mut self,
        mut batch: ProducerBatch,
        err: Error,
        retriable: bool,
        now: Instant,
    ) {
        if self.guarantee_order {
            self.accumulator.unmute(batch.topic_partition());
        }
        let expired = batch.created() + self.config.delivery_timeout <= now;
        let attempts_left = batch.attempts() <= self.config.retries;
        if retriable
            && attempts_left
            && !expired
            && !self.shared.force_close.load(Ordering::Acquire)
        {
            tracing::debug!(tp = %batch.topic_partition(), error = %err, attempt = batch.attempts(), "retrying batch");
            self.accumulator.reenqueue(batch, now);
            return;
        }
        if batch.has_sequence() {
            self.epoch_bump_needed = true;
        }
        let err = if expired && retriable {
            Error::Timeout(format!(
                "{}: delivery.timeout.ms ({} ms) passed; last error: {err}",
                batch.topic_partition(),
                self.config.delivery_timeout.as_millis()
            ))
        } else {
            err
        };
        batch.fail(err);
        self.accumulator.deallocate(&batch);
    }

    fn fail_expired(&mut self, now: Instant) {
        for mut batch in self.accumulator.expired_batches(now) {
            if batch.has_sequence() {
                self.epoch_bump_needed = true;
            }
            let err = Error::Timeout(format!(
                "{}: {} record(s) expired after delivery.timeout.ms ({} ms) without being sent",
                batch.topic_partition(),
                batch.record_count(),
                self.config.delivery_timeout.as_millis()
            ));
            batch.fail(err);
            self.accumulator.deallocate(&batch);
        }
    }
}

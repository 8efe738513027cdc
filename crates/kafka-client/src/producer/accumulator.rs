//! Per-partition batches waiting to be sent (Kafka's `RecordAccumulator`).
//!
//! Caller threads append records to the last batch of their partition's deque; the Sender
//! thread asks which leaders have sendable batches ([`RecordAccumulator::ready`]), takes at
//! most one batch per partition per request ([`RecordAccumulator::drain`]) and puts failed
//! batches back for a retry ([`RecordAccumulator::reenqueue`]).
//!
//! Each partition's deque has its own `Mutex`, so threads producing to different partitions
//! do not contend; the partition map is behind a `RwLock` written only when a partition is
//! seen for the first time. Memory is bounded by `buffer.memory` ([`BufferPool`]): a new
//! batch takes `max(batch.size, record)` bytes, returned when the Sender calls
//! [`RecordAccumulator::deallocate`] after the batch completed or failed.
//!
//! Nothing here reads the clock for its decisions: the caller passes `now`, so tests drive
//! linger, backoff and expiry with made-up instants.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use kafka_protocol::records::Compression;

use super::batch::{estimate_size_upper_bound, increment_sequence, ProducerBatch};
use super::buffer_pool::BufferPool;
use super::record::{remaining, Callback, DeliveryFuture, ProduceRequestResult};
use crate::network_client::backoff;
use crate::{Error, NodeId, Result, TopicPartition};

/// What [`RecordAccumulator::ready`] reports when no batch has a deadline: the Sender should
/// then wait for a wake-up (an append, a response, a metadata update) rather than a timer.
/// A day rather than `Duration::MAX`, so `now + delay` can never overflow.
pub const MAX_READY_CHECK_DELAY: Duration = Duration::from_secs(24 * 60 * 60);

/// The producer settings the accumulator needs, with Kafka's names and defaults.
#[derive(Debug, Clone)]
pub struct AccumulatorConfig {
    /// `batch.size`: bytes a batch may grow to (a larger record gets a batch of its own).
    pub batch_size: usize,
    /// `linger.ms`: how long a batch that is not full waits for more records.
    pub linger: Duration,
    /// `buffer.memory`: bytes held by unsent and in-flight batches.
    pub buffer_memory: usize,
    /// `max.block.ms`: how long `append` may block waiting for memory.
    pub max_block: Duration,
    /// `delivery.timeout.ms`: how long a record may take, from append to acknowledgement.
    pub delivery_timeout: Duration,
    /// `retry.backoff.ms`: the first retry's backoff.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`: the cap of the exponential backoff.
    pub retry_backoff_max: Duration,
    /// `compression.type`.
    pub compression: Compression,
    /// `compression.<codec>.level`; `None` for the codec's default.
    pub compression_level: Option<i32>,
    /// `max.request.size`: the largest record (as a batch of one) and Produce request.
    pub max_request_size: usize,
    /// `enable.idempotence`: batches carry the producer id, epoch and sequences, and nothing
    /// is drained before [`RecordAccumulator::set_producer_id_and_epoch`].
    pub idempotence: bool,
}

impl Default for AccumulatorConfig {
    /// Kafka 4's producer defaults.
    fn default() -> Self {
        AccumulatorConfig {
            batch_size: 16_384,
            linger: Duration::from_millis(5),
            buffer_memory: 32 * 1024 * 1024,
            max_block: Duration::from_millis(60_000),
            delivery_timeout: Duration::from_millis(120_000),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1_000),
            compression: Compression::None,
            compression_level: None,
            max_request_size: 1_048_576,
            idempotence: true,
        }
    }
}

/// What [`RecordAccumulator::append`] did (Kafka's `RecordAppendResult`).
#[derive(Debug)]
pub struct AppendResult {
    /// The record's handle.
    pub future: DeliveryFuture,
    /// The partition has a batch that cannot take more records: wake the Sender.
    pub batch_is_full: bool,
    /// The record opened a new batch: wake the Sender (it may need a linger timer).
    pub new_batch_created: bool,
    /// Bytes the append added to the partition (for the sticky partitioner's
    /// `on_append`); a new batch counts its header too, as in Kafka.
    pub appended_bytes: usize,
}

/// What [`RecordAccumulator::ready`] found (Kafka's `ReadyCheckResult`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyCheckResult {
    /// Leaders with at least one sendable batch.
    pub ready_nodes: HashSet<NodeId>,
    /// When to check again for batches that are not sendable yet (linger or backoff left);
    /// [`MAX_READY_CHECK_DELAY`] if none.
    pub next_ready_check_delay: Duration,
    /// Topics with batches for a partition whose leader is unknown: refresh their metadata.
    pub unknown_leader_topics: HashSet<Arc<str>>,
}

/// One partition's batches, oldest first, and its producer state.
#[derive(Debug, Default)]
struct PartitionQueue {
    batches: VecDeque<ProducerBatch>,
    /// Set while a request for the partition is in flight and ordering needs it alone
    /// (`max.in.flight.requests.per.connection = 1` without idempotence).
    muted: bool,
    /// The sequence the next drained batch gets (idempotence).
    next_sequence: i32,
}

type Queue = Arc<Mutex<PartitionQueue>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The batches of every partition, shared by the caller threads and the Sender (Kafka's
/// `RecordAccumulator`). See the module documentation.
#[derive(Debug)]
pub struct RecordAccumulator {
    config: AccumulatorConfig,
    free: BufferPool,
    partitions: RwLock<HashMap<TopicPartition, Queue>>,
    /// Every batch created and not yet deallocated, keyed by its completion's address
    /// (Kafka's `IncompleteBatches`), for flush.
    incomplete: Mutex<HashMap<usize, Arc<ProduceRequestResult>>>,
    flushes_in_progress: AtomicUsize,
    closed: AtomicBool,
    /// Where the next drain starts, per node (Kafka's `nodesDrainIndex`).
    drain_index: Mutex<HashMap<NodeId, usize>>,
    producer_id_and_epoch: RwLock<Option<(i64, i16)>>,
}

impl RecordAccumulator {
    /// An empty accumulator with a `buffer.memory` pool of its own.
    pub fn new(config: AccumulatorConfig) -> Self {
        RecordAccumulator {
            free: BufferPool::new(config.buffer_memory),
            config,
            partitions: RwLock::new(HashMap::new()),
            incomplete: Mutex::new(HashMap::new()),
            flushes_in_progress: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            drain_index: Mutex::new(HashMap::new()),
            producer_id_and_epoch: RwLock::new(None),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AccumulatorConfig {
        &self.config
    }

    /// The `buffer.memory` pool (for metrics such as available bytes and waiting threads).
    pub fn buffer_pool(&self) -> &BufferPool {
        &self.free
    }

    fn queue(&self, tp: &TopicPartition) -> Option<Queue> {
        self.partitions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(tp)
            .cloned()
    }

    fn get_or_create_queue(&self, tp: &TopicPartition) -> Queue {
        if let Some(q) = self.queue(tp) {
            return q;
        }
        self.partitions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(tp.clone())
            .or_default()
            .clone()
    }

    /// A snapshot of the partitions' queues, so no map lock is held while waiting for a
    /// partition's lock.
    fn queues(&self) -> Vec<(TopicPartition, Queue)> {
        self.partitions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(tp, q)| (tp.clone(), q.clone()))
            .collect()
    }

    /// Appends a record to `tp`'s last batch, opening a new batch when it does not fit.
    ///
    /// Opening a batch takes `max(batch.size, record)` bytes of `buffer.memory`, blocking up
    /// to `max.block.ms` from `now` (without holding any lock). Errors: a record larger than
    /// `max.request.size` or `buffer.memory` → [`Error::RecordTooLarge`]; no memory in time →
    /// [`Error::Timeout`]; after [`close`](Self::close) → [`Error::Closed`]; an invalid
    /// record (negative timestamp) → [`Error::Protocol`]. On any error the callback, if
    /// given, is called with the error before `append` returns (as Kafka's `send` does), so
    /// the caller never has to keep it.
    #[allow(clippy::too_many_arguments)]
    pub fn append(
        &self,
        tp: &TopicPartition,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
        callback: Option<Callback>,
        now: Instant,
    ) -> Result<AppendResult> {
        let mut callback = callback;
        let result = self.append_inner(tp, timestamp, key, value, headers, &mut callback, now);
        if let Err(e) = &result {
            if let Some(callback) = callback.take() {
                callback(&Err(e.clone()));
            }
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn append_inner(
        &self,
        tp: &TopicPartition,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
        callback: &mut Option<Callback>,
        now: Instant,
    ) -> Result<AppendResult> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed);
        }
        let estimate = estimate_size_upper_bound(key, value, headers);
        if estimate > self.config.max_request_size {
            return Err(Error::RecordTooLarge {
                size: estimate,
                limit: self.config.max_request_size,
                what: "max.request.size",
            });
        }
        let queue = self.get_or_create_queue(tp);
        {
            let mut q = lock(&queue);
            if self.closed.load(Ordering::SeqCst) {
                return Err(Error::Closed);
            }
            if let Some(r) = try_append_last(&mut q, timestamp, key, value, headers, callback)? {
                return Ok(r);
            }
        }

        let size = self.config.batch_size.max(estimate);
        let deadline = deadline_after(now, self.config.max_block);
        let waited = self.free.allocate_timed(size, deadline)?;
        // The batch's linger and delivery timeout start after any wait for memory, as in
        // Kafka (which rereads the clock after allocating).
        let now = now.checked_add(waited).unwrap_or(now);

        let mut q = lock(&queue);
        let outcome = if self.closed.load(Ordering::SeqCst) {
            Err(Error::Closed)
        } else {
            // Another thread may have opened a batch while this one waited for memory.
            try_append_last(&mut q, timestamp, key, value, headers, callback)
        };
        match outcome {
            Ok(Some(r)) => {
                drop(q);
                self.free.deallocate(size);
                return Ok(r);
            }
            Err(e) => {
                drop(q);
                self.free.deallocate(size);
                return Err(e);
            }
            Ok(None) => {}
        }
        let mut batch = ProducerBatch::new(
            tp.clone(),
            self.config.compression,
            self.config.compression_level,
            size,
            size,
            now,
        );
        let future = match batch.try_append(timestamp, key, value, headers, callback) {
            Ok(Some(f)) => f,
            Ok(None) => {
                drop(q);
                self.free.deallocate(size);
                return Err(Error::Other(format!(
                    "a record of about {estimate} bytes does not fit a new batch"
                )));
            }
            Err(e) => {
                drop(q);
                self.free.deallocate(size);
                return Err(e);
            }
        };
        let appended_bytes = batch.estimated_size_in_bytes();
        lock(&self.incomplete).insert(result_key(batch.result()), batch.result().clone());
        let full = batch.is_full();
        q.batches.push_back(batch);
        Ok(AppendResult {
            future,
            batch_is_full: q.batches.len() > 1 || full,
            new_batch_created: true,
            appended_bytes,
        })
    }

    /// The leaders with sendable batches, and when to look again (Kafka's `ready`).
    ///
    /// A partition's first batch is sendable when the partition is not muted and the batch
    /// is full (or not the only one), or waited `linger.ms`, or a thread waits for memory,
    /// or a flush is in progress, or the accumulator is closing; but never while a retried
    /// batch's backoff runs. Partitions whose leader `leader_of` does not know name their
    /// topic in `unknown_leader_topics`.
    pub fn ready(
        &self,
        now: Instant,
        leader_of: &dyn Fn(&TopicPartition) -> Option<NodeId>,
    ) -> ReadyCheckResult {
        let exhausted = self.free.queued_waiters() > 0;
        let forced = exhausted
            || self.closed.load(Ordering::SeqCst)
            || self.flushes_in_progress.load(Ordering::SeqCst) > 0;
        let mut result = ReadyCheckResult {
            ready_nodes: HashSet::new(),
            next_ready_check_delay: MAX_READY_CHECK_DELAY,
            unknown_leader_topics: HashSet::new(),
        };
        for (tp, queue) in self.queues() {
            // Read what the decision needs, then let appenders go before asking metadata.
            let (waited, time_to_wait, backing_off, full) = {
                let q = lock(&queue);
                let Some(first) = q.batches.front() else {
                    continue;
                };
                if q.muted {
                    continue;
                }
                let backing_off = first.is_backing_off(now);
                let time_to_wait = if backing_off {
                    first.retry_backoff()
                } else {
                    self.config.linger
                };
                (
                    first.waited(now),
                    time_to_wait,
                    backing_off,
                    q.batches.len() > 1 || first.is_full(),
                )
            };
            let Some(leader) = leader_of(&tp) else {
                result.unknown_leader_topics.insert(tp.topic.clone());
                continue;
            };
            if result.ready_nodes.contains(&leader) {
                continue;
            }
            let sendable = full || waited >= time_to_wait || forced;
            if sendable && !backing_off {
                result.ready_nodes.insert(leader);
            } else {
                let left = time_to_wait.saturating_sub(waited);
                result.next_ready_check_delay = result.next_ready_check_delay.min(left);
            }
        }
        result
    }

    /// Takes the batches to send to each of `nodes` (Kafka's `drain`).
    ///
    /// Per node: at most one batch per partition (of `partitions_of(node)`, the partitions it
    /// leads), in a rotating order so every partition gets its turn, stopping before the
    /// batches would exceed `max_request_size` bytes (but always taking at least one).
    /// Muted partitions and batches still backing off are skipped. Batches are closed
    /// (encoded) here; with idempotence each batch gets its partition's next sequence at
    /// its first drain and keeps it on retries, and nothing is drained until
    /// [`set_producer_id_and_epoch`](Self::set_producer_id_and_epoch) was called. Nodes
    /// with nothing to send are absent from the map.
    pub fn drain<'c>(
        &self,
        nodes: &HashSet<NodeId>,
        partitions_of: &dyn Fn(NodeId) -> &'c [TopicPartition],
        max_request_size: usize,
        now: Instant,
    ) -> HashMap<NodeId, Vec<ProducerBatch>> {
        let mut out = HashMap::new();
        let producer = if self.config.idempotence {
            match *self
                .producer_id_and_epoch
                .read()
                .unwrap_or_else(|e| e.into_inner())
            {
                Some(p) => Some(p),
                None => return out,
            }
        } else {
            None
        };
        for node in nodes {
            let batches = self.drain_node(*node, partitions_of, max_request_size, producer, now);
            if !batches.is_empty() {
                out.insert(*node, batches);
            }
        }
        out
    }

    fn drain_node<'c>(
        &self,
        node: NodeId,
        partitions_of: &dyn Fn(NodeId) -> &'c [TopicPartition],
        max_request_size: usize,
        producer: Option<(i64, i16)>,
        now: Instant,
    ) -> Vec<ProducerBatch> {
        let mut ready = Vec::new();
        let parts = partitions_of(node);
        if parts.is_empty() {
            return ready;
        }
        let n = parts.len();
        let start = lock(&self.drain_index).get(&node).copied().unwrap_or(0) % n;
        let mut next_start = (start + 1) % n;
        let mut size = 0usize;
        for k in 0..n {
            let i = (start + k) % n;
            let Some(queue) = parts.get(i).and_then(|tp| self.queue(tp)) else {
                continue;
            };
            let mut q = lock(&queue);
            if q.muted {
                continue;
            }
            let Some(first) = q.batches.front() else {
                continue;
            };
            if first.is_backing_off(now) {
                continue;
            }
            if !ready.is_empty()
                && size.saturating_add(first.estimated_size_in_bytes()) > max_request_size
            {
                // This partition goes first next time.
                next_start = i;
                break;
            }
            let Some(mut batch) = q.batches.pop_front() else {
                continue;
            };
            let mut assigned = None;
            if let Some((pid, epoch)) = producer {
                if !batch.has_sequence() {
                    let sequence = q.next_sequence;
                    batch.set_producer_state(pid, epoch, sequence);
                    q.next_sequence = increment_sequence(sequence, batch.record_count());
                    assigned = Some(sequence);
                }
            }
            // Encoding (and compressing) happens without the partition's lock.
            drop(q);
            if let Err(e) = batch.close() {
                self.fail_unsendable(&queue, batch, assigned, e);
                continue;
            }
            size = size.saturating_add(batch.estimated_size_in_bytes());
            batch.drained(now);
            ready.push(batch);
        }
        lock(&self.drain_index).insert(node, next_start);
        ready
    }

    /// A batch that could not be encoded fails at once; its sequence is handed back if no
    /// later batch took one, so the partition's sequences stay gapless.
    fn fail_unsendable(
        &self,
        queue: &Queue,
        mut batch: ProducerBatch,
        assigned: Option<i32>,
        error: Error,
    ) {
        if let Some(sequence) = assigned {
            let mut q = lock(queue);
            if q.next_sequence == increment_sequence(sequence, batch.record_count()) {
                q.next_sequence = sequence;
            }
        }
        tracing::error!(topic_partition = %batch.topic_partition(), %error, "failed to encode a batch");
        batch.fail(error);
        self.deallocate(&batch);
    }

    /// The backoff of a batch that failed `attempts` times before (`retry.backoff.ms` up to
    /// `retry.backoff.max.ms`).
    fn retry_backoff(&self, attempts: u32) -> Duration {
        backoff(
            self.config.retry_backoff,
            self.config.retry_backoff_max,
            attempts,
        )
    }

    /// Puts a batch back for a retry (Kafka's `reenqueue`): at the front of its partition,
    /// one more attempt, sendable again after an exponential backoff with jitter from
    /// `retry.backoff.ms` up to `retry.backoff.max.ms`.
    ///
    /// A batch with a sequence goes before every batch with a higher sequence (and before
    /// batches without one), so an idempotent partition is always resent in sequence order
    /// whatever order the Sender puts batches back in. Its bytes, sequence included, are
    /// unchanged.
    pub fn reenqueue(&self, mut batch: ProducerBatch, now: Instant) {
        let backoff = self.retry_backoff(batch.attempts());
        batch.reenqueued(now, backoff);
        let queue = self.get_or_create_queue(batch.topic_partition());
        let mut q = lock(&queue);
        if batch.has_sequence() {
            let seq = batch.base_sequence();
            let at = q
                .batches
                .iter()
                .position(|b| !b.has_sequence() || b.base_sequence() > seq)
                .unwrap_or(q.batches.len());
            q.batches.insert(at, batch);
        } else {
            q.batches.push_front(batch);
        }
    }

    /// Removes and returns the batches still in the accumulator whose `delivery.timeout.ms`
    /// passed (Kafka's `expiredBatches`); the Sender fails them with [`Error::Timeout`] and
    /// [deallocates](Self::deallocate) them. Batches in flight are the Sender's to expire.
    pub fn expired_batches(&self, now: Instant) -> Vec<ProducerBatch> {
        let mut expired = Vec::new();
        for (_, queue) in self.queues() {
            let mut q = lock(&queue);
            while q
                .batches
                .front()
                .is_some_and(|b| b.has_reached_delivery_timeout(self.config.delivery_timeout, now))
            {
                if let Some(b) = q.batches.pop_front() {
                    expired.push(b);
                }
            }
        }
        expired
    }

    /// Returns a finished batch's memory to `buffer.memory` and forgets it for
    /// [`await_flush_completion`](Self::await_flush_completion). The Sender calls it once
    /// the batch completed or failed (and not for a batch it will retry); calling it twice
    /// frees the memory once.
    pub fn deallocate(&self, batch: &ProducerBatch) {
        lock(&self.incomplete).remove(&result_key(batch.result()));
        if batch.release_memory() {
            self.free.deallocate(batch.allocated_size());
        }
    }

    /// Starts a flush: every batch is sendable until the matching
    /// [`await_flush_completion`](Self::await_flush_completion) returns. Wake the Sender
    /// after calling it.
    pub fn begin_flush(&self) {
        self.flushes_in_progress.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether a flush is in progress.
    pub fn flush_in_progress(&self) -> bool {
        self.flushes_in_progress.load(Ordering::SeqCst) > 0
    }

    /// Waits until every batch that was incomplete when called has completed or failed,
    /// for at most `timeout` (`None`: without limit), then ends the flush begun by
    /// [`begin_flush`](Self::begin_flush). `true` if all finished.
    pub fn await_flush_completion(&self, timeout: Option<Duration>) -> bool {
        let pending: Vec<Arc<ProduceRequestResult>> =
            lock(&self.incomplete).values().cloned().collect();
        let deadline = timeout.map(|t| deadline_after(Instant::now(), t));
        let mut all_done = true;
        for result in pending {
            let done = match deadline {
                None => result.await_done(None),
                Some(d) => result.await_done(Some(remaining(d))),
            };
            if !done {
                all_done = false;
                break;
            }
        }
        let _ = self
            .flushes_in_progress
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_sub(1))
            });
        all_done
    }

    /// Whether any batch waits in the accumulator (not yet drained, or put back).
    pub fn has_undrained(&self) -> bool {
        self.queues()
            .iter()
            .any(|(_, q)| !lock(q).batches.is_empty())
    }

    /// Whether any batch was created and not yet deallocated (in the accumulator or in
    /// flight).
    pub fn has_incomplete(&self) -> bool {
        !lock(&self.incomplete).is_empty()
    }

    /// Stops appends: later and memory-blocked appends fail with [`Error::Closed`], and
    /// every batch becomes sendable so the Sender can finish the queue.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.free.close();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Fails every batch still in the accumulator with `error` and frees its memory (force
    /// close); closes the accumulator first so no append slips in. Batches in flight are
    /// owned by the Sender, which must fail them itself. Returns how many were failed.
    pub fn abort_incomplete_batches(&self, error: Error) -> usize {
        self.close();
        let mut aborted = 0;
        for (_, queue) in self.queues() {
            let batches = std::mem::take(&mut lock(&queue).batches);
            for mut batch in batches {
                batch.fail(error.clone());
                self.deallocate(&batch);
                aborted += 1;
            }
        }
        aborted
    }

    /// Keeps `tp` out of `ready` and `drain` while its request is in flight (ordering with
    /// `max.in.flight.requests.per.connection = 1`).
    pub fn mute(&self, tp: &TopicPartition) {
        lock(&self.get_or_create_queue(tp)).muted = true;
    }

    /// Lets `tp` be drained again.
    pub fn unmute(&self, tp: &TopicPartition) {
        if let Some(q) = self.queue(tp) {
            lock(&q).muted = false;
        }
    }

    /// Whether `tp` is muted.
    pub fn is_muted(&self, tp: &TopicPartition) -> bool {
        self.queue(tp).is_some_and(|q| lock(&q).muted)
    }

    /// Sets the idempotent producer's id and epoch (from InitProducerId); draining starts.
    ///
    /// A new id or epoch restarts every partition's sequences at 0 (Kafka's
    /// `resetSequenceNumbers`). Batches waiting in the accumulator that already had a
    /// sequence (retries) are rewritten under the new id and epoch with sequences from 0 in
    /// deque order. So for an epoch bump the Sender first [reenqueues](Self::reenqueue)
    /// the in-flight batches it will retry, then calls this.
    pub fn set_producer_id_and_epoch(&self, producer_id: i64, producer_epoch: i16) {
        let mut current = self
            .producer_id_and_epoch
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if *current == Some((producer_id, producer_epoch)) {
            return;
        }
        *current = Some((producer_id, producer_epoch));
        for (_, queue) in self.queues() {
            let mut q = lock(&queue);
            let mut sequence = 0;
            let mut failed = Vec::new();
            for (i, batch) in q.batches.iter_mut().enumerate() {
                if !batch.has_sequence() {
                    continue;
                }
                if let Err(e) = batch.reset_producer_state(producer_id, producer_epoch, sequence) {
                    failed.push((i, e));
                    continue;
                }
                sequence = increment_sequence(sequence, batch.record_count());
            }
            q.next_sequence = sequence;
            for (i, e) in failed.into_iter().rev() {
                if let Some(mut batch) = q.batches.remove(i) {
                    batch.fail(e);
                    self.deallocate(&batch);
                }
            }
        }
    }

    /// The producer id and epoch set by
    /// [`set_producer_id_and_epoch`](Self::set_producer_id_and_epoch).
    pub fn producer_id_and_epoch(&self) -> Option<(i64, i16)> {
        *self
            .producer_id_and_epoch
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The sequence `tp`'s next new batch will get.
    pub fn next_sequence(&self, tp: &TopicPartition) -> i32 {
        self.queue(tp).map_or(0, |q| lock(&q).next_sequence)
    }

    /// Batches waiting for `tp` (for tests and metrics).
    pub fn queued_batches(&self, tp: &TopicPartition) -> usize {
        self.queue(tp).map_or(0, |q| lock(&q).batches.len())
    }

    /// Whether a batch of `tp` with a sequence below `sequence` waits here (to be retried):
    /// then an OUT_OF_ORDER_SEQUENCE_NUMBER for `sequence` only means it overtook that one.
    pub fn has_batch_below_sequence(&self, tp: &TopicPartition, sequence: i32) -> bool {
        self.queue(tp).is_some_and(|q| {
            lock(&q)
                .batches
                .iter()
                .any(|b| b.has_sequence() && b.base_sequence() < sequence)
        })
    }
}

/// Appends to the partition's last batch if the record fits there.
fn try_append_last(
    q: &mut PartitionQueue,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[(&str, Option<&[u8]>)],
    callback: &mut Option<Callback>,
) -> Result<Option<AppendResult>> {
    let len = q.batches.len();
    let Some(last) = q.batches.back_mut() else {
        return Ok(None);
    };
    let before = last.estimated_size_in_bytes();
    let Some(future) = last.try_append(timestamp, key, value, headers, callback)? else {
        return Ok(None);
    };
    Ok(Some(AppendResult {
        future,
        batch_is_full: len > 1 || last.is_full(),
        new_batch_created: false,
        appended_bytes: last.estimated_size_in_bytes().saturating_sub(before),
    }))
}

fn result_key(result: &Arc<ProduceRequestResult>) -> usize {
    Arc::as_ptr(result) as usize
}

/// `now + d`, saturating at a far deadline instead of overflowing.
fn deadline_after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(MAX_READY_CHECK_DELAY * 365))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::record::RecordMetadata;
    use kafka_protocol::records::RecordBatch;
    use std::thread;

    const NODE: NodeId = 1;

    fn config() -> AccumulatorConfig {
        AccumulatorConfig {
            batch_size: 1024,
            linger: Duration::from_millis(100),
            buffer_memory: 64 * 1024,
            max_block: Duration::from_millis(500),
            delivery_timeout: Duration::from_secs(10),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1000),
            compression: Compression::None,
            compression_level: None,
            max_request_size: 1024 * 1024,
            idempotence: false,
        }
    }

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("topic", p)
    }

    fn leader_1(_: &TopicPartition) -> Option<NodeId> {
        Some(NODE)
    }

    /// Partitions 0..n, all led by the one node (leaked: a few per test).
    fn parts(n: i32) -> impl Fn(NodeId) -> &'static [TopicPartition] {
        let all: &'static [TopicPartition] = Vec::leak((0..n).map(tp).collect());
        move |_| all
    }

    fn nodes() -> HashSet<NodeId> {
        [NODE].into_iter().collect()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn append(acc: &RecordAccumulator, p: i32, value: &[u8], now: Instant) -> AppendResult {
        match acc.append(&tp(p), 1_000, None, Some(value), &[], None, now) {
            Ok(r) => r,
            Err(e) => panic!("append failed: {e}"),
        }
    }

    /// Appends records of `value_len` bytes to `p` until `batches` batches exist.
    fn fill(acc: &RecordAccumulator, p: i32, value_len: usize, batches: usize, now: Instant) {
        let value = vec![0u8; value_len];
        while acc.queued_batches(&tp(p)) < batches {
            append(acc, p, &value, now);
        }
    }

    fn drain_all(acc: &RecordAccumulator, now: Instant) -> Vec<ProducerBatch> {
        acc.drain(&nodes(), &parts(8), usize::MAX, now)
            .remove(&NODE)
            .unwrap_or_default()
    }

    #[test]
    fn one_batch_waits_for_linger() {
        let acc = RecordAccumulator::new(config());
        let t0 = Instant::now();
        let r = append(&acc, 0, b"v", t0);
        assert!(r.new_batch_created);
        assert!(!r.batch_is_full);
        let r2 = append(&acc, 0, b"v", t0);
        assert!(!r2.new_batch_created);
        assert!(r2.appended_bytes > 0 && r2.appended_bytes < 20);

        let ready = acc.ready(t0, &leader_1);
        assert!(ready.ready_nodes.is_empty());
        assert_eq!(ready.next_ready_check_delay, ms(100));
        assert_eq!(
            acc.ready(t0 + ms(60), &leader_1).next_ready_check_delay,
            ms(40)
        );
        let ready = acc.ready(t0 + ms(100), &leader_1);
        assert_eq!(ready.ready_nodes, nodes());
    }

    #[test]
    fn nothing_buffered_means_no_deadline() {
        let acc = RecordAccumulator::new(config());
        let ready = acc.ready(Instant::now(), &leader_1);
        assert!(ready.ready_nodes.is_empty());
        assert_eq!(ready.next_ready_check_delay, MAX_READY_CHECK_DELAY);
    }

    #[test]
    fn a_full_batch_is_ready_before_linger() {
        let acc = RecordAccumulator::new(config());
        let t0 = Instant::now();
        let value = [0u8; 100];
        let mut results = Vec::new();
        loop {
            let r = append(&acc, 0, &value, t0);
            let new = r.new_batch_created;
            results.push(r);
            if new && results.len() > 1 {
                break;
            }
        }
        assert!(results.last().is_some_and(|r| r.batch_is_full));
        assert!(!results[results.len() - 2].batch_is_full);
        assert_eq!(acc.ready(t0, &leader_1).ready_nodes, nodes());
        // A record larger than batch.size gets a batch of its own, sized for it.
        let big = append(&acc, 1, &[0u8; 2000], t0);
        assert!(big.new_batch_created);
        assert_eq!(
            acc.buffer_pool().available(),
            config().buffer_memory
                - 2 * 1024
                - estimate_size_upper_bound(None, Some(&[0u8; 2000]), &[])
        );
        assert!(!append(&acc, 1, b"next", t0).new_batch_created || acc.queued_batches(&tp(1)) == 2);
    }

    #[test]
    fn flush_makes_everything_ready_and_waits_for_completion() {
        let acc = Arc::new(RecordAccumulator::new(config()));
        let t0 = Instant::now();
        let f = append(&acc, 0, b"v", t0).future;
        assert!(acc.ready(t0, &leader_1).ready_nodes.is_empty());
        acc.begin_flush();
        assert!(acc.flush_in_progress());
        assert_eq!(acc.ready(t0, &leader_1).ready_nodes, nodes());
        assert!(!acc.await_flush_completion(Some(ms(10))), "not sent yet");
        assert!(!acc.flush_in_progress());

        acc.begin_flush();
        let sender = {
            let acc = acc.clone();
            thread::spawn(move || {
                thread::sleep(ms(20));
                for mut b in drain_all(&acc, t0) {
                    b.complete(7, None);
                    acc.deallocate(&b);
                }
            })
        };
        assert!(acc.await_flush_completion(Some(Duration::from_secs(2))));
        assert!(sender.join().is_ok());
        assert_eq!(f.try_get().and_then(|r| r.ok()).map(|m| m.offset), Some(7));
        assert!(!acc.has_incomplete());
        assert_eq!(acc.buffer_pool().available(), config().buffer_memory);
    }

    #[test]
    fn close_makes_everything_ready_and_stops_appends() {
        let acc = RecordAccumulator::new(config());
        let t0 = Instant::now();
        append(&acc, 0, b"v", t0);
        acc.close();
        assert!(acc.is_closed());
        assert_eq!(acc.ready(t0, &leader_1).ready_nodes, nodes());
        let called = Arc::new(Mutex::new(None));
        let c = called.clone();
        let cb: Callback = Box::new(move |r: &Result<RecordMetadata>| {
            *lock(&c) = Some(matches!(r, Err(Error::Closed)));
        });
        let r = acc.append(&tp(0), 1, None, None, &[], Some(cb), t0);
        assert!(matches!(r, Err(Error::Closed)));
        assert_eq!(
            *lock(&called),
            Some(true),
            "the callback hears about the error"
        );
        assert!(acc.has_undrained());
        assert_eq!(drain_all(&acc, t0).len(), 1);
        assert!(!acc.has_undrained());
    }

    #[test]
    fn memory_waiters_make_batches_ready_and_proceed_when_memory_returns() {
        let acc = Arc::new(RecordAccumulator::new(AccumulatorConfig {
            buffer_memory: 1024,
            linger: Duration::from_secs(3600),
            ..config()
        }));
        let t0 = Instant::now();
        append(&acc, 0, b"v", t0);
        assert_eq!(acc.buffer_pool().available(), 0);
        assert!(acc.ready(t0, &leader_1).ready_nodes.is_empty());

        let blocked = {
            let acc = acc.clone();
            thread::spawn(move || {
                acc.append(&tp(1), 1, None, Some(b"w"), &[], None, Instant::now())
                    .map(|r| r.future)
            })
        };
        let deadline = Instant::now() + Duration::from_secs(2);
        while acc.buffer_pool().queued_waiters() == 0 && Instant::now() < deadline {
            thread::sleep(ms(1));
        }
        assert_eq!(acc.buffer_pool().queued_waiters(), 1);
        assert_eq!(acc.ready(t0, &leader_1).ready_nodes, nodes());
        for mut b in drain_all(&acc, t0) {
            b.complete(0, None);
            acc.deallocate(&b);
        }
        let joined = blocked.join().ok();
        assert!(matches!(joined, Some(Ok(_))));
        assert_eq!(acc.queued_batches(&tp(1)), 1);
    }

    #[test]
    fn no_memory_in_time_fails_with_max_block_timeout() {
        let acc = RecordAccumulator::new(AccumulatorConfig {
            buffer_memory: 1024,
            max_block: ms(30),
            ..config()
        });
        append(&acc, 0, b"v", Instant::now());
        let r = acc.append(&tp(1), 1, None, Some(b"w"), &[], None, Instant::now());
        assert!(
            matches!(&r, Err(Error::Timeout(m)) if m.contains("max.block.ms")),
            "{r:?}"
        );
        assert_eq!(acc.queued_batches(&tp(1)), 0);
    }

    #[test]
    fn oversized_records_are_rejected() {
        let acc = RecordAccumulator::new(AccumulatorConfig {
            max_request_size: 500,
            ..config()
        });
        let r = acc.append(
            &tp(0),
            1,
            None,
            Some(&[0u8; 600]),
            &[],
            None,
            Instant::now(),
        );
        assert!(matches!(
            r,
            Err(Error::RecordTooLarge {
                what: "max.request.size",
                ..
            })
        ));
        let acc = RecordAccumulator::new(AccumulatorConfig {
            buffer_memory: 2048,
            ..config()
        });
        let r = acc.append(
            &tp(0),
            1,
            None,
            Some(&[0u8; 3000]),
            &[],
            None,
            Instant::now(),
        );
        assert!(matches!(
            r,
            Err(Error::RecordTooLarge {
                what: "buffer.memory",
                ..
            })
        ));
        assert_eq!(acc.buffer_pool().available(), 2048);
    }

    #[test]
    fn unknown_leaders_and_muted_partitions() {
        let acc = RecordAccumulator::new(AccumulatorConfig {
            linger: Duration::ZERO,
            ..config()
        });
        let t0 = Instant::now();
        append(&acc, 0, b"v", t0);
        append(&acc, 1, b"v", t0);
        let ready = acc.ready(t0, &|tp: &TopicPartition| {
            (tp.partition == 0).then_some(NODE)
        });
        assert_eq!(ready.ready_nodes, nodes());
        assert_eq!(
            ready.unknown_leader_topics,
            [Arc::<str>::from("topic")].into_iter().collect()
        );

        acc.mute(&tp(0));
        acc.mute(&tp(1));
        assert!(acc.is_muted(&tp(0)));
        assert!(acc.ready(t0, &leader_1).ready_nodes.is_empty());
        assert!(drain_all(&acc, t0).is_empty());
        acc.unmute(&tp(1));
        let drained = drain_all(&acc, t0);
        assert_eq!(drained.len(), 1);
        assert_eq!(drained[0].topic_partition(), &tp(1));
    }

    #[test]
    fn drain_takes_one_batch_per_partition_within_the_size_limit() {
        let acc = RecordAccumulator::new(config());
        let t0 = Instant::now();
        for p in 0..3 {
            fill(&acc, p, 200, 5, t0);
        }
        let all = acc.drain(&nodes(), &parts(3), usize::MAX, t0);
        let batches = all.get(&NODE).map_or(0, |b| b.len());
        assert_eq!(batches, 3, "one batch per partition");
        let size = acc
            .drain(&nodes(), &parts(3), usize::MAX, t0)
            .get(&NODE)
            .and_then(|b| b.first().map(|b| b.estimated_size_in_bytes()))
            .unwrap_or(0);
        assert!(size > 800 && size <= 1024, "{size}");

        // Room for one batch and a half: one batch.
        let limited = acc.drain(&nodes(), &parts(3), size + size / 2, t0);
        assert_eq!(limited.get(&NODE).map_or(0, |b| b.len()), 1);
        // Less than one batch: still one, or nothing would ever be sent.
        let tiny = acc.drain(&nodes(), &parts(3), 10, t0);
        assert_eq!(tiny.get(&NODE).map_or(0, |b| b.len()), 1);
        assert!(tiny
            .get(&NODE)
            .and_then(|b| b.first())
            .is_some_and(|b| b.records().is_some()));
    }

    #[test]
    fn drain_rotates_the_starting_partition() {
        let acc = RecordAccumulator::new(config());
        let t0 = Instant::now();
        for p in 0..3 {
            fill(&acc, p, 200, 4, t0);
        }
        let mut order = Vec::new();
        for _ in 0..6 {
            let drained = acc.drain(&nodes(), &parts(3), 10, t0);
            for b in drained.get(&NODE).into_iter().flatten() {
                order.push(b.topic_partition().partition);
            }
        }
        assert_eq!(order, vec![0, 1, 2, 0, 1, 2]);

        // With room for two, the partition left out goes first next time.
        let acc = RecordAccumulator::new(config());
        for p in 0..3 {
            fill(&acc, p, 200, 4, t0);
        }
        let mut order = Vec::new();
        for _ in 0..3 {
            let drained = acc.drain(&nodes(), &parts(3), 2100, t0);
            let got: Vec<_> = drained
                .get(&NODE)
                .into_iter()
                .flatten()
                .map(|b| b.topic_partition().partition)
                .collect();
            order.push(got);
        }
        assert_eq!(order, vec![vec![0, 1], vec![2, 0], vec![1, 2]]);
    }

    fn idempotent() -> AccumulatorConfig {
        AccumulatorConfig {
            idempotence: true,
            linger: Duration::ZERO,
            ..config()
        }
    }

    #[test]
    fn idempotent_drain_waits_for_a_producer_id_and_assigns_sequences() {
        let acc = RecordAccumulator::new(idempotent());
        let t0 = Instant::now();
        for _ in 0..5 {
            append(&acc, 0, b"v", t0);
        }
        assert_eq!(acc.ready(t0, &leader_1).ready_nodes, nodes());
        assert!(drain_all(&acc, t0).is_empty(), "no producer id yet");
        assert_eq!(acc.next_sequence(&tp(0)), 0);

        acc.set_producer_id_and_epoch(1000, 2);
        assert_eq!(acc.producer_id_and_epoch(), Some((1000, 2)));
        let first = drain_all(&acc, t0);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].base_sequence(), 0);
        assert_eq!(acc.next_sequence(&tp(0)), 5);

        for _ in 0..3 {
            append(&acc, 0, b"w", t0);
        }
        let second = drain_all(&acc, t0);
        assert_eq!(second[0].base_sequence(), 5);
        assert_eq!(second[0].last_sequence(), 7);
        assert_eq!(acc.next_sequence(&tp(0)), 8);

        let rb = second[0]
            .records()
            .cloned()
            .and_then(|b| RecordBatch::new(b).ok());
        let Some(rb) = rb else { panic!("no batch") };
        assert!(rb.validate().is_ok());
        assert_eq!((rb.producer_id(), rb.producer_epoch()), (1000, 2));
        assert_eq!((rb.base_sequence(), rb.records_count()), (5, 3));
    }

    #[test]
    fn reenqueued_batches_keep_their_bytes_and_go_back_in_sequence_order() {
        let acc = RecordAccumulator::new(idempotent());
        acc.set_producer_id_and_epoch(1, 0);
        let t0 = Instant::now();
        append(&acc, 0, b"a", t0);
        let first = drain_all(&acc, t0).pop();
        append(&acc, 0, b"b", t0);
        let second = drain_all(&acc, t0).pop();
        append(&acc, 0, b"c", t0); // not drained: no sequence yet
        let (Some(first), Some(second)) = (first, second) else {
            panic!("nothing drained")
        };
        let first_bytes = first.records().cloned();
        assert_eq!((first.base_sequence(), second.base_sequence()), (0, 1));

        // Put back in the "wrong" order: the deque still ends up 0, 1, then the new batch.
        let t1 = t0 + ms(10);
        acc.reenqueue(second, t1);
        acc.reenqueue(first, t1);
        assert_eq!(acc.queued_batches(&tp(0)), 3);

        // Backing off: not ready, and the delay is the jittered backoff.
        let ready = acc.ready(t1, &leader_1);
        assert!(ready.ready_nodes.is_empty());
        assert!(ready.next_ready_check_delay >= ms(80) && ready.next_ready_check_delay <= ms(120));
        assert!(drain_all(&acc, t1).is_empty());

        let t2 = t1 + ms(120);
        assert_eq!(acc.ready(t2, &leader_1).ready_nodes, nodes());
        let mut sequences = Vec::new();
        for _ in 0..3 {
            for b in drain_all(&acc, t2) {
                assert!(b.attempts() <= 1);
                if b.base_sequence() == 0 {
                    assert_eq!(
                        b.records().cloned(),
                        first_bytes,
                        "identical bytes on retry"
                    );
                }
                sequences.push(b.base_sequence());
            }
        }
        assert_eq!(sequences, vec![0, 1, 2]);
        assert_eq!(acc.next_sequence(&tp(0)), 3);
    }

    #[test]
    fn reenqueue_without_idempotence_goes_to_the_front() {
        let acc = RecordAccumulator::new(AccumulatorConfig {
            linger: Duration::ZERO,
            ..config()
        });
        let t0 = Instant::now();
        append(&acc, 0, b"a", t0);
        let Some(first) = drain_all(&acc, t0).pop() else {
            panic!("nothing drained")
        };
        assert!(!first.has_sequence());
        append(&acc, 0, b"b", t0);
        acc.reenqueue(first, t0);
        let later = t0 + Duration::from_secs(2);
        let again = drain_all(&acc, later);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].attempts(), 1);
        assert_eq!(again[0].record_count(), 1);
        assert_eq!(acc.queued_batches(&tp(0)), 1);
    }

    #[test]
    fn retry_backoff_grows_exponentially_with_jitter_up_to_the_max() {
        let acc = RecordAccumulator::new(config());
        for _ in 0..20 {
            let b0 = acc.retry_backoff(0);
            assert!(b0 >= ms(80) && b0 <= ms(120), "{b0:?}");
            let b2 = acc.retry_backoff(2);
            assert!(b2 >= ms(320) && b2 <= ms(480), "{b2:?}");
            assert!(acc.retry_backoff(10) <= ms(1000));
            assert!(acc.retry_backoff(10) >= ms(800));
        }
        let flat = RecordAccumulator::new(AccumulatorConfig {
            retry_backoff_max: ms(50),
            ..config()
        });
        assert_eq!(flat.retry_backoff(5), ms(100));
    }

    #[test]
    fn expired_batches_are_removed_oldest_first() {
        let acc = RecordAccumulator::new(config());
        let t0 = Instant::now();
        let f = append(&acc, 0, &[0u8; 900], t0).future;
        append(&acc, 0, &[0u8; 900], t0 + ms(500));
        append(&acc, 1, b"x", t0 + ms(500));
        assert!(acc.expired_batches(t0 + ms(9_999)).is_empty());
        let mut expired = acc.expired_batches(t0 + ms(10_000));
        assert_eq!(expired.len(), 1);
        assert_eq!(acc.queued_batches(&tp(0)), 1);
        for b in &mut expired {
            b.fail(Error::Timeout("expired: delivery.timeout.ms".into()));
            acc.deallocate(b);
        }
        assert!(matches!(f.wait(), Err(Error::Timeout(_))));
        assert_eq!(acc.expired_batches(t0 + ms(10_500)).len(), 2);
    }

    #[test]
    fn abort_fails_everything_and_frees_memory() {
        let acc = RecordAccumulator::new(config());
        let t0 = Instant::now();
        let futures: Vec<_> = (0..4).map(|p| append(&acc, p, b"v", t0).future).collect();
        assert!(acc.has_incomplete());
        assert_eq!(acc.abort_incomplete_batches(Error::Closed), 4);
        for f in futures {
            assert!(matches!(f.wait(), Err(Error::Closed)));
        }
        assert!(!acc.has_incomplete());
        assert!(!acc.has_undrained());
        assert_eq!(acc.buffer_pool().available(), config().buffer_memory);
        assert!(matches!(
            acc.append(&tp(0), 1, None, None, &[], None, t0),
            Err(Error::Closed)
        ));
    }

    #[test]
    fn deallocate_twice_frees_once() {
        let acc = RecordAccumulator::new(AccumulatorConfig {
            linger: Duration::ZERO,
            ..config()
        });
        let t0 = Instant::now();
        append(&acc, 0, b"v", t0);
        append(&acc, 1, b"v", t0);
        let batches = drain_all(&acc, t0);
        assert_eq!(acc.buffer_pool().available(), config().buffer_memory - 2048);
        acc.deallocate(&batches[0]);
        acc.deallocate(&batches[0]);
        assert_eq!(acc.buffer_pool().available(), config().buffer_memory - 1024);
    }

    #[test]
    fn a_new_epoch_resequences_waiting_retries() {
        let acc = RecordAccumulator::new(idempotent());
        acc.set_producer_id_and_epoch(9, 0);
        let t0 = Instant::now();
        for _ in 0..2 {
            append(&acc, 0, b"a", t0);
        }
        let Some(a) = drain_all(&acc, t0).pop() else {
            panic!("nothing drained")
        };
        append(&acc, 0, b"b", t0);
        let Some(b) = drain_all(&acc, t0).pop() else {
            panic!("nothing drained")
        };
        assert_eq!((a.base_sequence(), b.base_sequence()), (2 - 2, 2));
        append(&acc, 0, b"new", t0);
        acc.reenqueue(a, t0);
        acc.reenqueue(b, t0);
        acc.set_producer_id_and_epoch(9, 1);
        assert_eq!(acc.next_sequence(&tp(0)), 3);
        let later = t0 + Duration::from_secs(5);
        let mut seen = Vec::new();
        for _ in 0..3 {
            for batch in drain_all(&acc, later) {
                let rb = batch
                    .records()
                    .cloned()
                    .and_then(|x| RecordBatch::new(x).ok());
                let Some(rb) = rb else { panic!("no batch") };
                assert!(rb.validate().is_ok());
                seen.push((rb.producer_epoch(), rb.base_sequence(), rb.records_count()));
            }
        }
        assert_eq!(seen, vec![(1, 0, 2), (1, 2, 1), (1, 3, 1)]);
        assert_eq!(acc.next_sequence(&tp(0)), 4);
    }

    #[test]
    fn compressed_batches_decode() {
        let acc = RecordAccumulator::new(AccumulatorConfig {
            compression: Compression::Zstd,
            linger: Duration::ZERO,
            ..config()
        });
        let t0 = Instant::now();
        for i in 0..20 {
            let v = format!("record number {i} {}", "z".repeat(30));
            let headers: &[(&str, Option<&[u8]>)] = &[("trace", Some(b"abc"))];
            let r = acc.append(
                &tp(0),
                5_000 + i,
                Some(b"key"),
                Some(v.as_bytes()),
                headers,
                None,
                t0,
            );
            assert!(r.is_ok());
        }
        let batches = drain_all(&acc, t0);
        let rb = batches
            .first()
            .and_then(|b| b.records().cloned())
            .and_then(|x| RecordBatch::new(x).ok());
        let Some(rb) = rb else { panic!("no batch") };
        assert!(rb.validate().is_ok());
        assert!(matches!(rb.compression(), Ok(Compression::Zstd)));
        assert_eq!(rb.producer_id(), -1);
        assert_eq!(rb.base_sequence(), -1);
        let n = rb.records().map(|r| r.count()).unwrap_or(0);
        assert_eq!(n as i32, batches[0].record_count());
    }

    #[test]
    fn concurrent_appenders_and_a_sender_deliver_everything() {
        let acc = Arc::new(RecordAccumulator::new(AccumulatorConfig {
            buffer_memory: 8 * 1024,
            linger: Duration::ZERO,
            max_block: Duration::from_secs(5),
            ..config()
        }));
        let done = Arc::new(AtomicBool::new(false));
        let sender = {
            let (acc, done) = (acc.clone(), done.clone());
            thread::spawn(move || {
                let mut next_offset = [0i64; 4];
                loop {
                    let finished = done.load(Ordering::SeqCst);
                    let now = Instant::now();
                    let ready = acc.ready(now, &leader_1);
                    let drained = acc.drain(&ready.ready_nodes, &parts(4), 4096, now);
                    for batch in drained.into_values().flatten() {
                        let mut batch = batch;
                        let p = batch.topic_partition().partition as usize;
                        batch.complete(next_offset[p], None);
                        next_offset[p] += i64::from(batch.record_count());
                        acc.deallocate(&batch);
                    }
                    if finished && !acc.has_undrained() {
                        return next_offset;
                    }
                    thread::yield_now();
                }
            })
        };
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let acc = acc.clone();
                thread::spawn(move || {
                    let mut futures = Vec::new();
                    for i in 0..500 {
                        let v = format!("{p}-{i}");
                        let r = acc.append(
                            &tp(p),
                            1,
                            None,
                            Some(v.as_bytes()),
                            &[],
                            None,
                            Instant::now(),
                        );
                        futures.push(r.map(|r| r.future));
                    }
                    futures
                })
            })
            .collect();
        let mut all = Vec::new();
        for (p, h) in producers.into_iter().enumerate() {
            let futures = h.join().unwrap_or_default();
            assert_eq!(futures.len(), 500);
            all.push((p, futures));
        }
        done.store(true, Ordering::SeqCst);
        let offsets = sender.join().unwrap_or_default();
        assert_eq!(offsets, [500; 4]);
        for (_, futures) in all {
            let got: Vec<i64> = futures
                .into_iter()
                .map(|f| f.ok().and_then(|f| f.wait().ok()).map_or(-1, |m| m.offset))
                .collect();
            assert_eq!(got, (0..500).collect::<Vec<_>>());
        }
        assert_eq!(acc.buffer_pool().available(), 8 * 1024);
        assert!(!acc.has_incomplete());
    }
}

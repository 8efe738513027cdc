//! What the application hands to the producer and what it gets back.
//!
//! Completion is shared per batch, as in Kafka's Java client: every record of a batch points
//! at one [`ProduceRequestResult`] (a `Mutex` + `Condvar`) with its offset relative to the
//! batch, so sending a record costs no channel or allocation of its own for the result.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::{Error, Result, TopicPartition};

/// A record to send (Kafka's `ProducerRecord`).
///
/// Built in a chain: `ProducerRecord::new("topic").key("k").value("v")`. Without a partition
/// the producer's partitioner picks one; without a timestamp the producer uses the current
/// time (create time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord {
    /// The topic (shared: many records name the same topic).
    pub topic: Arc<str>,
    /// An explicit partition, overriding the partitioner.
    pub partition: Option<i32>,
    /// The key; keyed records are partitioned by the key's murmur2 hash.
    pub key: Option<Bytes>,
    /// The value; `None` is a tombstone on compacted topics.
    pub value: Option<Bytes>,
    /// Headers in order; a header may repeat and may have a null value.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// Milliseconds since the epoch; `None` means "now" at send time.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record for `topic` with no key, value, headers, partition or timestamp.
    pub fn new(topic: impl Into<Arc<str>>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// Sets the key.
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the value.
    pub fn value(mut self, value: impl Into<Bytes>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Appends a header with a value.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push((key.into(), Some(value.into())));
        self
    }

    /// Appends a header whose value may be null (Kafka allows null header values).
    pub fn header_opt(mut self, key: impl Into<String>, value: Option<Bytes>) -> Self {
        self.headers.push((key.into(), value));
        self
    }

    /// Sends to this partition instead of asking the partitioner.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the create timestamp (ms since the epoch).
    pub fn timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }
}

/// Where a record was stored (Kafka's `RecordMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The partition the record went to.
    pub topic_partition: TopicPartition,
    /// The record's offset; `-1` when unknown (`acks=0`).
    pub offset: i64,
    /// The log-append time if the topic uses it (the broker returned one), else the record's
    /// create time.
    pub timestamp: i64,
    /// The key's size in bytes, `-1` for a null key (as Java reports it).
    pub serialized_key_size: i32,
    /// The value's size in bytes, `-1` for a null value.
    pub serialized_value_size: i32,
}

/// Called once with a record's outcome, on the Sender's thread (Kafka's `Callback`): keep it
/// short, it delays every other completion. A panic in it is caught and logged.
pub type Callback = Box<dyn FnOnce(&Result<RecordMetadata>) + Send>;

/// How a batch ended.
#[derive(Debug, Clone)]
enum Outcome {
    Success {
        base_offset: i64,
        log_append_time: Option<i64>,
    },
    Failure(Error),
}

/// The completion shared by every record of one batch (Kafka's `ProduceRequestResult`).
///
/// Set once; later attempts to set it are ignored, so a batch can never be completed twice.
#[derive(Debug)]
pub struct ProduceRequestResult {
    topic_partition: TopicPartition,
    outcome: Mutex<Option<Outcome>>,
    done: Condvar,
}

impl ProduceRequestResult {
    /// An unfinished result for a batch of `topic_partition`.
    pub fn new(topic_partition: TopicPartition) -> Self {
        ProduceRequestResult {
            topic_partition,
            outcome: Mutex::new(None),
            done: Condvar::new(),
        }
    }

    /// The batch's partition.
    pub fn topic_partition(&self) -> &TopicPartition {
        &self.topic_partition
    }

    /// Whether the batch finished (successfully or not).
    pub fn is_done(&self) -> bool {
        self.outcome
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Sets the outcome and wakes every waiter; `false` (and nothing changes) if it was
    /// already set.
    fn set(&self, outcome: Outcome) -> bool {
        let mut slot = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() {
            return false;
        }
        *slot = Some(outcome);
        drop(slot);
        self.done.notify_all();
        true
    }

    /// Marks the batch written at `base_offset` (`-1` if unknown) with the broker's
    /// log-append time, if any.
    #[cfg(test)]
    pub(crate) fn set_success(&self, base_offset: i64, log_append_time: Option<i64>) -> bool {
        self.set(Outcome::Success {
            base_offset,
            log_append_time,
        })
    }

    /// Marks the batch failed.
    pub(crate) fn set_failure(&self, error: Error) -> bool {
        self.set(Outcome::Failure(error))
    }

    /// Waits until done or `timeout` passed (`None`: without limit); whether it is done.
    pub fn await_done(&self, timeout: Option<Duration>) -> bool {
        let guard = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
        match timeout {
            None => {
                let guard = self
                    .done
                    .wait_while(guard, |o| o.is_none())
                    .unwrap_or_else(|e| e.into_inner());
                guard.is_some()
            }
            Some(timeout) => {
                let (guard, _) = self
                    .done
                    .wait_timeout_while(guard, timeout, |o| o.is_none())
                    .unwrap_or_else(|e| e.into_inner());
                guard.is_some()
            }
        }
    }

    fn outcome(&self) -> Option<Outcome> {
        self.outcome
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The handle `send` returns for one record (Kafka's `FutureRecordMetadata`).
///
/// A small value pointing at its batch's shared [`ProduceRequestResult`]; cloning it is an
/// `Arc` clone. The result is available once the batch completed or failed.
#[derive(Clone)]
pub struct DeliveryFuture {
    result: Arc<ProduceRequestResult>,
    relative_offset: i32,
    create_timestamp: i64,
    serialized_key_size: i32,
    serialized_value_size: i32,
}

impl fmt::Debug for DeliveryFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryFuture")
            .field("topic_partition", &self.result.topic_partition)
            .field("relative_offset", &self.relative_offset)
            .field("done", &self.is_done())
            .finish()
    }
}

impl DeliveryFuture {
    /// The handle of the record at `relative_offset` in the batch behind `result`.
    pub(crate) fn new(
        result: Arc<ProduceRequestResult>,
        relative_offset: i32,
        create_timestamp: i64,
        serialized_key_size: i32,
        serialized_value_size: i32,
    ) -> Self {
        DeliveryFuture {
            result,
            relative_offset,
            create_timestamp,
            serialized_key_size,
            serialized_value_size,
        }
    }

    /// A handle that has already failed (Kafka's `FutureFailure`), for records rejected
    /// before they reached a batch.
    pub fn failed(topic_partition: TopicPartition, error: Error) -> Self {
        let result = Arc::new(ProduceRequestResult::new(topic_partition));
        result.set_failure(error);
        DeliveryFuture::new(result, 0, -1, -1, -1)
    }

    /// Blocks until the record's batch finished and returns where the record went.
    pub fn wait(self) -> Result<RecordMetadata> {
        self.result.await_done(None);
        self.try_get()
            .unwrap_or_else(|| Err(Error::Other("delivery result missing".into())))
    }

    /// Waits at most `timeout`; `None` if the record is still in flight.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Result<RecordMetadata>> {
        if self.result.await_done(Some(timeout)) {
            self.try_get()
        } else {
            None
        }
    }

    /// The result if the batch finished, without blocking.
    pub fn try_get(&self) -> Option<Result<RecordMetadata>> {
        self.result.outcome().map(|o| self.metadata(&o))
    }

    /// Whether the batch finished.
    pub fn is_done(&self) -> bool {
        self.result.is_done()
    }

    /// The partition the record was appended to.
    pub fn topic_partition(&self) -> &TopicPartition {
        &self.result.topic_partition
    }

    /// The record's outcome given its batch's.
    fn metadata(&self, outcome: &Outcome) -> Result<RecordMetadata> {
        match outcome {
            Outcome::Failure(e) => Err(e.clone()),
            Outcome::Success {
                base_offset,
                log_append_time,
            } => Ok(RecordMetadata {
                topic_partition: self.result.topic_partition.clone(),
                offset: if *base_offset < 0 {
                    -1
                } else {
                    base_offset.saturating_add(i64::from(self.relative_offset))
                },
                timestamp: match log_append_time {
                    Some(t) if *t >= 0 => *t,
                    _ => self.create_timestamp,
                },
                serialized_key_size: self.serialized_key_size,
                serialized_value_size: self.serialized_value_size,
            }),
        }
    }
}

/// A record's callback with the handle that computes its metadata (Kafka's `Thunk`).
pub(crate) struct Thunk {
    pub(crate) callback: Callback,
    pub(crate) future: DeliveryFuture,
}

impl fmt::Debug for Thunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thunk")
            .field("future", &self.future)
            .finish_non_exhaustive()
    }
}

/// Completes a batch: runs the callbacks in record order, then releases the waiters of the
/// futures, as Kafka does (`completeFutureAndFireCallbacks` before `done()`), so a waiter
/// that returns sees every earlier callback's effects. `false` if the result was already
/// set; then no callback runs.
pub(crate) fn complete_thunks(
    result: &ProduceRequestResult,
    thunks: Vec<Thunk>,
    base_offset: i64,
    log_append_time: Option<i64>,
    error: Option<Error>,
) -> bool {
    if result.is_done() {
        return false;
    }
    let outcome = match error {
        Some(e) => Outcome::Failure(e),
        None => Outcome::Success {
            base_offset,
            log_append_time,
        },
    };
    for thunk in thunks {
        let metadata = thunk.future.metadata(&outcome);
        let callback = thunk.callback;
        if catch_unwind(AssertUnwindSafe(move || callback(&metadata))).is_err() {
            tracing::error!(
                topic_partition = %result.topic_partition,
                "a producer callback panicked; the panic was caught"
            );
        }
    }
    result.set(outcome)
}

/// Time left until `deadline`, zero once passed.
pub(crate) fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    fn tp() -> TopicPartition {
        TopicPartition::new("t", 3)
    }

    #[test]
    fn builder_sets_every_field() {
        let r = ProducerRecord::new("t")
            .key("k")
            .value(Bytes::from_static(b"v"))
            .header("h1", "x")
            .header_opt("h2", None)
            .partition(2)
            .timestamp(42);
        assert_eq!(&*r.topic, "t");
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(r.value.as_deref(), Some(&b"v"[..]));
        assert_eq!(
            r.headers,
            vec![
                ("h1".to_string(), Some(Bytes::from_static(b"x"))),
                ("h2".to_string(), None)
            ]
        );
        assert_eq!(r.partition, Some(2));
        assert_eq!(r.timestamp, Some(42));
    }

    #[test]
    fn future_resolves_with_relative_offset_and_timestamps() {
        let result = Arc::new(ProduceRequestResult::new(tp()));
        let f0 = DeliveryFuture::new(result.clone(), 0, 1000, 1, 5);
        let f2 = DeliveryFuture::new(result.clone(), 2, 1002, -1, 7);
        assert!(!f0.is_done());
        assert!(f0.try_get().is_none());
        assert!(f0.wait_timeout(Duration::from_millis(5)).is_none());
        assert!(result.set_success(100, None));
        let m = f2.wait().ok();
        assert_eq!(
            m,
            Some(RecordMetadata {
                topic_partition: tp(),
                offset: 102,
                timestamp: 1002,
                serialized_key_size: -1,
                serialized_value_size: 7,
            })
        );
        assert_eq!(
            f0.try_get().and_then(|r| r.ok()).map(|m| m.offset),
            Some(100)
        );
        // A second outcome is ignored.
        assert!(!result.set_failure(Error::Closed));
        assert!(f0.try_get().is_some_and(|r| r.is_ok()));
    }

    #[test]
    fn log_append_time_wins_and_unknown_offset_stays_unknown() {
        let result = Arc::new(ProduceRequestResult::new(tp()));
        let f = DeliveryFuture::new(result.clone(), 4, 1000, 1, 1);
        result.set_success(-1, Some(5000));
        let m = f.try_get().and_then(|r| r.ok());
        assert_eq!(m.as_ref().map(|m| m.offset), Some(-1));
        assert_eq!(m.map(|m| m.timestamp), Some(5000));
    }

    #[test]
    fn failure_reaches_every_future() {
        let f = DeliveryFuture::failed(tp(), Error::Timeout("delivery.timeout.ms".into()));
        assert!(f.is_done());
        assert!(matches!(f.wait(), Err(Error::Timeout(_))));
    }

    #[test]
    fn wait_blocks_until_another_thread_completes() {
        let result = Arc::new(ProduceRequestResult::new(tp()));
        let f = DeliveryFuture::new(result.clone(), 1, 7, 0, 0);
        let waiter = thread::spawn(move || f.wait());
        thread::sleep(Duration::from_millis(20));
        result.set_success(10, None);
        let got = waiter.join().ok().and_then(|r| r.ok()).map(|m| m.offset);
        assert_eq!(got, Some(11));
    }

    #[test]
    fn callbacks_run_in_order_before_waiters_wake_and_panics_are_contained() {
        let result = Arc::new(ProduceRequestResult::new(tp()));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut thunks = Vec::new();
        for i in 0..3 {
            let order = order.clone();
            let probe = result.clone();
            thunks.push(Thunk {
                callback: Box::new(move |r: &Result<RecordMetadata>| {
                    // Waiters are not released before the callbacks ran.
                    order
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((r.as_ref().map(|m| m.offset).unwrap_or(-2), probe.is_done()));
                    if i == 1 {
                        panic!("user callback panic");
                    }
                }),
                future: DeliveryFuture::new(result.clone(), i, 0, 0, 0),
            });
        }
        assert!(complete_thunks(&result, thunks, 50, None, None));
        assert_eq!(
            *order.lock().unwrap_or_else(|e| e.into_inner()),
            vec![(50, false), (51, false), (52, false)]
        );
        assert!(result.is_done());
        assert!(!complete_thunks(&result, Vec::new(), 0, None, None));
    }
}

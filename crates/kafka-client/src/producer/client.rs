//! `Producer`: the handle callers use, Kafka's `KafkaProducer`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::{ProducerConfig, Properties};
use crate::error::{Error, Result};
use crate::metadata::{Cluster, PartitionInfo};
use crate::network_client::NetworkClient;
use crate::producer::accumulator::{AccumulatorConfig, RecordAccumulator};
use crate::producer::partitioner::Partitioner;
use crate::producer::record::{DeliveryFuture, ProducerRecord, RecordMetadata};
use crate::producer::sender::{Sender, SenderShared};
use crate::types::{deadline_after, TopicPartition};

/// Publishes records to Kafka. Thread-safe: share one producer between threads (as Java
/// recommends) rather than building one per thread.
///
/// `send` partitions the record, appends it to its partition's batch and returns at once
/// with a [`DeliveryFuture`]; a background thread (the `Sender`) sends the batches. See the
/// crate documentation for an example.
#[derive(Debug)]
pub struct Producer {
    config: ProducerConfig,
    accumulator: Arc<RecordAccumulator>,
    shared: Arc<SenderShared>,
    partitioner: Partitioner,
    waker: Arc<mio::Waker>,
    sender: Mutex<Option<JoinHandle<()>>>,
    closed: AtomicBool,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Producer {
    /// A producer configured from Kafka's producer keys (`bootstrap.servers` at least).
    pub fn new(props: &Properties) -> Result<Self> {
        Self::from_config(ProducerConfig::from_properties(props)?)
    }

    /// A producer from a checked configuration.
    pub fn from_config(config: ProducerConfig) -> Result<Self> {
        let mut client = NetworkClient::new(&config.common)?;
        client.metadata_mut().set_allow_auto_topic_creation(true);
        let accumulator = Arc::new(RecordAccumulator::new(AccumulatorConfig {
            batch_size: config.batch_size,
            linger: config.linger,
            buffer_memory: config.buffer_memory,
            max_block: config.max_block,
            delivery_timeout: config.delivery_timeout,
            retry_backoff: config.common.retry_backoff,
            retry_backoff_max: config.common.retry_backoff_max,
            compression: config.compression,
            compression_level: config.compression_level,
            max_request_size: config.max_request_size,
            idempotence: config.idempotence,
        }));
        let shared = Arc::new(SenderShared::new());
        let waker = client.waker();
        let sender = Sender::new(
            client,
            Arc::clone(&accumulator),
            Arc::clone(&shared),
            config.clone(),
        );
        let name = if config.common.client_id.is_empty() {
            "kafka-producer-network-thread".to_string()
        } else {
            format!(
                "kafka-producer-network-thread | {}",
                config.common.client_id
            )
        };
        let handle = std::thread::Builder::new()
            .name(name)
            .spawn(move || sender.run())
            .map_err(|e| Error::Other(format!("cannot start the sender thread: {e}")))?;
        Ok(Producer {
            partitioner: Partitioner::new(config.batch_size)
                .with_ignore_keys(config.partitioner_ignore_keys),
            config,
            accumulator,
            shared,
            waker,
            sender: Mutex::new(Some(handle)),
            closed: AtomicBool::new(false),
        })
    }

    /// The configuration in effect.
    pub fn config(&self) -> &ProducerConfig {
        &self.config
    }

    fn wake_sender(&self) {
        if let Err(e) = self.waker.wake() {
            tracing::warn!(error = %e, "cannot wake the sender");
        }
    }

    /// Waits (up to `deadline`) until metadata knows `topic`; checks an explicit partition.
    fn wait_on_metadata(
        &self,
        topic: &str,
        partition: Option<i32>,
        deadline: Instant,
    ) -> Result<(Arc<Cluster>, i32)> {
        let metadata = &self.shared.metadata;
        loop {
            let seen = metadata.version();
            let cluster = metadata.cluster();
            if let Some(count) = cluster.partition_count(topic) {
                if count > 0 {
                    if let Some(p) = partition {
                        if p < 0 || p >= count {
                            return Err(Error::Other(format!(
                                "invalid partition given with record: {p} is not in the range [0...{count})"
                            )));
                        }
                    }
                    return Ok((cluster, count));
                }
            }
            if let Some(code) = metadata.fatal_error(topic) {
                return Err(Error::kafka(code));
            }
            if let Some(e) = metadata.auth_error() {
                return Err(e);
            }
            if metadata.want(topic) || seen == 0 {
                self.wake_sender();
            }
            if !metadata.await_update(seen, deadline) {
                let last = match metadata.cluster().topics.get(topic) {
                    Some(t) if t.error.is_error() => format!("; last answer: {}", t.error),
                    Some(t) => format!("; last answer: {} partition(s)", t.partitions.len()),
                    None => String::new(),
                };
                return Err(Error::Timeout(format!(
                    "topic {topic} not present in metadata after {} ms (max.block.ms){last}",
                    self.config.max_block.as_millis()
                )));
            }
        }
    }

    /// Sends `record`: returns as soon as it is in its partition's batch. The future
    /// resolves to its partition and offset once the broker acknowledged it (as `acks` says),
    /// or to the error that ended its delivery.
    ///
    /// Blocks up to `max.block.ms` while the topic's metadata is unknown or `buffer.memory`
    /// is used up, then fails with [`Error::Timeout`].
    pub fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        self.send_inner(record, None)
    }

    /// As [`send`](Self::send), and calls `callback` on the sender thread when the record's
    /// delivery ends (in the order records of a partition were sent). The callback is not
    /// called when `send` itself returns an error.
    pub fn send_with_callback(
        &self,
        record: ProducerRecord,
        callback: impl FnOnce(&Result<RecordMetadata>) + Send + 'static,
    ) -> Result<DeliveryFuture> {
        self.send_inner(record, Some(Box::new(callback)))
    }

    fn send_inner(
        &self,
        record: ProducerRecord,
        callback: Option<crate::producer::record::Callback>,
    ) -> Result<DeliveryFuture> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let start = Instant::now();
        let deadline = start + self.config.max_block;
        let topic = record.topic.clone();
        let (cluster, count) = self.wait_on_metadata(&topic, record.partition, deadline)?;
        let key = record.key.as_deref();
        let partition = self.partitioner.partition(
            &topic,
            record.partition,
            key,
            count,
            cluster.available_partitions(&topic),
        )?;
        let tp = TopicPartition {
            topic: cluster
                .topic_arc(&topic)
                .unwrap_or_else(|| Arc::clone(&topic)),
            partition,
        };
        let timestamp = record.timestamp.unwrap_or_else(now_ms);
        let headers: Vec<(&str, Option<&[u8]>)> = record
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        let value = record.value.as_deref();
        let result = self.accumulator.append(
            &tp,
            timestamp,
            key,
            value,
            &headers,
            callback,
            Instant::now(),
        )?;
        if record.partition.is_none() {
            self.partitioner
                .on_append(&topic, partition, result.appended_bytes);
        }
        if result.batch_is_full || result.new_batch_created {
            self.wake_sender();
        }
        Ok(result.future)
    }

    /// The partitions of `topic` (waiting up to `max.block.ms` for its metadata).
    pub fn partitions_for(&self, topic: &str) -> Result<Vec<PartitionInfo>> {
        let (cluster, _) =
            self.wait_on_metadata(topic, None, Instant::now() + self.config.max_block)?;
        Ok(cluster
            .topics
            .get(topic)
            .map(|t| t.partitions.clone())
            .unwrap_or_default())
    }

    /// Sends every record already passed to `send` without waiting for `linger.ms`, and
    /// waits until each one's delivery ended (success or failure).
    pub fn flush(&self) {
        self.accumulator.begin_flush();
        self.wake_sender();
        self.accumulator.await_flush_completion(None);
    }

    /// As [`flush`](Self::flush) but gives up after `timeout`; returns whether everything
    /// completed.
    pub fn flush_timeout(&self, timeout: Duration) -> bool {
        self.accumulator.begin_flush();
        self.wake_sender();
        self.accumulator.await_flush_completion(Some(timeout))
    }

    /// Sends what was accepted, waits for it, and stops the sender thread.
    pub fn close(&self) {
        self.close_timeout(None);
    }

    /// Closes, waiting at most `timeout` for outstanding records; what is left then fails.
    pub fn close_timeout(&self, timeout: Option<Duration>) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.accumulator.close();
        self.shared.running.store(false, Ordering::Release);
        self.wake_sender();
        let handle = self.sender.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(handle) = handle else {
            return;
        };
        if let Some(timeout) = timeout {
            let deadline = deadline_after(Instant::now(), timeout);
            while !handle.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if !handle.is_finished() {
                self.shared.force_close.store(true, Ordering::Release);
                self.wake_sender();
            }
        }
        if handle.join().is_err() {
            tracing::error!("the sender thread panicked");
        }
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.close();
    }
}

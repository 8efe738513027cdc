//! The broker's durable log, as Kafka's `storage` module: [`LogManager`] (Kafka's
//! `LogManager`), [`Log`] (`UnifiedLog` + `LocalLog`), and inside them `LogSegment`,
//! `OffsetIndex` and `TimeIndex`.
//!
//! # Layout on disk
//!
//! Each log directory (`log.dirs`) holds a `.lock` file (held with `flock` while a
//! [`LogManager`] has the directory open), a `.kafka_cleanshutdown` marker after a clean
//! shutdown, and one directory per partition named `topic-partition`, as Kafka names them:
//!
//! | file | content |
//! |---|---|
//! | `%020d.log` | a segment: record batches exactly as producers sent them, with `baseOffset`, `partitionLeaderEpoch` (and, for LogAppendTime topics, the timestamp type, `maxTimestamp` and CRC) rewritten in place; named by its base offset |
//! | `%020d.index` | the segment's sparse offset index: 8-byte entries (relative offset, position), one per `index.interval.bytes` of batches, Kafka's format |
//! | `%020d.timeindex` | the time index: 12-byte entries (largest timestamp so far, relative offset), Kafka's format |
//! | `%020d.snapshot` | producer state as of that offset (our text format), written at each roll and at shutdown; the two newest are kept |
//! | `partition.metadata` | `version: 0` / `topic_id: <base64>`, Kafka's format |
//! | `topic.config` | the topic's config overrides as `key=value` lines (every partition of a topic has the same copy), so configs survive restarts |
//! | `offsets.checkpoint` | `log_start_offset` (persisted at once by DeleteRecords) and `recovery_point` (everything below it is fsynced; written every `checkpoint_interval_ms` and at shutdown) |
//! | `leader-epoch-checkpoint` | Kafka's format: `0`, the entry count, `epoch startOffset` lines |
//!
//! Every metadata file is written to `<name>.tmp`, fsynced and renamed. Index files are kept
//! in memory (two small `Vec`s per segment, bounded by `segment.index.bytes`: the segment
//! rolls when they fill up) and written when a segment is rolled and at shutdown; a sealed
//! segment's index is loaded on its first read. No file is memory-mapped.
//!
//! # Recovery
//!
//! At start-up, each partition: files ending in `.deleted`, `.cleaned`, `.swap` or `.tmp`
//! and indexes without a `.log` are removed; segments are opened in base-offset order.
//! Without the clean-shutdown marker, the segment holding the recovery point and every later
//! one are validated batch by batch (length, magic, CRC, offsets increasing) and the file is
//! truncated at the first torn or corrupt batch (logged with the number of bytes cut);
//! segments after a truncated one are deleted; their indexes are rebuilt from the batches
//! that remain. With the marker, or below the recovery point, indexes are sanity-checked
//! (whole entries, strictly increasing, inside the file) when loaded and rebuilt if they fail,
//! and the active segment's tail is scanned from its last index entry (any bad header there
//! sends it through full recovery). An index entry that does not point at its batch when
//! used also triggers a rebuild. Reads stop at each segment's committed size, so a batch
//! being written, or cut by a crash, is never served.
//!
//! # Errors
//!
//! [`Error::error_code`] maps each [`Error`] to the Kafka error code for a response:
//! `MessageTooLarge` → MESSAGE_TOO_LARGE (10), `RecordListTooLarge` → RECORD_LIST_TOO_LARGE
//! (18), `CorruptRecord` → CORRUPT_MESSAGE (2), `InvalidRecord` → INVALID_RECORD (87),
//! `InvalidTimestamp` → INVALID_TIMESTAMP (32), `OffsetOutOfRange` → OFFSET_OUT_OF_RANGE (1),
//! `OutOfOrderSequence` → OUT_OF_ORDER_SEQUENCE_NUMBER (45), `InvalidProducerEpoch` →
//! INVALID_PRODUCER_EPOCH (47), storage failures → KAFKA_STORAGE_ERROR (56). It is the one
//! mapping: the broker answers produce, fetch and ListOffsets with it.
//!
//! # Client appends and durability
//!
//! [`Log::append_as_leader`] validates a Produce partition's batches once (framing, CRC,
//! sizes, timestamps; then, under the append lock, each idempotent producer's epoch and
//! sequence against the log's producer state) and returns at once. With a flush policy
//! (`flush.messages`), the appends it reports as [`AppendInfo::flush_needed`] are made durable
//! by the manager's flusher thread (started by [`LogManager::spawn_background`]): one fsync
//! covers every append of a log since the last, and appends go on while it runs. Each round,
//! and each failed one, is told to the [`DurabilityListener`]s added with
//! [`LogManager::on_flushed`]; [`Log::flushed_offset`] is the same fact as data.
//!
//! # Time
//!
//! Time is passed in (`now_ms`) wherever it decides something (rolling, retention,
//! LogAppendTime, timestamp validation), so tests control it; only the background thread
//! reads the clock.

mod checkpoint;
mod config;
mod durability;
mod epoch;
mod error;
mod index;
mod log;
mod manager;
mod producer;
mod region;
mod segment;
#[allow(unsafe_code)]
mod sys;
mod topic_partition;

pub use config::{
    BackgroundConfig, LogConfig, TopicConfigKey, ACCEPTED_TOPIC_CONFIGS, TOPIC_CONFIGS,
};
pub use durability::{DurabilityListener, FlushListener};
pub use error::{Error, Result};
pub use log::{AppendInfo, FetchDataInfo, Log, ProducerBatchInfo};
pub use manager::{LogManager, CLEAN_SHUTDOWN_FILE, LOCK_FILE};
pub use producer::{BatchMetadata, ProducerEntry, NUM_BATCHES_TO_RETAIN};
pub use topic_partition::{is_valid_topic_name, TopicPartition};

//! The producer: records are appended to a [`RecordAccumulator`] by the caller's threads and
//! sent by a `Sender` thread.

mod accumulator;
mod batch;
mod buffer_pool;
mod client;
mod partitioner;
mod record;
mod sender;

pub use accumulator::{
    AccumulatorConfig, AppendResult, ReadyCheckResult, RecordAccumulator, MAX_READY_CHECK_DELAY,
};
pub use batch::{
    estimate_size_upper_bound, increment_sequence, ProducerBatch, MAX_RECORD_OVERHEAD,
};
pub use buffer_pool::BufferPool;
pub use client::Producer;
pub(crate) use partitioner::SplitMix;
pub use partitioner::{murmur2, partition_for_key, to_positive, Partitioner, StickyPartitioner};
pub use record::{Callback, DeliveryFuture, ProduceRequestResult, ProducerRecord, RecordMetadata};

//! Small value types shared by the producer, consumer and admin clients.

use std::fmt;
use std::sync::Arc;

/// A topic and a partition of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic's name (shared: many partitions, batches and offsets name the same topic).
    pub topic: Arc<str>,
    /// The partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// `topic`-`partition`.
    pub fn new(topic: impl Into<Arc<str>>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    /// Kafka's `topic-partition` form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// A node (broker) id. Bootstrap servers get negative ids (`-1`, `-2`, ...) until metadata
/// names the real nodes, as in Kafka's Java client.
pub type NodeId = i32;

/// `now + timeout`, or a point too far to matter when the sum does not fit (a caller may pass
/// `Duration::MAX` to mean "no limit").
pub(crate) fn deadline_after(
    now: std::time::Instant,
    timeout: std::time::Duration,
) -> std::time::Instant {
    now.checked_add(timeout)
        .or_else(|| now.checked_add(std::time::Duration::from_secs(10 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

//! Kafka's `TopicPartition` and the partition directory name.

use std::fmt;

/// A topic name and partition index. Displays, and names its directory, as Kafka does:
/// `topic-partition`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic.
    pub topic: String,
    /// The partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic partition.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    /// The directory name of the partition's log: `topic-partition`.
    pub fn dir_name(&self) -> String {
        self.to_string()
    }

    /// Parses a partition directory name (`topic-partition`; the topic may itself contain
    /// `-`). `None` for anything else, including Kafka's `-delete`, `-future` and `-stray`
    /// directories.
    pub fn parse_dir_name(name: &str) -> Option<TopicPartition> {
        if name.ends_with("-delete") || name.ends_with("-future") || name.ends_with("-stray") {
            return None;
        }
        let (topic, partition) = name.rsplit_once('-')?;
        if topic.is_empty()
            || partition.is_empty()
            || !partition.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let partition = partition.parse::<i32>().ok()?;
        if !is_valid_topic_name(topic) {
            return None;
        }
        Some(TopicPartition::new(topic, partition))
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Kafka's topic name rule (`Topic.validate`): 1 to 249 characters of ASCII letters, digits,
/// `.`, `_` and `-`, and neither `.` nor `..`.
pub fn is_valid_topic_name(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_names_round_trip() {
        let tp = TopicPartition::new("my-topic.v1", 12);
        assert_eq!(tp.dir_name(), "my-topic.v1-12");
        assert_eq!(TopicPartition::parse_dir_name("my-topic.v1-12"), Some(tp));
        assert_eq!(TopicPartition::parse_dir_name("t-0.0123abc-delete"), None);
        assert_eq!(TopicPartition::parse_dir_name("nodash"), None);
        assert_eq!(TopicPartition::parse_dir_name("-3"), None);
        assert_eq!(TopicPartition::parse_dir_name("t-x"), None);
        assert_eq!(
            TopicPartition::parse_dir_name("t--1"),
            Some(TopicPartition::new("t-", 1))
        );
    }
}

//! Partition assignors of the classic group protocol.
//!
//! In the classic protocol the group coordinator does not assign partitions: every member
//! lists the assignors it supports in JoinGroup (name plus an encoded [`Subscription`]), the
//! coordinator picks one all members support, and the elected leader runs it over everyone's
//! subscriptions and sends each member its [`Assignment`] through SyncGroup. The assignors
//! here are Kafka's (`range`, `roundrobin`, `cooperative-sticky`) with Kafka's names and
//! arithmetic, so a group may mix this client with Java and librdkafka members.

mod cooperative_sticky;
mod protocol;
mod range;
mod round_robin;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::Arc;

use bytes::Bytes;

use crate::{Error, Result, TopicPartition};

pub use cooperative_sticky::CooperativeStickyAssignor;
pub use protocol::{
    decode_assignment, decode_subscription, encode_assignment, encode_subscription, Assignment,
    Subscription, CONSUMER_PROTOCOL_TYPE, CONSUMER_PROTOCOL_VERSION,
};
pub use range::RangeAssignor;
pub use round_robin::RoundRobinAssignor;

/// How partitions change hands in a rebalance (Java's
/// `ConsumerPartitionAssignor.RebalanceProtocol`).
///
/// Ordered so that `Cooperative > Eager`: a consumer uses the highest protocol that all its
/// configured assignors support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RebalanceProtocol {
    /// Every member revokes all its partitions before rejoining.
    Eager,
    /// Members keep their partitions through the rebalance and revoke only those the new
    /// assignment takes away; a partition moving between members takes two rebalances.
    Cooperative,
}

/// An assignment strategy for the classic consumer group protocol (Java's
/// `ConsumerPartitionAssignor`).
pub trait PartitionAssignor: Send + Sync + Debug {
    /// The name that goes on the wire in JoinGroup; members agree on a strategy by name, so
    /// it must be Kafka's for a mixed group to work.
    fn name(&self) -> &'static str;

    /// The rebalance protocols this assignor is correct under, e.g. an assignor that may
    /// move an owned partition straight to another member supports only `Eager`.
    fn supported_protocols(&self) -> &'static [RebalanceProtocol];

    /// Data to put in this member's [`Subscription::user_data`] when joining.
    fn subscription_user_data(&self, topics: &[String]) -> Option<Bytes> {
        let _ = topics;
        None
    }

    /// Called with this member's assignment after each successful SyncGroup, so an assignor
    /// can remember what it needs for the next [`subscription_user_data`] (Java's
    /// `onAssignment`).
    ///
    /// [`subscription_user_data`]: PartitionAssignor::subscription_user_data
    fn on_assignment(&self, assignment: &Assignment, generation_id: i32) {
        let _ = (assignment, generation_id);
    }

    /// Computes every member's assignment; run by the group leader.
    ///
    /// `partitions_per_topic` has the partition count of each subscribed topic known to the
    /// metadata (topics missing from it are skipped, as in Java); `subscriptions` is keyed by
    /// member id. The result has an entry for every member, possibly empty.
    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> Result<BTreeMap<String, Assignment>>;
}

/// Looks up an assignor by a `partition.assignment.strategy` entry: Kafka's short names (as
/// librdkafka spells them) or the Java class names.
///
/// The eager `sticky` assignor is not provided (`None`).
pub fn assignor_by_name(name: &str) -> Option<Box<dyn PartitionAssignor>> {
    match name.trim() {
        "range" | "org.apache.kafka.clients.consumer.RangeAssignor" => {
            Some(Box::new(RangeAssignor))
        }
        "roundrobin" | "org.apache.kafka.clients.consumer.RoundRobinAssignor" => {
            Some(Box::new(RoundRobinAssignor))
        }
        "cooperative-sticky" | "org.apache.kafka.clients.consumer.CooperativeStickyAssignor" => {
            Some(Box::new(CooperativeStickyAssignor::default()))
        }
        _ => None,
    }
}

/// Parses a `partition.assignment.strategy` value (a comma-separated list, in order of
/// preference) into assignors.
///
/// Fails on an empty list, an unknown name, or two entries naming the same assignor, as
/// Java's consumer does at construction.
pub fn assignors_from_config(value: &str) -> Result<Vec<Box<dyn PartitionAssignor>>> {
    let mut assignors: Vec<Box<dyn PartitionAssignor>> = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let assignor = assignor_by_name(entry).ok_or_else(|| {
            Error::Config(format!(
                "partition.assignment.strategy: unknown assignor {entry:?}"
            ))
        })?;
        if assignors.iter().any(|a| a.name() == assignor.name()) {
            return Err(Error::Config(format!(
                "partition.assignment.strategy: assignor {:?} listed twice",
                assignor.name()
            )));
        }
        assignors.push(assignor);
    }
    if assignors.is_empty() {
        return Err(Error::Config(
            "partition.assignment.strategy: no assignor configured".into(),
        ));
    }
    Ok(assignors)
}

/// The rebalance protocol a consumer with these assignors follows: the highest one that all
/// of them support (so one eager-only assignor keeps the member eager).
pub fn rebalance_protocol(assignors: &[Box<dyn PartitionAssignor>]) -> Result<RebalanceProtocol> {
    let mut common: Option<BTreeSet<RebalanceProtocol>> = None;
    for assignor in assignors {
        let supported: BTreeSet<_> = assignor.supported_protocols().iter().copied().collect();
        common = Some(match common {
            None => supported,
            Some(c) => c.intersection(&supported).copied().collect(),
        });
    }
    common.and_then(|c| c.last().copied()).ok_or_else(|| {
        Error::Config(
            "partition.assignment.strategy: the assignors share no rebalance protocol".into(),
        )
    })
}

/// The `protocols` list of a consumer's JoinGroup request: one `(name, metadata)` per
/// assignor, in order of preference, each metadata an encoded [`Subscription`] carrying that
/// assignor's user data.
pub fn join_group_protocols(
    assignors: &[Box<dyn PartitionAssignor>],
    topics: &[String],
    owned_partitions: &[TopicPartition],
    generation_id: Option<i32>,
    rack_id: Option<&str>,
) -> Result<Vec<(&'static str, Bytes)>> {
    assignors
        .iter()
        .map(|assignor| {
            let subscription = Subscription {
                topics: topics.to_vec(),
                user_data: assignor.subscription_user_data(topics),
                owned_partitions: owned_partitions.to_vec(),
                generation_id,
                rack_id: rack_id.map(str::to_owned),
            };
            Ok((assignor.name(), encode_subscription(&subscription)?))
        })
        .collect()
}

/// The partitions `0..count` of `topic`, sharing one allocation of the name; a negative
/// count (hostile or broken metadata) gives none.
pub(crate) fn topic_partitions(topic: &str, count: i32) -> impl Iterator<Item = TopicPartition> {
    let topic: Arc<str> = topic.into();
    (0..count.max(0)).map(move |p| TopicPartition::new(topic.clone(), p))
}

/// An empty assignment for every member, so members that get nothing still get an answer.
pub(crate) fn empty_assignments(
    subscriptions: &BTreeMap<String, Subscription>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    subscriptions
        .keys()
        .map(|member| (member.clone(), Vec::new()))
        .collect()
}

/// Wraps partition lists as [`Assignment`]s without user data.
pub(crate) fn into_assignments(
    partitions: BTreeMap<String, Vec<TopicPartition>>,
) -> BTreeMap<String, Assignment> {
    partitions
        .into_iter()
        .map(|(member, partitions)| {
            (
                member,
                Assignment {
                    partitions,
                    user_data: None,
                },
            )
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::*;

    pub(crate) fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition::new(topic, partition)
    }

    pub(crate) fn subscribed(topics: &[&str]) -> Subscription {
        Subscription {
            topics: topics.iter().map(|t| t.to_string()).collect(),
            ..Subscription::default()
        }
    }

    pub(crate) fn counts(topics: &[(&str, i32)]) -> BTreeMap<String, i32> {
        topics.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    pub(crate) fn members(subs: &[(&str, Subscription)]) -> BTreeMap<String, Subscription> {
        subs.iter()
            .map(|(m, s)| (m.to_string(), s.clone()))
            .collect()
    }

    pub(crate) fn partitions_of(
        result: &BTreeMap<String, Assignment>,
        member: &str,
    ) -> Vec<TopicPartition> {
        result
            .get(member)
            .map(|a| a.partitions.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;

    #[test]
    fn names_resolve_to_kafkas_assignors() {
        for (name, expected) in [
            ("range", "range"),
            ("org.apache.kafka.clients.consumer.RangeAssignor", "range"),
            ("roundrobin", "roundrobin"),
            (
                "org.apache.kafka.clients.consumer.RoundRobinAssignor",
                "roundrobin",
            ),
            ("cooperative-sticky", "cooperative-sticky"),
            (
                " org.apache.kafka.clients.consumer.CooperativeStickyAssignor ",
                "cooperative-sticky",
            ),
        ] {
            assert_eq!(
                assignor_by_name(name).map(|a| a.name()),
                Some(expected),
                "{name}"
            );
        }
        assert!(assignor_by_name("sticky").is_none());
        assert!(assignor_by_name("Range").is_none());
    }

    #[test]
    fn config_list_parses_in_order_and_rejects_bad_entries() {
        let assignors = assignors_from_config("range, cooperative-sticky").unwrap();
        let names: Vec<_> = assignors.iter().map(|a| a.name()).collect();
        assert_eq!(names, ["range", "cooperative-sticky"]);
        assert!(matches!(assignors_from_config(""), Err(Error::Config(_))));
        assert!(matches!(
            assignors_from_config("range,nope"),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            assignors_from_config("range,org.apache.kafka.clients.consumer.RangeAssignor"),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn protocol_is_the_highest_common_one() {
        let coop = assignors_from_config("cooperative-sticky").unwrap();
        assert_eq!(
            rebalance_protocol(&coop).unwrap(),
            RebalanceProtocol::Cooperative
        );
        let mixed = assignors_from_config("cooperative-sticky,range").unwrap();
        assert_eq!(
            rebalance_protocol(&mixed).unwrap(),
            RebalanceProtocol::Eager
        );
        assert!(rebalance_protocol(&[]).is_err());
    }

    #[test]
    fn join_group_protocols_carry_each_assignors_user_data() {
        let assignors = assignors_from_config("cooperative-sticky,range").unwrap();
        assignors[0].on_assignment(&Assignment::default(), 5);
        let topics = vec!["t".to_string()];
        let owned = vec![tp("t", 0)];
        let protocols =
            join_group_protocols(&assignors, &topics, &owned, Some(5), Some("r1")).unwrap();
        assert_eq!(protocols.len(), 2);
        assert_eq!(protocols[0].0, "cooperative-sticky");
        assert_eq!(protocols[1].0, "range");
        let coop = decode_subscription(protocols[0].1.clone()).unwrap();
        assert_eq!(coop.user_data.as_deref(), Some(&5i32.to_be_bytes()[..]));
        assert_eq!(coop.owned_partitions, owned);
        assert_eq!(coop.generation_id, Some(5));
        assert_eq!(coop.rack_id.as_deref(), Some("r1"));
        let range = decode_subscription(protocols[1].1.clone()).unwrap();
        assert_eq!(range.user_data, None);
        assert_eq!(range.topics, topics);
    }

    #[test]
    fn negative_partition_counts_give_no_partitions() {
        assert_eq!(topic_partitions("t", -3).count(), 0);
        assert_eq!(
            topic_partitions("t", 2).collect::<Vec<_>>(),
            vec![tp("t", 0), tp("t", 1)]
        );
    }
}

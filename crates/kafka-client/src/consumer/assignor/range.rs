//! Kafka's `range` assignor.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    empty_assignments, into_assignments, topic_partitions, Assignment, PartitionAssignor,
    RebalanceProtocol, Subscription,
};
use crate::Result;

/// Assigns each topic on its own: its partitions are split into contiguous ranges over the
/// topic's subscribers sorted by member id, the first `partitions % members` of them getting
/// one extra (Java's `RangeAssignor`).
///
/// Because every topic starts again at the first member, members that share several topics
/// line up partition numbers across them (useful for co-partitioned joins), at the cost of
/// loading the first members more when there are many topics.
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeAssignor;

impl PartitionAssignor for RangeAssignor {
    fn name(&self) -> &'static str {
        "range"
    }

    fn supported_protocols(&self) -> &'static [RebalanceProtocol] {
        &[RebalanceProtocol::Eager]
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> Result<BTreeMap<String, Assignment>> {
        // Iterating the members in key order makes each topic's list already sorted by id.
        let mut consumers_per_topic: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (member, subscription) in subscriptions {
            let topics: BTreeSet<&str> = subscription.topics.iter().map(String::as_str).collect();
            for topic in topics {
                consumers_per_topic.entry(topic).or_default().push(member);
            }
        }

        let mut assignment = empty_assignments(subscriptions);
        for (topic, consumers) in consumers_per_topic {
            let Some(&count) = partitions_per_topic.get(topic) else {
                continue;
            };
            let partitions: Vec<_> = topic_partitions(topic, count).collect();
            let per_consumer = partitions.len() / consumers.len();
            let with_extra = partitions.len() % consumers.len();
            for (i, consumer) in consumers.iter().enumerate() {
                let start = per_consumer * i + i.min(with_extra);
                let len = per_consumer + usize::from(i < with_extra);
                if let (Some(range), Some(list)) = (
                    partitions.get(start..start + len),
                    assignment.get_mut(*consumer),
                ) {
                    list.extend_from_slice(range);
                }
            }
        }
        Ok(into_assignments(assignment))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn kafka_doc_example_two_consumers_two_topics() {
        // From RangeAssignor's Javadoc: C0 gets t0p0, t0p1, t1p0, t1p1; C1 gets t0p2, t1p2.
        let result = RangeAssignor
            .assign(
                &counts(&[("t0", 3), ("t1", 3)]),
                &members(&[
                    ("C0", subscribed(&["t0", "t1"])),
                    ("C1", subscribed(&["t0", "t1"])),
                ]),
            )
            .unwrap();
        assert_eq!(
            partitions_of(&result, "C0"),
            vec![tp("t0", 0), tp("t0", 1), tp("t1", 0), tp("t1", 1)]
        );
        assert_eq!(partitions_of(&result, "C1"), vec![tp("t0", 2), tp("t1", 2)]);
    }

    #[test]
    fn extra_partitions_go_to_the_first_members() {
        // 8 partitions over 3 members: 3, 3, 2.
        let result = RangeAssignor
            .assign(
                &counts(&[("t", 8)]),
                &members(&[
                    ("c", subscribed(&["t"])),
                    ("a", subscribed(&["t"])),
                    ("b", subscribed(&["t"])),
                ]),
            )
            .unwrap();
        let p = |ps: &[i32]| ps.iter().map(|&p| tp("t", p)).collect::<Vec<_>>();
        assert_eq!(partitions_of(&result, "a"), p(&[0, 1, 2]));
        assert_eq!(partitions_of(&result, "b"), p(&[3, 4, 5]));
        assert_eq!(partitions_of(&result, "c"), p(&[6, 7]));
    }

    #[test]
    fn more_members_than_partitions_and_unknown_topics() {
        let result = RangeAssignor
            .assign(
                &counts(&[("t", 1)]),
                &members(&[
                    ("a", subscribed(&["t", "missing"])),
                    ("b", subscribed(&["t"])),
                    ("c", subscribed(&["other"])),
                ]),
            )
            .unwrap();
        assert_eq!(result.len(), 3);
        assert_eq!(partitions_of(&result, "a"), vec![tp("t", 0)]);
        assert!(partitions_of(&result, "b").is_empty());
        assert!(partitions_of(&result, "c").is_empty());
    }

    #[test]
    fn topics_are_ranged_over_their_own_subscribers() {
        let result = RangeAssignor
            .assign(
                &counts(&[("t0", 2), ("t1", 2)]),
                &members(&[("a", subscribed(&["t0"])), ("b", subscribed(&["t0", "t1"]))]),
            )
            .unwrap();
        assert_eq!(partitions_of(&result, "a"), vec![tp("t0", 0)]);
        assert_eq!(
            partitions_of(&result, "b"),
            vec![tp("t0", 1), tp("t1", 0), tp("t1", 1)]
        );
    }

    #[test]
    fn duplicate_topics_in_a_subscription_count_once() {
        let result = RangeAssignor
            .assign(
                &counts(&[("t", 2)]),
                &members(&[("a", subscribed(&["t", "t"])), ("b", subscribed(&["t"]))]),
            )
            .unwrap();
        assert_eq!(partitions_of(&result, "a"), vec![tp("t", 0)]);
        assert_eq!(partitions_of(&result, "b"), vec![tp("t", 1)]);
    }
}

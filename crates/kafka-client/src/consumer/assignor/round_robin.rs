//! Kafka's `roundrobin` assignor.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    empty_assignments, into_assignments, topic_partitions, Assignment, PartitionAssignor,
    RebalanceProtocol, Subscription,
};
use crate::Result;

/// Deals all partitions of all subscribed topics, sorted by topic then partition, to the
/// members sorted by id, one at a time, skipping members not subscribed to the partition's
/// topic (Java's `RoundRobinAssignor`).
///
/// With identical subscriptions the counts differ by at most one; with different ones the
/// skipping can leave it less balanced.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobinAssignor;

impl PartitionAssignor for RoundRobinAssignor {
    fn name(&self) -> &'static str {
        "roundrobin"
    }

    fn supported_protocols(&self) -> &'static [RebalanceProtocol] {
        &[RebalanceProtocol::Eager]
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> Result<BTreeMap<String, Assignment>> {
        let members: Vec<(&str, BTreeSet<&str>)> = subscriptions
            .iter()
            .map(|(m, s)| (m.as_str(), s.topics.iter().map(String::as_str).collect()))
            .collect();
        let all_topics: BTreeSet<&str> = members
            .iter()
            .flat_map(|(_, t)| t.iter().copied())
            .collect();

        let mut assignment = empty_assignments(subscriptions);
        let mut next = 0usize;
        for topic in all_topics {
            let Some(&count) = partitions_per_topic.get(topic) else {
                continue;
            };
            for partition in topic_partitions(topic, count) {
                // Some member subscribes to `topic`, so this finds one within a full turn.
                for _ in 0..members.len() {
                    let Some((member, topics)) = members.get(next % members.len()) else {
                        break;
                    };
                    next = next.wrapping_add(1);
                    if topics.contains(topic) {
                        if let Some(list) = assignment.get_mut(*member) {
                            list.push(partition);
                        }
                        break;
                    }
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
    fn kafka_doc_example_identical_subscriptions() {
        // From RoundRobinAssignor's Javadoc: C0 gets t0p0, t0p2, t1p1; C1 gets t0p1, t1p0, t1p2.
        let result = RoundRobinAssignor
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
            vec![tp("t0", 0), tp("t0", 2), tp("t1", 1)]
        );
        assert_eq!(
            partitions_of(&result, "C1"),
            vec![tp("t0", 1), tp("t1", 0), tp("t1", 2)]
        );
    }

    #[test]
    fn kafka_doc_example_different_subscriptions() {
        // From RoundRobinAssignor's Javadoc: t0, t1, t2 with 1, 2, 3 partitions; C0 subscribes
        // t0, C1 t0 and t1, C2 all three. C0: t0p0; C1: t1p0; C2: t1p1, t2p0, t2p1, t2p2.
        let result = RoundRobinAssignor
            .assign(
                &counts(&[("t0", 1), ("t1", 2), ("t2", 3)]),
                &members(&[
                    ("C0", subscribed(&["t0"])),
                    ("C1", subscribed(&["t0", "t1"])),
                    ("C2", subscribed(&["t0", "t1", "t2"])),
                ]),
            )
            .unwrap();
        assert_eq!(partitions_of(&result, "C0"), vec![tp("t0", 0)]);
        assert_eq!(partitions_of(&result, "C1"), vec![tp("t1", 0)]);
        assert_eq!(
            partitions_of(&result, "C2"),
            vec![tp("t1", 1), tp("t2", 0), tp("t2", 1), tp("t2", 2)]
        );
    }

    #[test]
    fn unknown_topics_and_idle_members() {
        let result = RoundRobinAssignor
            .assign(
                &counts(&[("t", 1)]),
                &members(&[
                    ("a", subscribed(&["t", "gone"])),
                    ("b", subscribed(&["t"])),
                    ("c", subscribed(&[])),
                ]),
            )
            .unwrap();
        assert_eq!(result.len(), 3);
        assert_eq!(partitions_of(&result, "a"), vec![tp("t", 0)]);
        assert!(partitions_of(&result, "b").is_empty());
        assert!(partitions_of(&result, "c").is_empty());
    }

    #[test]
    fn no_members_no_assignment() {
        let result = RoundRobinAssignor
            .assign(&counts(&[("t", 4)]), &BTreeMap::new())
            .unwrap();
        assert!(result.is_empty());
    }
}

//! Kafka's `cooperative-sticky` assignor.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicI32, Ordering};

use bytes::Bytes;

use super::{
    empty_assignments, into_assignments, topic_partitions, Assignment, PartitionAssignor,
    RebalanceProtocol, Subscription,
};
use crate::{Result, TopicPartition};

/// The generation of a member that has never been in a group (Java's
/// `AbstractStickyAssignor.DEFAULT_GENERATION`).
const DEFAULT_GENERATION: i32 = -1;

/// A sticky, balanced assignor that follows the cooperative protocol (Java's
/// `CooperativeStickyAssignor`).
///
/// - Balanced: partitions are spread so that no partition could move to another of its
///   topic's subscribers holding at least two fewer partitions; with identical subscriptions
///   the member counts differ by at most one.
/// - Sticky: a member keeps the partitions it owns (its `owned_partitions`) unless balance
///   needs them elsewhere.
/// - Cooperative: a partition that another member still owns is left out of everyone's
///   assignment in this round. Its owner sees it missing, revokes it and rejoins, and the
///   follow-up rebalance hands it on, so no partition is ever consumed by two members at once.
/// - Generations: only claims made in the newest generation among the members count; a member
///   that missed a rebalance loses its claims. A partition claimed by two members of that
///   generation (which a correct group never produces) is kept by neither.
///
/// Java's rack-aware refinements are not applied: the assignor is not given partition racks.
#[derive(Debug)]
pub struct CooperativeStickyAssignor {
    /// The generation of this member's last assignment, sent in the user data for members
    /// that read it there (clients that write subscriptions older than version 2).
    generation: AtomicI32,
}

impl Default for CooperativeStickyAssignor {
    fn default() -> Self {
        CooperativeStickyAssignor {
            generation: AtomicI32::new(DEFAULT_GENERATION),
        }
    }
}

impl PartitionAssignor for CooperativeStickyAssignor {
    fn name(&self) -> &'static str {
        "cooperative-sticky"
    }

    fn supported_protocols(&self) -> &'static [RebalanceProtocol] {
        &[RebalanceProtocol::Cooperative, RebalanceProtocol::Eager]
    }

    fn subscription_user_data(&self, _topics: &[String]) -> Option<Bytes> {
        let generation = self.generation.load(Ordering::Relaxed);
        Some(Bytes::copy_from_slice(&generation.to_be_bytes()))
    }

    fn on_assignment(&self, _assignment: &Assignment, generation_id: i32) {
        self.generation.store(generation_id, Ordering::Relaxed);
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> Result<BTreeMap<String, Assignment>> {
        let plan = Plan::new(partitions_per_topic, subscriptions);
        let members: Vec<&String> = subscriptions.keys().collect();
        let mut result = empty_assignments(subscriptions);
        for (m, parts) in plan.solve().into_iter().enumerate() {
            if let Some(list) = members.get(m).and_then(|member| result.get_mut(*member)) {
                list.extend(parts);
                list.sort();
            }
        }
        Ok(into_assignments(result))
    }
}

/// The member's generation as Java reads it: the subscription's field (version 2+), else
/// the 4-byte user data that cooperative-sticky members of older clients send.
fn member_generation(subscription: &Subscription) -> Option<i32> {
    if let Some(generation) = subscription.generation_id {
        return Some(generation);
    }
    let user_data = subscription.user_data.as_ref()?;
    Some(
        user_data
            .get(..4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(DEFAULT_GENERATION, i32::from_be_bytes),
    )
}

/// The assignment problem in index form: members and partitions are numbered so the
/// balancing loop works on small integers.
struct Plan {
    /// Every assignable partition (its topic exists and has a subscriber), sorted.
    partitions: Vec<TopicPartition>,
    /// The index into `topic_subscribers` of each partition's topic.
    partition_topic: Vec<usize>,
    /// Per topic, the members subscribed to it, ascending.
    topic_subscribers: Vec<Vec<usize>>,
    /// Per member, the topics (indices) it subscribes to.
    member_topics: Vec<BTreeSet<usize>>,
    /// Per partition, the members of the newest generation that claim to own it.
    claimants: Vec<Vec<usize>>,
}

impl Plan {
    fn new(
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> Plan {
        let subs: Vec<&Subscription> = subscriptions.values().collect();

        let mut subscribers: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (m, sub) in subs.iter().enumerate() {
            let topics: BTreeSet<&str> = sub.topics.iter().map(String::as_str).collect();
            for topic in topics {
                if partitions_per_topic.contains_key(topic) {
                    subscribers.entry(topic).or_default().push(m);
                }
            }
        }

        let mut partitions = Vec::new();
        let mut partition_topic = Vec::new();
        let mut topic_subscribers = Vec::new();
        let mut member_topics = vec![BTreeSet::new(); subs.len()];
        for (t, (topic, members)) in subscribers.into_iter().enumerate() {
            let count = partitions_per_topic.get(topic).copied().unwrap_or(0);
            for tp in topic_partitions(topic, count) {
                partitions.push(tp);
                partition_topic.push(t);
            }
            for &m in &members {
                if let Some(topics) = member_topics.get_mut(m) {
                    topics.insert(t);
                }
            }
            topic_subscribers.push(members);
        }

        let index: HashMap<&TopicPartition, usize> = partitions
            .iter()
            .enumerate()
            .map(|(i, tp)| (tp, i))
            .collect();
        let generations: Vec<i32> = subs
            .iter()
            .map(|s| member_generation(s).unwrap_or(DEFAULT_GENERATION))
            .collect();
        let newest = generations
            .iter()
            .copied()
            .max()
            .unwrap_or(DEFAULT_GENERATION);
        let mut claimants = vec![Vec::new(); partitions.len()];
        for (m, sub) in subs.iter().enumerate() {
            if generations.get(m) != Some(&newest) {
                continue;
            }
            for tp in &sub.owned_partitions {
                if let Some(list) = index.get(tp).and_then(|&p| claimants.get_mut(p)) {
                    if !list.contains(&m) {
                        list.push(m);
                    }
                }
            }
        }

        Plan {
            partitions,
            partition_topic,
            topic_subscribers,
            member_topics,
            claimants,
        }
    }

    fn subscribers_of(&self, p: usize) -> &[usize] {
        self.partition_topic
            .get(p)
            .and_then(|&t| self.topic_subscribers.get(t))
            .map_or(&[], Vec::as_slice)
    }

    fn claimed_by(&self, p: usize, m: usize) -> bool {
        self.claimants.get(p).is_some_and(|c| c.contains(&m))
    }

    /// Whether a member other than `m` still owns `p`: then `p` cannot go to `m` this round.
    fn owned_elsewhere(&self, p: usize, m: usize) -> bool {
        self.claimants
            .get(p)
            .is_some_and(|c| c.iter().any(|&other| other != m))
    }

    /// Each member's partitions for this round.
    fn solve(&self) -> Vec<Vec<TopicPartition>> {
        let members = self.member_topics.len();
        let mut assigned: Vec<Vec<usize>> = vec![Vec::new(); members];

        // 1. Stickiness: an uncontested owner keeps what it still subscribes to.
        let mut unassigned = Vec::new();
        for p in 0..self.partitions.len() {
            let owner = match self.claimants.get(p).map(Vec::as_slice) {
                Some(&[m]) => Some(m),
                _ => None,
            };
            let keeps = owner.filter(|&m| {
                let topic = self.partition_topic.get(p);
                self.member_topics
                    .get(m)
                    .zip(topic)
                    .is_some_and(|(topics, t)| topics.contains(t))
            });
            match keeps.and_then(|m| assigned.get_mut(m)) {
                Some(list) => list.push(p),
                None => unassigned.push(p),
            }
        }

        // 2. The rest go to the least loaded subscriber, the most constrained partitions
        //    first so that they still find room.
        unassigned.sort_by_key(|&p| (self.subscribers_of(p).len(), p));
        for p in unassigned {
            let target = self
                .subscribers_of(p)
                .iter()
                .copied()
                .min_by_key(|&m| (assigned.get(m).map_or(0, Vec::len), m));
            if let Some(list) = target.and_then(|m| assigned.get_mut(m)) {
                list.push(p);
            }
        }

        // 3. Balance: move a partition from a member to another subscriber with at least two
        //    fewer. Each move lowers the sum of squared counts, so this ends.
        while let Some((from, position, to)) = self.find_move(&assigned) {
            let moved = assigned.get_mut(from).map(|list| list.remove(position));
            if let (Some(p), Some(list)) = (moved, assigned.get_mut(to)) {
                list.push(p);
            }
        }

        // 4. Cooperation: hold back what another member must revoke first.
        assigned
            .iter()
            .enumerate()
            .map(|(m, parts)| {
                parts
                    .iter()
                    .filter(|&&p| !self.owned_elsewhere(p, m))
                    .filter_map(|&p| self.partitions.get(p).cloned())
                    .collect()
            })
            .collect()
    }

    /// The next balancing move `(from member, position in its list, to member)`, taken from
    /// the most loaded member that has one, preferring partitions it did not own before (and
    /// among those the last given to it), so owned partitions stay put when possible.
    fn find_move(&self, assigned: &[Vec<usize>]) -> Option<(usize, usize, usize)> {
        let count = |m: usize| assigned.get(m).map_or(0, Vec::len);
        let mut order: Vec<usize> = (0..assigned.len()).collect();
        order.sort_by_key(|&m| (Reverse(count(m)), m));
        for from in order {
            let from_count = count(from);
            if from_count < 2 {
                break;
            }
            // The least loaded other subscriber depends only on the topic, so it is computed
            // once per topic.
            let mut target_of_topic: HashMap<usize, Option<usize>> = HashMap::new();
            let parts = assigned.get(from).map_or(&[][..], Vec::as_slice);
            for previously_owned in [false, true] {
                for (position, &p) in parts.iter().enumerate().rev() {
                    if self.claimed_by(p, from) != previously_owned {
                        continue;
                    }
                    let Some(&topic) = self.partition_topic.get(p) else {
                        continue;
                    };
                    let target = *target_of_topic.entry(topic).or_insert_with(|| {
                        self.subscribers_of(p)
                            .iter()
                            .copied()
                            .filter(|&m| m != from)
                            .min_by_key(|&m| (count(m), m))
                    });
                    if let Some(to) = target.filter(|&to| count(to) + 1 < from_count) {
                        return Some((from, position, to));
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn owning(topics: &[&str], owned: &[TopicPartition], generation: Option<i32>) -> Subscription {
        Subscription {
            owned_partitions: owned.to_vec(),
            generation_id: generation,
            ..subscribed(topics)
        }
    }

    fn run(
        counts: &BTreeMap<String, i32>,
        subs: &BTreeMap<String, Subscription>,
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        CooperativeStickyAssignor::default()
            .assign(counts, subs)
            .unwrap()
            .into_iter()
            .map(|(m, a)| (m, a.partitions))
            .collect()
    }

    fn t(ps: &[i32]) -> Vec<TopicPartition> {
        ps.iter().map(|&p| tp("t", p)).collect()
    }

    #[test]
    fn fresh_group_is_balanced() {
        let result = run(
            &counts(&[("t", 5)]),
            &members(&[("a", subscribed(&["t"])), ("b", subscribed(&["t"]))]),
        );
        assert_eq!(result["a"].len() + result["b"].len(), 5);
        assert!(result["a"].len().abs_diff(result["b"].len()) <= 1);
    }

    #[test]
    fn balanced_owners_keep_everything() {
        let subs = members(&[
            ("a", owning(&["t"], &t(&[0, 3, 4]), Some(3))),
            ("b", owning(&["t"], &t(&[1, 2]), Some(3))),
        ]);
        let result = run(&counts(&[("t", 5)]), &subs);
        assert_eq!(result["a"], t(&[0, 3, 4]));
        assert_eq!(result["b"], t(&[1, 2]));
    }

    #[test]
    fn new_member_gets_partitions_after_revocation() {
        // a owns all four; b joins. Round 1: a keeps two, the two that move to b are held
        // back. Round 2 (a revoked them): b gets them.
        let counts = counts(&[("t", 4)]);
        let round1 = run(
            &counts,
            &members(&[
                ("a", owning(&["t"], &t(&[0, 1, 2, 3]), Some(1))),
                ("b", owning(&["t"], &[], None)),
            ]),
        );
        assert_eq!(round1["a"].len(), 2);
        assert!(
            round1["b"].is_empty(),
            "moved partitions are held back: {round1:?}"
        );

        let round2 = run(
            &counts,
            &members(&[
                ("a", owning(&["t"], &round1["a"], Some(2))),
                ("b", owning(&["t"], &round1["b"], Some(2))),
            ]),
        );
        assert_eq!(round2["a"], round1["a"]);
        assert_eq!(round2["b"].len(), 2);
    }

    #[test]
    fn departed_members_partitions_move_at_once() {
        // b left the group: nobody else claims its partitions, so they are handed out now.
        let result = run(
            &counts(&[("t", 4)]),
            &members(&[
                ("a", owning(&["t"], &t(&[0, 1]), Some(5))),
                ("c", owning(&["t"], &[], Some(5))),
            ]),
        );
        assert_eq!(result["a"], t(&[0, 1]));
        assert_eq!(result["c"], t(&[2, 3]));
    }

    #[test]
    fn stale_generation_loses_its_claims() {
        // a claims t-0 from generation 4, b from generation 5: b wins, and a's other claim
        // (t-1) is void too.
        let result = run(
            &counts(&[("t", 2)]),
            &members(&[
                ("a", owning(&["t"], &t(&[0, 1]), Some(4))),
                ("b", owning(&["t"], &t(&[0]), Some(5))),
            ]),
        );
        assert_eq!(result["b"], t(&[0]));
        assert_eq!(result["a"], t(&[1]));
    }

    #[test]
    fn same_generation_double_claim_is_kept_by_nobody() {
        let result = run(
            &counts(&[("t", 2)]),
            &members(&[
                ("a", owning(&["t"], &t(&[0]), Some(5))),
                ("b", owning(&["t"], &t(&[0, 1]), Some(5))),
            ]),
        );
        assert!(
            !result.values().flatten().any(|p| *p == tp("t", 0)),
            "{result:?}"
        );
        assert_eq!(result["b"], t(&[1]));
    }

    #[test]
    fn generation_read_from_user_data_for_old_subscriptions() {
        let old = |owned: &[TopicPartition], generation: i32| Subscription {
            user_data: Some(Bytes::copy_from_slice(&generation.to_be_bytes())),
            ..owning(&["t"], owned, None)
        };
        let result = run(
            &counts(&[("t", 2)]),
            &members(&[("a", old(&t(&[0, 1]), 2)), ("b", old(&t(&[0]), 3))]),
        );
        assert_eq!(result["b"], t(&[0]));
        assert_eq!(result["a"], t(&[1]));
        assert_eq!(member_generation(&old(&[], 9)), Some(9));
        let short = Subscription {
            user_data: Some(Bytes::from_static(&[1])),
            ..Subscription::default()
        };
        assert_eq!(member_generation(&short), Some(DEFAULT_GENERATION));
        assert_eq!(member_generation(&Subscription::default()), None);
    }

    #[test]
    fn unsubscribed_owner_must_revoke_first() {
        // a owns t1-0 but no longer subscribes to t1; b does. a revokes it before b gets it.
        let counts = counts(&[("t0", 1), ("t1", 1)]);
        let result = run(
            &counts,
            &members(&[
                ("a", owning(&["t0"], &[tp("t0", 0), tp("t1", 0)], Some(1))),
                ("b", owning(&["t1"], &[], Some(1))),
            ]),
        );
        assert_eq!(result["a"], vec![tp("t0", 0)]);
        assert!(result["b"].is_empty());
    }

    #[test]
    fn user_data_carries_the_last_generation() {
        let assignor = CooperativeStickyAssignor::default();
        assert_eq!(
            assignor.subscription_user_data(&[]).as_deref(),
            Some(&(-1i32).to_be_bytes()[..])
        );
        assignor.on_assignment(&Assignment::default(), 12);
        assert_eq!(
            assignor.subscription_user_data(&[]).as_deref(),
            Some(&12i32.to_be_bytes()[..])
        );
    }

    #[test]
    fn unequal_subscriptions_balance_where_possible() {
        // a can only take t0; b and c take both. t0 has 3 partitions, t1 has 3.
        let result = run(
            &counts(&[("t0", 3), ("t1", 3)]),
            &members(&[
                ("a", subscribed(&["t0"])),
                ("b", subscribed(&["t0", "t1"])),
                ("c", subscribed(&["t0", "t1"])),
            ]),
        );
        let sizes: Vec<usize> = result.values().map(Vec::len).collect();
        assert_eq!(sizes, vec![2, 2, 2], "{result:?}");
    }

    // ---- properties ----

    #[derive(Debug, Clone)]
    struct Scenario {
        counts: BTreeMap<String, i32>,
        subs: BTreeMap<String, Subscription>,
    }

    /// Random groups: up to 4 topics, up to 6 members with random (or, when `equal`, shared)
    /// subscriptions, random and conflicting ownership claims, and mixed generations.
    fn scenario(equal: bool) -> impl Strategy<Value = Scenario> {
        (
            proptest::collection::vec(0i32..8, 1..5),
            proptest::collection::vec(
                (
                    any::<u8>(),
                    prop_oneof![Just(None), Just(Some(1)), Just(Some(2)), Just(Some(2))],
                ),
                1..7,
            ),
            proptest::collection::vec((any::<usize>(), any::<usize>(), 0i32..9), 0..40),
            any::<u8>(),
        )
            .prop_map(move |(topic_counts, member_specs, claims, shared_mask)| {
                let topics: Vec<String> =
                    (0..topic_counts.len()).map(|i| format!("t{i}")).collect();
                let counts: BTreeMap<String, i32> = topics
                    .iter()
                    .cloned()
                    .zip(topic_counts.iter().copied())
                    .collect();
                let mut subs: Vec<Subscription> = member_specs
                    .iter()
                    .map(|&(mask, generation)| {
                        let mask = if equal { shared_mask | 1 } else { mask };
                        let mut chosen: Vec<String> = topics
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| mask & (1 << i) != 0)
                            .map(|(_, t)| t.clone())
                            .collect();
                        // A subscription to a topic without metadata must be harmless.
                        if mask & 0x80 != 0 {
                            chosen.push("unknown".into());
                        }
                        Subscription {
                            topics: chosen,
                            generation_id: generation,
                            ..Subscription::default()
                        }
                    })
                    .collect();
                let members = subs.len();
                for (m, t, p) in claims {
                    let topic = format!("t{}", t % (topics.len() + 1));
                    if let Some(sub) = subs.get_mut(m % members) {
                        sub.owned_partitions.push(TopicPartition::new(topic, p));
                    }
                }
                Scenario {
                    counts,
                    subs: subs
                        .into_iter()
                        .enumerate()
                        .map(|(i, s)| (format!("m{i}"), s))
                        .collect(),
                }
            })
    }

    /// Members allowed to keep or hand over their claims: those of the newest generation.
    fn valid_claimants(s: &Scenario) -> BTreeMap<TopicPartition, BTreeSet<String>> {
        let newest = s
            .subs
            .values()
            .map(|x| x.generation_id.unwrap_or(-1))
            .max()
            .unwrap_or(-1);
        let mut out: BTreeMap<TopicPartition, BTreeSet<String>> = BTreeMap::new();
        for (m, sub) in &s.subs {
            if sub.generation_id.unwrap_or(-1) == newest {
                for p in &sub.owned_partitions {
                    out.entry(p.clone()).or_default().insert(m.clone());
                }
            }
        }
        out
    }

    fn assignable(s: &Scenario) -> BTreeSet<TopicPartition> {
        let subscribed: BTreeSet<&String> = s.subs.values().flat_map(|x| &x.topics).collect();
        s.counts
            .iter()
            .filter(|(t, _)| subscribed.contains(t))
            .flat_map(|(t, &n)| (0..n).map(move |p| TopicPartition::new(t.as_str(), p)))
            .collect()
    }

    /// Checks one round's invariants and returns the assignment.
    fn check_round(
        s: &Scenario,
    ) -> std::result::Result<BTreeMap<String, Vec<TopicPartition>>, TestCaseError> {
        let result = run(&s.counts, &s.subs);
        prop_assert_eq!(
            result.keys().collect::<Vec<_>>(),
            s.subs.keys().collect::<Vec<_>>()
        );
        let claimants = valid_claimants(s);
        let mut seen = BTreeSet::new();
        for (m, parts) in &result {
            for p in parts {
                let exists = s.counts.get(&*p.topic).is_some_and(|&n| p.partition < n);
                prop_assert!(exists, "{} does not exist", p);
                prop_assert!(
                    s.subs[m].topics.iter().any(|t| **t == *p.topic),
                    "{} not subscribed to {}",
                    m,
                    p
                );
                prop_assert!(seen.insert(p.clone()), "{} assigned twice", p);
                if let Some(owners) = claimants.get(p) {
                    prop_assert!(
                        owners.iter().all(|o| o == m),
                        "{} moved straight from {:?} to {}",
                        p,
                        owners,
                        m
                    );
                }
            }
        }
        Ok(result)
    }

    /// The next round's subscriptions: everyone rejoined in a new generation owning what it
    /// was given.
    fn next_round(
        s: &Scenario,
        result: &BTreeMap<String, Vec<TopicPartition>>,
        generation: i32,
    ) -> Scenario {
        let mut next = s.clone();
        for (m, sub) in next.subs.iter_mut() {
            sub.owned_partitions = result.get(m).cloned().unwrap_or_default();
            sub.generation_id = Some(generation);
        }
        next
    }

    /// No partition could go to another of its subscribers with two or more fewer.
    fn locally_balanced(s: &Scenario, result: &BTreeMap<String, Vec<TopicPartition>>) -> bool {
        result.iter().all(|(m, parts)| {
            parts.iter().all(|p| {
                s.subs.iter().all(|(other, sub)| {
                    other == m
                        || !sub.topics.iter().any(|t| **t == *p.topic)
                        || result[other].len() + 1 >= parts.len()
                })
            })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn identical_subscriptions_converge_balanced_in_two_rounds(s in scenario(true)) {
            let round1 = check_round(&s)?;
            let s2 = next_round(&s, &round1, 10);
            let round2 = check_round(&s2)?;
            // Everything assignable is assigned after the follow-up rebalance...
            let assigned: BTreeSet<_> = round2.values().flatten().cloned().collect();
            prop_assert_eq!(&assigned, &assignable(&s2));
            // ...balanced to within one...
            let sizes: Vec<usize> = round2.values().map(Vec::len).collect();
            let max = sizes.iter().max().copied().unwrap_or(0);
            let min = sizes.iter().min().copied().unwrap_or(0);
            prop_assert!(max - min <= 1, "{:?}", round2);
            // ...and nobody lost what it got in round 1.
            for (m, parts) in &round1 {
                prop_assert!(parts.iter().all(|p| round2[m].contains(p)), "{} lost partitions", m);
            }
            // A third round changes nothing.
            let round3 = check_round(&next_round(&s2, &round2, 11))?;
            prop_assert_eq!(round3, round2);
        }

        #[test]
        fn any_subscriptions_converge(s in scenario(false)) {
            let mut current = s;
            let mut result = check_round(&current)?;
            let mut rounds = 1;
            loop {
                let next = next_round(&current, &result, 10 + rounds);
                let again = check_round(&next)?;
                current = next;
                rounds += 1;
                if again == result {
                    break;
                }
                result = again;
                prop_assert!(rounds <= 6, "no convergence after {} rounds", rounds);
            }
            let assigned: BTreeSet<_> = result.values().flatten().cloned().collect();
            prop_assert_eq!(&assigned, &assignable(&current));
            prop_assert!(locally_balanced(&current, &result), "{:?}", result);
        }

        #[test]
        fn balanced_complete_ownership_is_kept(n in 1usize..6, partitions in 0i32..20) {
            // Deal the partitions round robin: balanced and complete, so nothing should move.
            let owned: Vec<Vec<TopicPartition>> = (0..n)
                .map(|m| (0..partitions).filter(|p| *p as usize % n == m).map(|p| tp("t", p)).collect())
                .collect();
            let subs: BTreeMap<String, Subscription> = owned
                .iter()
                .enumerate()
                .map(|(m, o)| (format!("m{m}"), owning(&["t"], o, Some(4))))
                .collect();
            let result = run(&counts(&[("t", partitions)]), &subs);
            for (m, sub) in &subs {
                prop_assert_eq!(&result[m], &sub.owned_partitions);
            }
        }
    }
}

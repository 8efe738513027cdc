//! Replica placement for new partitions: leaders and replicas spread evenly over the usable
//! brokers, rack-aware, from a random start.
//!
//! Kafka's `StripedReplicaPlacer` stripes over a rack list; this is the same idea in the form of
//! Kafka's rack-aware `AdminUtils.assignReplicasToBrokers`, whose evenness is easy to state and
//! test: brokers are interleaved rack by rack into one list, partition `p`'s leader is the
//! list's `(start + p)`-th broker (so leaders rotate evenly), and its followers are taken at a
//! shift that grows every full round (so followers rotate evenly too), skipping a broker whose
//! rack already holds a replica of the partition while some rack holds none.

use std::collections::BTreeMap;

/// A broker placement may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsableBroker {
    /// Its id.
    pub id: i32,
    /// Its rack, if any; brokers without one share one unnamed rack.
    pub rack: Option<String>,
}

/// Why placement failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlacementError {
    /// The replication factor is not positive.
    NonPositiveReplicationFactor(i16),
    /// Fewer usable brokers than the replication factor.
    TooFewBrokers {
        /// Wanted.
        replication_factor: i16,
        /// Usable.
        brokers: usize,
    },
}

/// A source of randomness for placement (the controller's generator).
pub trait PlacementRng {
    /// A value in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize;
}

/// Assigns `partitions` partitions of `replication_factor` replicas each over `brokers`.
pub fn place(
    brokers: &[UsableBroker],
    partitions: usize,
    replication_factor: i16,
    rng: &mut dyn PlacementRng,
) -> Result<Vec<Vec<i32>>, PlacementError> {
    if replication_factor <= 0 {
        return Err(PlacementError::NonPositiveReplicationFactor(
            replication_factor,
        ));
    }
    let rf = replication_factor as usize;
    if brokers.len() < rf {
        return Err(PlacementError::TooFewBrokers {
            replication_factor,
            brokers: brokers.len(),
        });
    }
    let list = rack_alternated(brokers, rng);
    let n = list.len();
    let rack_of: BTreeMap<i32, Option<&str>> =
        brokers.iter().map(|b| (b.id, b.rack.as_deref())).collect();
    let racks = {
        let mut r: Vec<Option<&str>> = rack_of.values().copied().collect();
        r.sort();
        r.dedup();
        r.len()
    };
    let start = rng.below(n);
    let mut shift = if n > 1 { rng.below(n - 1) } else { 0 };
    let mut out = Vec::with_capacity(partitions);
    for p in 0..partitions {
        if p > 0 && p % n == 0 {
            shift += 1;
        }
        let first = (start + p) % n;
        let leader = list[first];
        let mut replicas = Vec::with_capacity(rf);
        replicas.push(leader);
        let mut racks_used: Vec<Option<&str>> = vec![rack_of.get(&leader).copied().flatten()];
        let mut k = 0usize;
        // Walk the list from the leader at the current shift; a broker is taken when it is not
        // already a replica and (while some rack holds no replica) its rack is new. After one
        // full walk without such a broker the rack rule is dropped, so the loop ends.
        let mut rounds_without_progress = 0usize;
        while replicas.len() < rf {
            let idx = replica_index(first, shift, k, n);
            k += 1;
            let candidate = list[idx];
            let rack = rack_of.get(&candidate).copied().flatten();
            let all_racks_used = racks_used.len() >= racks;
            let new_rack = !racks_used.contains(&rack);
            if !replicas.contains(&candidate) && (all_racks_used || new_rack) {
                replicas.push(candidate);
                if new_rack {
                    racks_used.push(rack);
                }
                rounds_without_progress = 0;
            } else {
                rounds_without_progress += 1;
                if rounds_without_progress > n {
                    // Only reachable when rack constraints cannot be met: fill in list order.
                    racks_used.clear();
                    for b in list.iter().copied() {
                        if replicas.len() == rf {
                            break;
                        }
                        if !replicas.contains(&b) {
                            replicas.push(b);
                        }
                    }
                }
            }
        }
        out.push(replicas);
    }
    Ok(out)
}

/// AdminUtils' `replicaIndex`: the `k`-th follower of the partition whose leader is at
/// `first`, never the leader itself.
fn replica_index(first: usize, shift: usize, k: usize, n: usize) -> usize {
    if n <= 1 {
        return first;
    }
    let s = 1 + (shift + k) % (n - 1);
    (first + s) % n
}

/// The brokers interleaved rack by rack (racks and the brokers in each shuffled), so that
/// consecutive brokers sit on different racks.
fn rack_alternated(brokers: &[UsableBroker], rng: &mut dyn PlacementRng) -> Vec<i32> {
    let mut by_rack: BTreeMap<Option<&str>, Vec<i32>> = BTreeMap::new();
    for b in brokers {
        by_rack.entry(b.rack.as_deref()).or_default().push(b.id);
    }
    let mut racks: Vec<Vec<i32>> = by_rack
        .into_values()
        .map(|mut ids| {
            ids.sort_unstable();
            ids
        })
        .collect();
    for ids in racks.iter_mut() {
        shuffle(ids, rng);
    }
    shuffle(&mut racks, rng);
    let longest = racks.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = Vec::with_capacity(brokers.len());
    for i in 0..longest {
        for ids in &racks {
            if let Some(id) = ids.get(i) {
                out.push(*id);
            }
        }
    }
    out
}

fn shuffle<T>(items: &mut [T], rng: &mut dyn PlacementRng) {
    for i in (1..items.len()).rev() {
        let j = rng.below(i + 1);
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Seq(u64);
    impl PlacementRng for Seq {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 33) as usize) % n.max(1)
        }
    }

    fn brokers(racks: &[Option<&str>]) -> Vec<UsableBroker> {
        racks
            .iter()
            .enumerate()
            .map(|(i, r)| UsableBroker {
                id: i as i32 + 1,
                rack: r.map(str::to_string),
            })
            .collect()
    }

    fn counts(assignment: &[Vec<i32>]) -> (BTreeMap<i32, usize>, BTreeMap<i32, usize>) {
        let mut leaders = BTreeMap::new();
        let mut replicas = BTreeMap::new();
        for r in assignment {
            *leaders.entry(r[0]).or_default() += 1;
            for b in r {
                *replicas.entry(*b).or_default() += 1;
            }
        }
        (leaders, replicas)
    }

    #[test]
    fn twelve_partitions_rf3_over_three_brokers_spread_evenly() {
        for seed in 0..50 {
            let a = place(&brokers(&[None, None, None]), 12, 3, &mut Seq(seed)).unwrap();
            let (leaders, replicas) = counts(&a);
            assert_eq!(leaders.values().copied().collect::<Vec<_>>(), vec![4, 4, 4]);
            assert_eq!(
                replicas.values().copied().collect::<Vec<_>>(),
                vec![12, 12, 12]
            );
            for r in &a {
                let mut s = r.clone();
                s.sort_unstable();
                s.dedup();
                assert_eq!(s.len(), 3, "distinct replicas: {r:?}");
            }
        }
    }

    #[test]
    fn leaders_and_followers_even_with_rf_below_broker_count() {
        for seed in 0..50 {
            let a = place(&brokers(&[None; 4]), 8, 2, &mut Seq(seed)).unwrap();
            let (leaders, replicas) = counts(&a);
            assert!(leaders.values().all(|&c| c == 2), "{leaders:?}");
            assert!(replicas.values().all(|&c| c == 4), "{replicas:?}");
        }
    }

    #[test]
    fn every_partition_spans_three_racks() {
        let racks = [
            Some("a"),
            Some("a"),
            Some("b"),
            Some("b"),
            Some("c"),
            Some("c"),
        ];
        let bs = brokers(&racks);
        for seed in 0..50 {
            let a = place(&bs, 12, 3, &mut Seq(seed)).unwrap();
            for r in &a {
                let mut rs: Vec<_> = r.iter().map(|b| racks[(*b - 1) as usize]).collect();
                rs.sort();
                rs.dedup();
                assert_eq!(rs.len(), 3, "{r:?}");
            }
            let (leaders, _) = counts(&a);
            assert!(leaders.values().all(|&c| c == 2), "{leaders:?}");
        }
    }

    #[test]
    fn uneven_racks_still_fill_every_replica() {
        let bs = brokers(&[Some("a"), Some("a"), Some("a"), Some("b")]);
        for seed in 0..50 {
            for r in place(&bs, 10, 3, &mut Seq(seed)).unwrap() {
                let mut s = r.clone();
                s.sort_unstable();
                s.dedup();
                assert_eq!(s.len(), 3);
                assert!(r.contains(&4), "the lone rack b holds a replica: {r:?}");
            }
        }
    }

    #[test]
    fn too_few_brokers_and_bad_factors_are_refused() {
        let bs = brokers(&[None, None]);
        assert_eq!(
            place(&bs, 1, 3, &mut Seq(1)),
            Err(PlacementError::TooFewBrokers {
                replication_factor: 3,
                brokers: 2
            })
        );
        assert_eq!(
            place(&bs, 1, 0, &mut Seq(1)),
            Err(PlacementError::NonPositiveReplicationFactor(0))
        );
        assert_eq!(place(&bs[..1], 3, 1, &mut Seq(1)).unwrap().len(), 3);
    }
}

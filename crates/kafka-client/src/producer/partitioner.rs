//! Java-compatible partitioning of records.
//!
//! A keyed record must land on the partition a Java producer would pick for the same key and
//! partition count, or applications mixing clients (and consumers relying on key locality)
//! break. So keyed records use Kafka's `Utils.murmur2` bit for bit. Records without a key are
//! spread with Kafka's "sticky" strategy (`BuiltInPartitioner` without adaptive weighting):
//! stay on one partition until about a batch worth of bytes went there, so batches fill up
//! instead of every partition getting a tiny batch per linger period.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{Error, Result};

/// Kafka's `Utils.murmur2`: MurmurHash2, 32 bits, seed `0x9747b28c`.
///
/// Bytes are read little-endian and unsigned (Java masks every byte, tail included, with
/// `0xff`), and the result is Java's signed `int`.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;

    // Java uses the `int` length; wrapping matches it for any length a key can have.
    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    // Java's switch falls through from case 3 to case 1.
    if let Some(b) = tail.get(2) {
        h ^= u32::from(*b) << 16;
    }
    if let Some(b) = tail.get(1) {
        h ^= u32::from(*b) << 8;
    }
    if let Some(b) = tail.first() {
        h ^= u32::from(*b);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's `Utils.toPositive`: clears the sign bit (not `abs`, which overflows on
/// `i32::MIN` and would map keys differently from Java).
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition Kafka's default partitioner gives a keyed record:
/// `toPositive(murmur2(key)) % numPartitions`. `num_partitions` must be positive (0 is
/// treated as 1 so this never divides by zero).
pub fn partition_for_key(key: &[u8], num_partitions: i32) -> i32 {
    to_positive(murmur2(key)) % num_partitions.max(1)
}

/// A lock-free pseudo-random source (SplitMix64 over an atomic counter).
///
/// Partition choice and retry jitter only need spread, not secrecy; an atomic counter lets
/// every caller thread draw without a lock.
#[derive(Debug)]
pub(crate) struct SplitMix(AtomicU64);

impl SplitMix {
    const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

    /// Seeded from the OS (or the clock if that fails), so two producers started together do
    /// not pick the same sticky partitions.
    pub(crate) fn from_entropy() -> Self {
        let mut seed = [0u8; 8];
        if getrandom::getrandom(&mut seed).is_err() {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            seed = nanos.to_le_bytes();
        }
        SplitMix(AtomicU64::new(u64::from_le_bytes(seed)))
    }

    /// A fixed seed, for reproducible tests.
    #[cfg(test)]
    pub(crate) fn with_seed(seed: u64) -> Self {
        SplitMix(AtomicU64::new(seed))
    }

    pub(crate) fn next_u64(&self) -> u64 {
        let mut z = self
            .0
            .fetch_add(Self::GAMMA, Ordering::Relaxed)
            .wrapping_add(Self::GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `0..n` (`0` when `n` is 0).
    pub(crate) fn below(&self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit_f64(&self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Per-topic sticky state (Kafka's `StickyPartitionInfo`): the current partition, the bytes
/// produced to it since it was chosen, and the partition left at the last switch (so the next
/// choice can avoid it).
#[derive(Debug, Clone, Copy, Default)]
struct StickyPartitionInfo {
    partition: Option<i32>,
    previous: Option<i32>,
    produced_bytes: usize,
}

/// Kafka's `BuiltInPartitioner` for records without a key, without adaptive partitioning.
///
/// Each topic sticks to one partition until `batch_size` bytes were appended to it (reported
/// through [`on_append`](Self::on_append)), then switches to another partition chosen at
/// random, preferring partitions with a known leader. One per producer; the `Mutex` is held
/// only for a map lookup.
#[derive(Debug)]
pub struct StickyPartitioner {
    batch_size: usize,
    topics: Mutex<HashMap<Box<str>, StickyPartitionInfo>>,
    rng: SplitMix,
}

impl StickyPartitioner {
    /// A partitioner switching after `batch_size` bytes (the producer's `batch.size`).
    pub fn new(batch_size: usize) -> Self {
        Self::with_rng(batch_size, SplitMix::from_entropy())
    }

    fn with_rng(batch_size: usize, rng: SplitMix) -> Self {
        StickyPartitioner {
            batch_size: batch_size.max(1),
            topics: Mutex::new(HashMap::new()),
            rng,
        }
    }

    /// The partition for the next record without a key on `topic`.
    ///
    /// `available_partitions` lists the partitions with a known leader (Kafka's
    /// `availablePartitionsForTopic`); when it is empty any partition below
    /// `num_partitions` may be chosen. The current choice is kept even if its leader went
    /// away, as in Kafka: the switch happens only after a batch worth of bytes (or when the
    /// partition no longer exists).
    pub fn partition(&self, topic: &str, num_partitions: i32, available_partitions: &[i32]) -> i32 {
        let num_partitions = num_partitions.max(1);
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        let info = match topics.get_mut(topic) {
            Some(info) => info,
            // One allocation per topic, on its first unkeyed record.
            None => topics.entry(topic.into()).or_default(),
        };
        match info.partition {
            Some(p) if p < num_partitions => p,
            stale => {
                let avoid = stale.or(info.previous);
                let p = self.next_partition(avoid, num_partitions, available_partitions);
                info.partition = Some(p);
                info.produced_bytes = 0;
                p
            }
        }
    }

    /// Records that `bytes` were appended to `partition` of `topic`; once the topic's sticky
    /// partition received `batch_size` bytes the next [`partition`](Self::partition) call
    /// picks a new one (with the metadata current then). Appends to other partitions (keyed
    /// records, explicit partitions) do not count, as in Kafka.
    pub fn on_append(&self, topic: &str, partition: i32, bytes: usize) {
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(info) = topics.get_mut(topic) {
            if info.partition != Some(partition) {
                return;
            }
            info.produced_bytes = info.produced_bytes.saturating_add(bytes);
            if info.produced_bytes >= self.batch_size {
                info.previous = info.partition.take();
                info.produced_bytes = 0;
            }
        }
    }

    /// A random partition: among the valid `available` ones if there are any, else among
    /// all; not `avoid` when there is another choice (as Kafka's older
    /// `StickyPartitionCache`, so a switch really moves on).
    fn next_partition(&self, avoid: Option<i32>, num_partitions: i32, available: &[i32]) -> i32 {
        let valid = |p: &i32| *p >= 0 && *p < num_partitions;
        let count = available.iter().filter(|p| valid(p)).count();
        if count == 0 {
            let n = num_partitions as usize;
            let mut p = self.rng.below(n) as i32;
            if n > 1 && Some(p) == avoid {
                // Uniform over the other partitions.
                p = (p + 1 + self.rng.below(n - 1) as i32) % num_partitions;
            }
            return p;
        }
        let nth = |i: usize| available.iter().copied().filter(valid).nth(i).unwrap_or(0);
        let mut i = self.rng.below(count);
        if count > 1 && Some(nth(i)) == avoid {
            i = (i + 1 + self.rng.below(count - 1)) % count;
        }
        nth(i)
    }
}

/// The producer's partitioner: Kafka's default behaviour.
///
/// An explicit partition on the record wins; otherwise a keyed record goes to
/// [`partition_for_key`] (unless `partitioner.ignore.keys`), and a record without a key to the
/// topic's sticky partition.
#[derive(Debug)]
pub struct Partitioner {
    sticky: StickyPartitioner,
    ignore_keys: bool,
}

impl Partitioner {
    /// A partitioner for a producer with this `batch.size`.
    pub fn new(batch_size: usize) -> Self {
        Partitioner {
            sticky: StickyPartitioner::new(batch_size),
            ignore_keys: false,
        }
    }

    /// Kafka's `partitioner.ignore.keys`: spread keyed records like unkeyed ones.
    pub fn with_ignore_keys(mut self, ignore_keys: bool) -> Self {
        self.ignore_keys = ignore_keys;
        self
    }

    /// The partition for a record of `topic` with `num_partitions` partitions, of which
    /// `available_partitions` have a leader.
    ///
    /// An explicit partition outside `0..num_partitions` is an error, as in Kafka's
    /// `KafkaProducer` ("Invalid partition given with record").
    pub fn partition(
        &self,
        topic: &str,
        explicit: Option<i32>,
        key: Option<&[u8]>,
        num_partitions: i32,
        available_partitions: &[i32],
    ) -> Result<i32> {
        if num_partitions <= 0 {
            return Err(Error::Other(format!(
                "topic {topic} has no partitions in the metadata"
            )));
        }
        if let Some(p) = explicit {
            if p < 0 || p >= num_partitions {
                return Err(Error::Other(format!(
                    "invalid partition given with record: {p} is not in the range [0...{num_partitions})"
                )));
            }
            return Ok(p);
        }
        match key {
            Some(key) if !self.ignore_keys => Ok(partition_for_key(key, num_partitions)),
            _ => Ok(self
                .sticky
                .partition(topic, num_partitions, available_partitions)),
        }
    }

    /// Reports an append of `bytes` to `partition` (the accumulator's
    /// `AppendResult::appended_bytes`) so the sticky partition switches after a batch. Call
    /// it for records the sticky partitioner placed (no explicit partition, no key or keys
    /// ignored), as Kafka counts only those; other appends are ignored unless they happen to
    /// land on the sticky partition.
    pub fn on_append(&self, topic: &str, partition: i32, bytes: usize) {
        self.sticky.on_append(topic, partition, bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's `UtilsTest.testMurmur2`.
    #[test]
    fn murmur2_matches_kafka_utils_test() {
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107), // Java: new byte[] {'a', 'b', 'c'}
        ];
        for (data, expected) in cases {
            assert_eq!(
                murmur2(data),
                *expected,
                "{:?}",
                String::from_utf8_lossy(data)
            );
        }
    }

    /// The reference vectors of the Java MurmurHash2 port Kafka's code derives from (seed
    /// 0x9747b28c, from the original C implementation): bytes above 0x7f in every tail length.
    #[test]
    fn murmur2_treats_bytes_as_unsigned_in_body_and_tail() {
        let cases: &[(&[u8], u32)] = &[
            (
                &[
                    0xed, 0x53, 0xc4, 0xa5, 0x3b, 0x1b, 0xbd, 0xc2, 0x52, 0x7d, 0xc3, 0xef, 0x53,
                    0x5f, 0xae, 0x3b,
                ],
                0x9681_4fb3,
            ),
            (
                &[
                    0x21, 0x65, 0x59, 0x4e, 0xd8, 0x12, 0xf9, 0x05, 0x80, 0xe9, 0x1e, 0xed, 0xe4,
                    0x56, 0xbb,
                ],
                0x485d_caba,
            ),
            (
                &[
                    0x2b, 0x02, 0xb1, 0xd0, 0x3d, 0xce, 0x31, 0x3d, 0x97, 0xc4, 0x91, 0x0d, 0xf7,
                    0x17,
                ],
                0x331d_c4ae,
            ),
            (
                &[
                    0x8e, 0xa7, 0x9a, 0x02, 0xe8, 0xb9, 0x6a, 0xda, 0x92, 0xad, 0xe9, 0x2d, 0x21,
                ],
                0xc6a7_bf2f,
            ),
            (&[0xeb, 0x25, 0x3f, 0x87], 0x9c48_ee29),
            (&[0x37, 0xa0, 0xa9], 0x0b61_5790),
            (&[0x5b, 0x5d], 0xb430_8ac1),
            (&[0x7e], 0xec98_125a),
            (&[], 0x106e_08d9),
        ];
        for (data, expected) in cases {
            assert_eq!(murmur2(data) as u32, *expected, "{data:02x?}");
        }
    }

    #[test]
    fn to_positive_clears_only_the_sign_bit() {
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(-1), i32::MAX);
        assert_eq!(to_positive(5), 5);
        assert_eq!(to_positive(-973_932_308), 1_173_551_340);
    }

    /// Partitions a Java producer picks: `toPositive(murmur2(key)) % n` with the published
    /// hashes (librdkafka's `murmur2` partitioner test uses the same for "" and "hejsan").
    #[test]
    fn keyed_partitions_match_java() {
        assert_eq!(partition_for_key(b"21", 100), 1_173_551_340 % 100);
        assert_eq!(partition_for_key(b"foobar", 7), 1_357_151_166 % 7);
        assert_eq!(partition_for_key(b"abc", 3), 479_470_107 % 3);
        assert_eq!(partition_for_key(b"", 100), 0x106e_08d9 % 100);
        assert_eq!(partition_for_key(b"hejsan", 100), 0x5ec1_9395 % 100);
        assert_eq!(
            partition_for_key(
                b"this is another string with more length to it perhaps",
                100
            ),
            0x4f77_03da % 100
        );
        assert_eq!(partition_for_key(b"anything", 1), 0);
        assert_eq!(partition_for_key(b"anything", 0), 0);
    }

    #[test]
    fn sticky_keeps_a_partition_until_batch_size_bytes_then_switches() {
        let p = StickyPartitioner::with_rng(100, SplitMix::with_seed(7));
        let first = p.partition("t", 10, &[]);
        for _ in 0..9 {
            assert_eq!(p.partition("t", 10, &[]), first);
            p.on_append("t", first, 10);
        }
        assert_eq!(p.partition("t", 10, &[]), first);
        p.on_append("t", first, 10); // 100 bytes: switch
        let second = p.partition("t", 10, &[]);
        assert_ne!(second, first, "a switch avoids the partition just left");
        assert_eq!(p.partition("t", 10, &[]), second);
    }

    #[test]
    fn sticky_ignores_appends_to_other_partitions_and_topics() {
        let p = StickyPartitioner::with_rng(10, SplitMix::with_seed(1));
        let first = p.partition("t", 4, &[]);
        p.on_append("t", (first + 1) % 4, 1000);
        p.on_append("other", first, 1000);
        assert_eq!(p.partition("t", 4, &[]), first);
    }

    #[test]
    fn sticky_prefers_available_partitions() {
        let p = StickyPartitioner::with_rng(1, SplitMix::with_seed(3));
        for _ in 0..50 {
            let part = p.partition("t", 10, &[2, 5]);
            assert!(part == 2 || part == 5, "{part}");
            p.on_append("t", part, 1);
        }
        // The only available partition is picked even if it was the one left.
        for _ in 0..5 {
            let part = p.partition("t", 10, &[5]);
            assert_eq!(part, 5);
            p.on_append("t", part, 1);
        }
    }

    #[test]
    fn sticky_spreads_over_all_partitions() {
        let p = StickyPartitioner::with_rng(1, SplitMix::with_seed(11));
        let mut seen = [0u32; 4];
        for _ in 0..400 {
            let part = p.partition("t", 4, &[]);
            seen[part as usize] += 1;
            p.on_append("t", part, 1);
        }
        assert!(seen.iter().all(|n| *n > 50), "{seen:?}");
    }

    #[test]
    fn sticky_rechooses_when_partition_count_shrinks() {
        let p = StickyPartitioner::with_rng(1000, SplitMix::with_seed(5));
        let mut first = p.partition("t", 100, &[]);
        while first < 2 {
            p.on_append("t", first, 1000);
            first = p.partition("t", 100, &[]);
        }
        let part = p.partition("t", 2, &[]);
        assert!(part < 2);
        assert_eq!(p.partition("t", 2, &[]), part);
    }

    #[test]
    fn partitioner_explicit_then_key_then_sticky() {
        let p = Partitioner::new(16384);
        assert_eq!(
            p.partition("t", Some(3), Some(b"21"), 10, &[]).ok(),
            Some(3)
        );
        assert!(p.partition("t", Some(10), None, 10, &[]).is_err());
        assert!(p.partition("t", Some(-1), None, 10, &[]).is_err());
        assert!(p.partition("t", None, None, 0, &[]).is_err());
        assert_eq!(
            p.partition("t", None, Some(b"21"), 100, &[]).ok(),
            Some(1_173_551_340 % 100)
        );
        let sticky = p.partition("t", None, None, 10, &[]).ok();
        assert_eq!(p.partition("t", None, None, 10, &[]).ok(), sticky);

        let ignoring = Partitioner::new(16384).with_ignore_keys(true);
        let a = ignoring.partition("t", None, Some(b"x"), 10, &[]).ok();
        let b = ignoring.partition("t", None, Some(b"y"), 10, &[]).ok();
        assert_eq!(a, b, "keys ignored: both go to the sticky partition");
    }
}

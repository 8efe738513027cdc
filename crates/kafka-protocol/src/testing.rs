//! Deterministic random values for tests, fuzzing and benches (feature `testing`).
//!
//! Every generated message implements [`Random`]: `T::random(&mut rng, version)` gives a value
//! that is valid at `version` (fields outside the version hold their defaults, null only where
//! the version allows it), so `encode` then `decode` must give it back unchanged.

use bytes::Bytes;

use crate::primitives::{UnknownTaggedFields, Uuid};

/// A small, seedable generator (SplitMix64): the same seed gives the same values everywhere.
#[derive(Debug, Clone)]
pub struct TestRng(u64);

impl TestRng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        TestRng(seed)
    }

    /// The next 64 random bits.
    pub fn gen_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn gen_below(&mut self, n: u64) -> u64 {
        self.gen_u64() % n.max(1)
    }

    /// True with probability `num/den`.
    pub fn gen_ratio(&mut self, num: u64, den: u64) -> bool {
        self.gen_below(den) < num
    }

    /// A random boolean.
    pub fn gen_bool(&mut self) -> bool {
        self.gen_u64() & 1 == 1
    }

    /// A finite float.
    pub fn gen_f64(&mut self) -> f64 {
        (self.gen_u64() >> 11) as f64 / (1u64 << 53) as f64 * 1e6 - 5e5
    }

    /// A random UUID.
    pub fn gen_uuid(&mut self) -> Uuid {
        Uuid::from_u64_pair(self.gen_u64(), self.gen_u64())
    }

    /// A short string, sometimes with multi-byte characters.
    pub fn gen_string(&mut self) -> String {
        const CHARS: &[char] = &['a', 'b', 'z', 'A', '0', '9', '-', '_', '.', 'é', '✓'];
        let n = self.gen_below(9) as usize;
        (0..n)
            .map(|_| CHARS[self.gen_below(CHARS.len() as u64) as usize])
            .collect()
    }

    /// A short byte string.
    pub fn gen_bytes(&mut self) -> Bytes {
        let n = self.gen_below(17) as usize;
        Bytes::from((0..n).map(|_| self.gen_u64() as u8).collect::<Vec<u8>>())
    }

    /// An array length: mostly small, sometimes zero.
    pub fn gen_len(&mut self) -> usize {
        self.gen_below(4) as usize
    }

    /// Unknown tagged fields with tags far above any Kafka assigns, now and then.
    pub fn unknown_tagged_fields(&mut self) -> UnknownTaggedFields {
        let mut fields = UnknownTaggedFields::new();
        if self.gen_ratio(1, 3) {
            for _ in 0..self.gen_below(3) {
                let tag = 1000 + self.gen_below(100) as u32;
                fields.insert(tag, self.gen_bytes());
            }
        }
        fields
    }
}

/// A random value valid at a version.
pub trait Random {
    /// A value valid at `version`.
    fn random(rng: &mut TestRng, version: i16) -> Self;
}

/// Something done once per generated message type; see [`crate::messages::visit_all`].
pub trait MessageVisitor {
    /// Called with each message type.
    fn visit<M: crate::Message + Random + std::fmt::Debug + PartialEq + Clone>(&mut self);
}

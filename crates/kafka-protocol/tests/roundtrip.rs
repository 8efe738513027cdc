//! Every message × every valid version: random values valid at that version survive
//! encode → decode unchanged, `compute_size` matches the bytes written, decoding consumes
//! exactly the encoded bytes, and versions outside the range are refused both ways.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::visit_all;
use kafka_protocol::testing::{MessageVisitor, Random, TestRng};
use kafka_protocol::{Error, Message};

const SEEDS_PER_VERSION: u64 = 40;

struct RoundTrip {
    checked: usize,
}

impl MessageVisitor for RoundTrip {
    fn visit<M: Message + Random + std::fmt::Debug + PartialEq + Clone>(&mut self) {
        for version in M::VERSIONS.min..=M::VERSIONS.max {
            for seed in 0..SEEDS_PER_VERSION {
                let mut rng = TestRng::new(seed.wrapping_mul(7919) ^ u64::from(version as u16));
                let value = M::random(&mut rng, version);
                let mut buf = BytesMut::new();
                value
                    .encode(&mut buf, version)
                    .unwrap_or_else(|e| panic!("{} v{version} seed {seed}: encode: {e}", M::NAME));
                assert_eq!(
                    buf.len(),
                    value.compute_size(version).unwrap(),
                    "{} v{version} seed {seed}: compute_size",
                    M::NAME
                );
                let mut input: Bytes = buf.freeze();
                let decoded = M::decode(&mut input, version)
                    .unwrap_or_else(|e| panic!("{} v{version} seed {seed}: decode: {e}", M::NAME));
                assert!(
                    input.is_empty(),
                    "{} v{version}: {} bytes left",
                    M::NAME,
                    input.len()
                );
                assert_eq!(decoded, value, "{} v{version} seed {seed}", M::NAME);
                self.checked += 1;
            }
        }
        let below = M::VERSIONS.min - 1;
        let above = M::VERSIONS.max + 1;
        for v in [below, above] {
            let mut buf = BytesMut::new();
            assert!(matches!(
                M::default().encode(&mut buf, v),
                Err(Error::UnsupportedVersion { .. })
            ));
            let mut input = Bytes::from_static(&[0; 64]);
            assert!(matches!(
                M::decode(&mut input, v),
                Err(Error::UnsupportedVersion { .. })
            ));
        }
    }
}

#[test]
fn every_message_every_version_round_trips() {
    let mut rt = RoundTrip { checked: 0 };
    visit_all(&mut rt);
    assert!(rt.checked > 10_000, "only {} values checked", rt.checked);
}

/// Truncating a valid encoding anywhere must give an error, never a panic or a wrong value
/// that consumed everything.
struct Truncations;

impl MessageVisitor for Truncations {
    fn visit<M: Message + Random + std::fmt::Debug + PartialEq + Clone>(&mut self) {
        for version in M::VERSIONS.min..=M::VERSIONS.max {
            let mut rng = TestRng::new(version as u64);
            let value = M::random(&mut rng, version);
            let mut buf = BytesMut::new();
            value.encode(&mut buf, version).unwrap();
            let full = buf.freeze();
            for cut in 0..full.len() {
                let mut input = full.slice(..cut);
                if let Ok(v) = M::decode(&mut input, version) {
                    // A prefix can decode only to a different, shorter value.
                    assert_ne!(
                        v,
                        value,
                        "{} v{version}: prefix of {cut} decoded to the whole",
                        M::NAME
                    );
                }
            }
        }
    }
}

#[test]
fn truncated_encodings_fail_cleanly() {
    visit_all(&mut Truncations);
}

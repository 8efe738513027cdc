//! Hostile input never panics a decoder.
//!
//! - Every message × every version: valid encodings of random values, mutated (bit flips,
//!   byte changes, insertions, deletions, truncations, length and count prefixes set to null,
//!   negative, huge or overlong values), and plain random bytes, fed to `M::decode`: each
//!   must return `Ok` or `Err`.
//! - A sweep that writes every hostile length pattern at every offset of one encoding per
//!   message and version, so every length and count prefix is hit, not just those chance finds.
//! - The server's request path on whole frames: `peek_api_key_and_version`, `ApiKey::from_id`,
//!   the header version, `RequestHeader::decode`, `RequestKind::decode`.
//! - Inputs the fuzz targets in `fuzz/` found, kept as regression cases.
//!
//! The allocation bound is checked in `alloc_bound.rs`, which needs its own global allocator.
//! `HOSTILE_CASES=n` runs n proptest cases per property instead of the defaults.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::RequestKind;
use kafka_protocol::ApiKey;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use support::{
    apply, codecs, hex, hostile_bytes, mutation, parse_request_frame, request_frame, Codec,
    LENGTH_PATTERNS,
};

fn cases(default: u32) -> u32 {
    std::env::var("HOSTILE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Decodes `input` as `version` of `codec`; a panic becomes a failure naming the message,
/// the version and the input.
fn decode_no_panic(codec: &Codec, version: i16, input: &[u8]) -> Result<(), String> {
    let mut buf = Bytes::copy_from_slice(input);
    match catch_unwind(AssertUnwindSafe(|| (codec.decode)(&mut buf, version))) {
        Ok(_) => Ok(()),
        Err(panic) => Err(format!(
            "{} v{version} panicked ({}) decoding {} bytes: {}",
            codec.name,
            panic_message(&*panic),
            input.len(),
            hex(input)
        )),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Parses a request frame as a server does; a panic becomes a failure naming the input.
fn parse_frame_no_panic(frame: &[u8]) -> Result<(), String> {
    let input = Bytes::copy_from_slice(frame);
    match catch_unwind(AssertUnwindSafe(|| parse_request_frame(input))) {
        Ok(_) => Ok(()),
        Err(panic) => Err(format!(
            "request frame parsing panicked ({}) on {} bytes: {}",
            panic_message(&*panic),
            frame.len(),
            hex(frame)
        )),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(512)))]

    /// Every message × every version: a random valid value, encoded, mutated, decoded.
    #[test]
    fn mutated_encodings_of_every_message_never_panic(
        seed in any::<u64>(),
        mutations in proptest::collection::vec(mutation(), 1..5),
    ) {
        for codec in codecs() {
            for version in codec.versions() {
                let mut input = (codec.encode_random)(seed, version);
                for m in &mutations {
                    apply(&mut input, m);
                }
                decode_no_panic(codec, version, &input).map_err(TestCaseError::fail)?;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(1024)))]

    /// Every message × every version: bytes that were never an encoding.
    #[test]
    fn random_bytes_never_panic(input in hostile_bytes(512)) {
        for codec in codecs() {
            for version in codec.versions() {
                decode_no_panic(codec, version, &input).map_err(TestCaseError::fail)?;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(4096)))]

    /// The server's request path on a valid frame of a random API and version, mutated.
    #[test]
    fn mutated_request_frames_never_panic(
        api in proptest::sample::select(&ApiKey::ALL[..]),
        version_pick in any::<u16>(),
        seed in any::<u64>(),
        mutations in proptest::collection::vec(mutation(), 0..5),
    ) {
        let valid = api.valid_versions();
        let span = (valid.max - valid.min + 1) as u16;
        let version = valid.min + (version_pick % span) as i16;
        let mut frame = request_frame(api, version, seed);
        if mutations.is_empty() {
            // The harness itself: an untouched frame parses back whole.
            let (header, body, left) = parse_request_frame(Bytes::from(frame.clone()))
                .map_err(|e| TestCaseError::fail(format!("{api:?} v{version}: {e}")))?;
            prop_assert_eq!(header.request_api_key, api.id());
            prop_assert_eq!(header.request_api_version, version);
            prop_assert_eq!(body.api_key(), api);
            prop_assert_eq!(left, 0);
        }
        for m in &mutations {
            apply(&mut frame, m);
        }
        parse_frame_no_panic(&frame).map_err(TestCaseError::fail)?;
    }

    /// The server's request path on a known API key and version followed by junk.
    #[test]
    fn junk_after_a_valid_key_and_version_never_panics(
        api in proptest::sample::select(&ApiKey::ALL[..]),
        version_pick in any::<u16>(),
        junk in hostile_bytes(512),
    ) {
        let valid = api.valid_versions();
        let span = (valid.max - valid.min + 1) as u16;
        let version = valid.min + (version_pick % span) as i16;
        let mut frame = BytesMut::new();
        frame.put_i16(api.id());
        frame.put_i16(version);
        frame.put_slice(&junk);
        parse_frame_no_panic(&frame).map_err(TestCaseError::fail)?;
    }
}

/// Every hostile length pattern, written over and inserted at every offset of one encoding of
/// every message and version: every length and count prefix gets every hostile value.
#[test]
fn every_length_pattern_at_every_offset_never_panics() {
    let mut decoded = 0usize;
    for codec in codecs() {
        for version in codec.versions() {
            let valid = (codec.encode_random)(0x5eed, version);
            for at in 0..=valid.len() {
                for pattern in LENGTH_PATTERNS {
                    let mut over = valid.clone();
                    over.truncate(at);
                    over.extend_from_slice(pattern);
                    over.extend(valid.iter().skip(at + pattern.len()));
                    let mut ins = valid[..at].to_vec();
                    ins.extend_from_slice(pattern);
                    ins.extend_from_slice(&valid[at..]);
                    for input in [over, ins] {
                        if let Err(report) = decode_no_panic(codec, version, &input) {
                            panic!("{report}");
                        }
                        decoded += 1;
                    }
                }
            }
        }
    }
    assert!(decoded > 100_000, "only {decoded} inputs decoded");
}

/// Request frames whose header claims one thing and whose body is another's: every API key
/// (known or not) and version in and around the valid range, over every API's valid body.
#[test]
fn header_and_body_mismatches_never_panic() {
    for body_api in ApiKey::ALL {
        let valid = body_api.valid_versions();
        let body_frame = request_frame(body_api, valid.max, 7);
        for key in -1..=70i16 {
            for version in [-1i16, 0, 1, 3, valid.max, valid.max + 1, i16::MAX] {
                let mut frame = body_frame.clone();
                frame[..2].copy_from_slice(&key.to_be_bytes());
                frame[2..4].copy_from_slice(&version.to_be_bytes());
                if let Err(report) = parse_frame_no_panic(&frame) {
                    panic!("{report}");
                }
            }
        }
    }
}

/// The untouched request path works for every API and version, so the tests above exercise
/// real decoding and not an early error.
#[test]
fn every_request_frame_parses_back() {
    for api in ApiKey::ALL {
        let valid = api.valid_versions();
        for version in valid.min..=valid.max {
            let frame = Bytes::from(request_frame(api, version, 11));
            let (header, body, left) =
                parse_request_frame(frame).unwrap_or_else(|e| panic!("{api:?} v{version}: {e}"));
            assert_eq!(
                (header.request_api_key, header.request_api_version),
                (api.id(), version)
            );
            assert_eq!(body.api_key(), api);
            assert_eq!(left, 0, "{api:?} v{version}");
            let mut reencoded = BytesMut::new();
            body.encode(&mut reencoded, version).unwrap();
            let mut again = reencoded.freeze();
            assert_eq!(RequestKind::decode(api, &mut again, version).unwrap(), body);
        }
    }
}

//! Decoding never allocates more than its input justifies: for any input of N bytes, the
//! peak of live heap bytes allocated while `M::decode` runs (the decoded value included) stays
//! within `64 * N + 64 KiB`.
//!
//! This binary installs a counting global allocator. The counters are thread-local, so tests
//! running on several threads do not see each other's allocations; only allocations made
//! inside [`measure`] are counted.
//!
//! `HOSTILE_CASES=n` runs n proptest cases per property instead of the defaults.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// A global allocator is an `unsafe impl`; it only forwards to `System`.
#![allow(unsafe_code)]

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::Bytes;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use support::{apply, codecs, hex, hostile_bytes, mutation, Codec};

struct Counting;

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static CURRENT: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static TOTAL: Cell<usize> = const { Cell::new(0) };
}

fn record(delta: isize) {
    // `try_with`: never panic inside the allocator, even while thread-locals are torn down.
    let _ = ACTIVE.try_with(|active| {
        if active.get() {
            let now = CURRENT.with(|c| {
                let now = c.get() + delta;
                c.set(now);
                now
            });
            PEAK.with(|p| p.set(p.get().max(now)));
            if delta > 0 {
                TOTAL.with(|t| t.set(t.get() + delta as usize));
            }
        }
    });
}

// SAFETY: every call forwards to `System` with the caller's arguments unchanged; the counting
// touches only const-initialised thread-locals without destructors, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            record(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            record(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        record(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            record(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What one measured call allocated.
#[derive(Debug, Clone, Copy)]
struct Allocated {
    /// The most heap bytes live at once, counting from zero at the start of the call.
    peak: usize,
    /// All bytes allocated, freed or not.
    total: usize,
}

fn measure<R>(f: impl FnOnce() -> R) -> (R, Allocated) {
    CURRENT.with(|c| c.set(0));
    PEAK.with(|p| p.set(0));
    TOTAL.with(|t| t.set(0));
    ACTIVE.with(|a| a.set(true));
    let r = f();
    ACTIVE.with(|a| a.set(false));
    let peak = PEAK.with(Cell::get).max(0) as usize;
    let total = TOTAL.with(Cell::get);
    (r, Allocated { peak, total })
}

/// The most a decode of `n` input bytes may have live at once.
fn bound(n: usize) -> usize {
    64 * n + 64 * 1024
}

/// Decodes `input` as `version` of `codec` (dropping the value inside the measured call) and
/// checks the peak against the bound; a violation names the message, version and input.
fn check(codec: &Codec, version: i16, input: &[u8]) -> Result<Allocated, String> {
    let mut buf = Bytes::copy_from_slice(input);
    let (result, allocated) = measure(|| (codec.decode)(&mut buf, version));
    if allocated.peak > bound(input.len()) {
        return Err(format!(
            "{} v{version}: decoding {} bytes ({}) peaked at {} bytes allocated (bound {}, total {}); \
             input: {}",
            codec.name,
            input.len(),
            match result {
                Ok(()) => "Ok".to_owned(),
                Err(e) => format!("Err: {e}"),
            },
            allocated.peak,
            bound(input.len()),
            allocated.total,
            hex(input)
        ));
    }
    Ok(allocated)
}

fn cases(default: u32) -> u32 {
    std::env::var("HOSTILE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The counter works: it sees an allocation made inside `measure` and none made outside.
#[test]
fn the_counter_counts() {
    let (v, a) = measure(|| vec![0u8; 100_000]);
    assert!(a.peak >= 100_000 && a.total >= 100_000, "{a:?}");
    let (_, a) = measure(|| drop(v));
    assert_eq!(a.peak, 0, "{a:?}");
    let (_, a) = measure(|| 1 + 1);
    assert_eq!(a.total, 0, "{a:?}");
}

fn codec(name: &str) -> &'static Codec {
    codecs()
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no codec {name}"))
}

/// An array prefix claiming 1,024 elements, backed by 1,024 bytes that fail the first element:
/// the elements are preallocated before any is read, 1,024 × 232-byte `PartitionData`s for a
/// 1 KiB input.
#[test]
fn a_claimed_array_is_not_preallocated_beyond_the_bound() {
    // FetchResponse v4: throttle_time_ms, responses = [1], topic "", partitions = [1024 ...].
    let mut input = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 4, 0];
    input.extend(std::iter::repeat_n(0xff, 1024));
    if let Err(report) = check(codec("FetchResponse"), 4, &input) {
        panic!("{report}");
    }
}

/// Unknown tagged fields in every element of an array: 4 bytes each on the wire (an empty
/// topic name, one tagged field of tag 5 and size 0), and each allocates a map node.
#[test]
fn unknown_tagged_fields_in_every_element_stay_within_bound() {
    // MetadataRequest v9: topics = [1000 × {name "", tags {5: []}}], then
    // allow_auto_topic_creation, include_cluster_authorized_operations,
    // include_topic_authorized_operations and the top-level tag section.
    let elements = 1000u32;
    let mut input = Vec::new();
    let mut n = elements + 1;
    while n >= 0x80 {
        input.push((n as u8) | 0x80);
        n >>= 7;
    }
    input.push(n as u8);
    for _ in 0..elements {
        input.extend([0x01, 0x01, 0x05, 0x00]);
    }
    input.extend([0x01, 0x00, 0x00, 0x00]);
    let mut buf = Bytes::from(input.clone());
    assert!(
        (codec("MetadataRequest").decode)(&mut buf, 9).is_ok(),
        "the input is a valid MetadataRequest v9"
    );
    if let Err(report) = check(codec("MetadataRequest"), 9, &input) {
        panic!("{report}");
    }
}

/// Sizes a length prefix claims, each followed by that many bytes of filler so that the claim
/// passes the "no more than what remains" check and only what the decoder does with it counts.
const CLAIMS: &[usize] = &[1024, 4096];

/// Filler bytes: 0 and 1 decode as empty/zero fields (classic and compact), so elements keep
/// decoding; 0xff mostly makes the first element fail, so only preallocation counts.
const FILLS: &[u8] = &[0, 1, 0xff];

/// A failing input of the sweep, described compactly: `valid[..at] ++ prefix ++ [fill; claim]
/// ++ valid[at + prefix.len()..]`.
struct SweepFailure {
    name: &'static str,
    version: i16,
    valid: Vec<u8>,
    at: usize,
    prefix: Vec<u8>,
    fill: u8,
    claim: usize,
    input_len: usize,
    peak: usize,
    result: String,
}

/// Every position of one encoding of every message and version gets a length prefix claiming
/// [`CLAIMS`] elements or bytes, backed by as many filler bytes: every array, string and bytes
/// prefix is hit with a claim it can pass. Prefixes come in the forms the version uses: classic
/// `i32` and `i16` in non-flexible versions, compact and `i16` (the request header's client id)
/// in flexible ones.
#[test]
fn huge_claims_backed_by_filler_stay_within_bound() {
    let mut worst: Option<(f64, String)> = None;
    let mut failures: Vec<SweepFailure> = Vec::new();
    let mut checked = 0usize;
    for codec in codecs() {
        for version in codec.versions() {
            let valid = (codec.encode_random)(0xa110c, version);
            for at in 0..=valid.len() {
                for &claim in CLAIMS {
                    let mut compact = Vec::new();
                    let mut n = claim as u32 + 1;
                    while n >= 0x80 {
                        compact.push((n as u8) | 0x80);
                        n >>= 7;
                    }
                    compact.push(n as u8);
                    let prefixes: [Vec<u8>; 2] = if codec.is_flexible(version) {
                        [compact, (claim as i16).to_be_bytes().to_vec()]
                    } else {
                        [
                            (claim as i32).to_be_bytes().to_vec(),
                            (claim as i16).to_be_bytes().to_vec(),
                        ]
                    };
                    for prefix in &prefixes {
                        for &fill in FILLS {
                            let mut input = valid[..at].to_vec();
                            input.extend_from_slice(prefix);
                            input.extend(std::iter::repeat_n(fill, claim));
                            input.extend(valid.iter().skip(at + prefix.len()));
                            let mut buf = Bytes::copy_from_slice(&input);
                            let (result, a) = measure(|| (codec.decode)(&mut buf, version));
                            checked += 1;
                            if a.peak > bound(input.len()) {
                                failures.push(SweepFailure {
                                    name: codec.name,
                                    version,
                                    valid: valid.clone(),
                                    at,
                                    prefix: prefix.clone(),
                                    fill,
                                    claim,
                                    input_len: input.len(),
                                    peak: a.peak,
                                    result: match result {
                                        Ok(()) => "Ok".to_owned(),
                                        Err(e) => format!("Err({e})"),
                                    },
                                });
                            } else {
                                let ratio = a.peak as f64 / input.len() as f64;
                                if worst.as_ref().is_none_or(|(r, _)| ratio > *r) {
                                    worst = Some((
                                        ratio,
                                        format!(
                                            "{} v{version}: {a:?} for {} bytes",
                                            codec.name,
                                            input.len()
                                        ),
                                    ));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    eprintln!("{checked} inputs checked");
    if let Some((ratio, what)) = &worst {
        eprintln!("largest peak/input ratio within the bound: {ratio:.1} ({what})");
    }
    if failures.is_empty() {
        return;
    }
    // One line per message and version: how many inputs failed and the worst of them.
    let mut report = String::new();
    let mut groups: Vec<(&str, i16)> = failures.iter().map(|f| (f.name, f.version)).collect();
    groups.dedup();
    for (name, version) in &groups {
        let of_group = || {
            failures
                .iter()
                .filter(|f| f.name == *name && f.version == *version)
        };
        let worst = of_group()
            .max_by(|a, b| {
                (a.peak as f64 / a.input_len as f64)
                    .total_cmp(&(b.peak as f64 / b.input_len as f64))
            })
            .unwrap();
        report.push_str(&format!(
            "{name} v{version}: {} inputs; worst {} bytes -> peak {} ({:.0}x, bound {}), claim {} at offset {} \
             as {}, fill {:#04x}, {}\n",
            of_group().count(),
            worst.input_len,
            worst.peak,
            worst.peak as f64 / worst.input_len as f64,
            bound(worst.input_len),
            worst.claim,
            worst.at,
            hex(&worst.prefix),
            worst.fill,
            worst.result,
        ));
    }
    let first = &failures[0];
    report.push_str(&format!(
        "first failing input, {} v{}: {} ++ {} ++ [{:#04x}; {}] ++ {}\n",
        first.name,
        first.version,
        hex(&first.valid[..first.at]),
        hex(&first.prefix),
        first.fill,
        first.claim,
        hex(first
            .valid
            .get(first.at + first.prefix.len()..)
            .unwrap_or_default()),
    ));
    panic!(
        "{} of {checked} inputs exceeded the allocation bound 64 * N + 64 KiB:\n{report}",
        failures.len()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(128)))]

    /// Every message × every version: a random valid value, encoded, mutated, decoded within
    /// the bound.
    #[test]
    fn mutated_encodings_stay_within_bound(
        seed in any::<u64>(),
        mutations in proptest::collection::vec(mutation(), 1..5),
    ) {
        for codec in codecs() {
            for version in codec.versions() {
                let mut input = (codec.encode_random)(seed, version);
                for m in &mutations {
                    apply(&mut input, m);
                }
                check(codec, version, &input).map_err(TestCaseError::fail)?;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(512)))]

    /// Every message × every version: random bytes decoded within the bound.
    #[test]
    fn random_bytes_stay_within_bound(input in hostile_bytes(2048)) {
        for codec in codecs() {
            for version in codec.versions() {
                check(codec, version, &input).map_err(TestCaseError::fail)?;
            }
        }
    }
}

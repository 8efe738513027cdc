//! Shared by `hostile.rs` and `alloc_bound.rs`: a table of every generated message (reached
//! through `visit_all`, so new messages are covered without a hand-kept list), mutations of
//! valid encodings, and the request-frame parsing path a server runs.

#![allow(dead_code)]

use std::sync::OnceLock;

use bytes::{Bytes, BytesMut};
use kafka_protocol::header::peek_api_key_and_version;
use kafka_protocol::messages::{visit_all, RequestKind};
use kafka_protocol::testing::{MessageVisitor, Random, TestRng};
use kafka_protocol::{ApiKey, Decodable, Encodable, Error, Message, RequestHeader, VersionRange};
use proptest::prelude::*;

/// One generated message type, as plain function pointers so a test can loop over all of them.
#[derive(Clone, Copy)]
pub(crate) struct Codec {
    pub(crate) name: &'static str,
    pub(crate) versions: VersionRange,
    pub(crate) first_flexible: Option<i16>,
    /// A random value valid at `version`, encoded at `version`.
    pub(crate) encode_random: fn(u64, i16) -> Vec<u8>,
    /// `M::decode`, with the value dropped inside (so an allocation test sees all of it).
    pub(crate) decode: fn(&mut Bytes, i16) -> kafka_protocol::Result<()>,
}

impl Codec {
    pub(crate) fn versions(&self) -> impl Iterator<Item = i16> {
        self.versions.min..=self.versions.max
    }

    /// Whether `version` is flexible (compact lengths, tagged fields).
    pub(crate) fn is_flexible(&self, version: i16) -> bool {
        self.first_flexible.is_some_and(|f| version >= f)
    }
}

fn encode_random<M: Message + Random>(seed: u64, version: i16) -> Vec<u8> {
    let mut rng = TestRng::new(seed ^ (u64::from(version as u16) << 48));
    let value = M::random(&mut rng, version);
    let mut buf = BytesMut::new();
    value
        .encode(&mut buf, version)
        .unwrap_or_else(|e| panic!("{} v{version}: encoding a random value: {e}", M::NAME));
    buf.to_vec()
}

fn decode<M: Message>(buf: &mut Bytes, version: i16) -> kafka_protocol::Result<()> {
    M::decode(buf, version).map(drop)
}

struct Collect(Vec<Codec>);

impl MessageVisitor for Collect {
    fn visit<M: Message + Random + std::fmt::Debug + PartialEq + Clone>(&mut self) {
        self.0.push(Codec {
            name: M::NAME,
            versions: M::VERSIONS,
            first_flexible: M::FIRST_FLEXIBLE_VERSION,
            encode_random: encode_random::<M>,
            decode: decode::<M>,
        });
    }
}

/// Every generated message.
pub(crate) fn codecs() -> &'static [Codec] {
    static CODECS: OnceLock<Vec<Codec>> = OnceLock::new();
    CODECS.get_or_init(|| {
        let mut c = Collect(Vec::new());
        visit_all(&mut c);
        assert!(
            c.0.len() >= 70,
            "visit_all visited only {} messages",
            c.0.len()
        );
        c.0
    })
}

/// The request body codec of an API.
pub(crate) fn request_codec(api: ApiKey) -> &'static Codec {
    let name = format!("{}Request", api.name());
    codecs()
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no codec named {name}"))
}

/// The response body codec of an API.
pub(crate) fn response_codec(api: ApiKey) -> &'static Codec {
    let name = format!("{}Response", api.name());
    codecs()
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no codec named {name}"))
}

/// Values a hostile peer puts in length and count prefixes: nulls, other negatives, the
/// largest values of each prefix type (classic `i16`/`i32`, compact unsigned varint) and
/// overlong varints.
pub(crate) const LENGTH_PATTERNS: &[&[u8]] = &[
    &[0xff, 0xff],                   // i16 -1 (null)
    &[0xff, 0xfe],                   // i16 -2
    &[0x7f, 0xff],                   // i16::MAX
    &[0x80, 0x00],                   // i16::MIN
    &[0xff, 0xff, 0xff, 0xff],       // i32 -1 (null)
    &[0xff, 0xff, 0xff, 0xfe],       // i32 -2
    &[0x7f, 0xff, 0xff, 0xff],       // i32::MAX
    &[0x80, 0x00, 0x00, 0x00],       // i32::MIN
    &[0x00, 0x00, 0x04, 0x00],       // i32 1024
    &[0x00],                         // compact null, zero count
    &[0x01],                         // compact empty
    &[0xff, 0xff, 0xff, 0xff, 0x0f], // uvarint u32::MAX
    &[0xfe, 0xff, 0xff, 0xff, 0x0f], // uvarint u32::MAX - 1
    &[0x80, 0x80, 0x80, 0x80, 0x08], // uvarint 2^31
    &[0xff, 0xff, 0xff, 0xff, 0xff], // uvarint too long
    &[0x81, 0x08],                   // uvarint 1025 (compact length 1024)
    &[0xff, 0x7f],                   // uvarint 16383
];

/// One change to an encoding. Positions are taken modulo the length at the time it applies.
#[derive(Debug, Clone)]
pub(crate) enum Mutation {
    FlipBit {
        at: usize,
        bit: u8,
    },
    SetByte {
        at: usize,
        value: u8,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    /// Inserts `len` copies of `fill`: room for a huge length prefix to pass its check.
    InsertRun {
        at: usize,
        len: usize,
        fill: u8,
    },
    Delete {
        at: usize,
        len: usize,
    },
    Truncate {
        at: usize,
    },
    /// Overwrites the bytes at `at` with one of [`LENGTH_PATTERNS`].
    SetLength {
        at: usize,
        pattern: usize,
    },
    /// Inserts one of [`LENGTH_PATTERNS`] at `at`.
    InsertLength {
        at: usize,
        pattern: usize,
    },
}

pub(crate) fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        3 => (at, 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        2 => (at, any::<u8>()).prop_map(|(at, value)| Mutation::SetByte { at, value }),
        1 => (at, proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (at, 1usize..2048, prop_oneof![Just(0u8), Just(1), Just(0xff), any::<u8>()])
            .prop_map(|(at, len, fill)| Mutation::InsertRun { at, len, fill }),
        1 => (at, 1usize..8).prop_map(|(at, len)| Mutation::Delete { at, len }),
        1 => at.prop_map(|at| Mutation::Truncate { at }),
        4 => (at, 0..LENGTH_PATTERNS.len())
            .prop_map(|(at, pattern)| Mutation::SetLength { at, pattern }),
        2 => (at, 0..LENGTH_PATTERNS.len())
            .prop_map(|(at, pattern)| Mutation::InsertLength { at, pattern }),
    ]
}

pub(crate) fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    let pos = |at: usize| at % (len + 1);
    match *m {
        Mutation::FlipBit { at, bit } => {
            if len > 0 {
                bytes[at % len] ^= 1 << bit;
            }
        }
        Mutation::SetByte { at, value } => {
            if len > 0 {
                bytes[at % len] = value;
            }
        }
        Mutation::Insert { at, bytes: ref ins } => {
            let p = pos(at);
            insert_at(bytes, p, ins.iter().copied());
        }
        Mutation::InsertRun { at, len: n, fill } => {
            let p = pos(at);
            insert_at(bytes, p, std::iter::repeat_n(fill, n));
        }
        Mutation::Delete { at, len: n } => {
            let p = pos(at);
            bytes.drain(p..(p + n).min(len));
        }
        Mutation::Truncate { at } => bytes.truncate(pos(at)),
        Mutation::SetLength { at, pattern } => {
            let pat = LENGTH_PATTERNS[pattern];
            let p = pos(at);
            for (i, b) in pat.iter().enumerate() {
                match bytes.get_mut(p + i) {
                    Some(slot) => *slot = *b,
                    None => bytes.push(*b),
                }
            }
        }
        Mutation::InsertLength { at, pattern } => {
            let p = pos(at);
            insert_at(bytes, p, LENGTH_PATTERNS[pattern].iter().copied());
        }
    }
}

/// Inserts `items` before index `at`.
fn insert_at(bytes: &mut Vec<u8>, at: usize, items: impl IntoIterator<Item = u8>) {
    let tail = bytes.split_off(at);
    bytes.extend(items);
    bytes.extend(tail);
}

/// Bytes with a bias towards what length prefixes and flags hold: about half are 0x00, 0x01,
/// 0x02, 0x7f, 0x80 or 0xff, the rest uniform.
pub(crate) fn hostile_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    const SPECIAL: [u8; 6] = [0x00, 0x01, 0x02, 0x7f, 0x80, 0xff];
    proptest::collection::vec(any::<u16>(), 0..max).prop_map(|raw| {
        raw.into_iter()
            .map(|r| {
                let [hi, lo] = r.to_be_bytes();
                if hi < 0x80 {
                    SPECIAL[usize::from(lo) % SPECIAL.len()]
                } else {
                    lo
                }
            })
            .collect()
    })
}

/// `bytes` as a hex string for a failure report.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A request frame (without its 4-byte size prefix) as a client sends it: a random header of
/// the version `version` of `api` uses, then a random body.
pub(crate) fn request_frame(api: ApiKey, version: i16, seed: u64) -> Vec<u8> {
    let header_version = api.request_header_version(version);
    let mut rng = TestRng::new(seed);
    let header = RequestHeader::random(&mut rng, header_version)
        .with_request_api_key(api.id())
        .with_request_api_version(version);
    let mut frame = BytesMut::new();
    header
        .encode(&mut frame, header_version)
        .unwrap_or_else(|e| panic!("{api:?} v{version}: encoding the header: {e}"));
    let mut out = frame.to_vec();
    out.extend((request_codec(api).encode_random)(seed, version));
    out
}

/// What a server does with a request frame: read the API key and version, pick the header
/// version, decode the header, then decode the body for that API. Returns the header, the
/// body and the number of bytes left after the body.
pub(crate) fn parse_request_frame(
    frame: Bytes,
) -> kafka_protocol::Result<(RequestHeader, RequestKind, usize)> {
    let (key, version) = peek_api_key_and_version(&frame)?;
    let api = ApiKey::from_id(key).ok_or(Error::UnknownApiKey(key))?;
    if !api.valid_versions().contains(version) {
        return Err(Error::UnsupportedVersion {
            message: api.name(),
            version,
        });
    }
    let header_version = api.request_header_version(version);
    let mut buf = frame;
    let header = RequestHeader::decode(&mut buf, header_version)?;
    let body = RequestKind::decode(api, &mut buf, version)?;
    Ok((header, body, buf.len()))
}

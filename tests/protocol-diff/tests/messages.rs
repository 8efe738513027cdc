//! Differential test of every generated message against tychedelia's `kafka-protocol` crate
//! (`theirs`), an independent code generator over Kafka's JSON definitions.
//!
//! For every pair in the table in [`every_message_agrees_with_theirs`] and every version in
//! the intersection of both codecs' `VERSIONS`:
//!
//! 1. Ours → theirs, for [`SEEDS`] random values: our value, encoded by us (bytes A), decodes
//!    in theirs consuming every byte; their re-encoding (bytes B) equals A byte for byte; we
//!    decode B back to the very value we started from; their decoding of B equals their
//!    decoding of A. So every field we wrote survives their decoder and encoder, and what they
//!    write is what we read back.
//! 2. Theirs → ours: their values (their decoding of A, and their `Default`), encoded by them,
//!    decode in ours consuming every byte, and our re-encoding is byte-identical.
//! 3. Defaults: both codecs' `Default` values encode to the same bytes.
//! 4. Cross-version, for [`CROSS_SEEDS`] values per (made-for, encoded-at) version pair: a
//!    value made for one version, encoded at another by both sides (both refuse, or both
//!    write the same bytes). This exercises the version gating — fields the target version
//!    lacks, nullability, tagged fields — which same-version round trips cannot reach.
//!
//! Both sides' `compute_size` must equal the length they encode. [`large_values_agree`] adds
//! hand-built values too large for the random generator (multi-byte varint lengths, tags and
//! counts; strings over the `int16` length limit). [`corrupted_frames_read_alike`] overwrites
//! bytes of valid frames: whenever our decoder accepts the result, theirs must too, reading
//! the same bytes and re-encoding identically. [`header_versions_agree`] compares API keys and
//! request/response header versions.
//!
//! One divergence of ours from Kafka was found by this test and fixed in the generator: a
//! field's tag below the field's first version was kept as an unknown tag instead of refused;
//! [`STRAY_TAGS`] keeps those cases as regression tests.
//!
//! Versions only one side defines (Kafka 4 dropped many old versions, and theirs has some
//! newer ones) are printed, not compared. Anything that legitimately cannot agree is listed in
//! [`EXCEPTIONS`] or [`THEIRS_LAX`] with the reason; an entry that no longer applies is an
//! error, so the lists cannot go stale.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{Debug, Write as _};
use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::{Bytes, BytesMut};
use kafka_protocol::testing::{MessageVisitor, Random, TestRng};
use kafka_protocol::{Message, VersionRange};
use theirs::protocol::{
    Decodable as TheirDecodable, Encodable as TheirEncodable, HeaderVersion,
    Message as TheirMessage, Request as TheirRequest,
};

/// Random values per message × version.
const SEEDS: u64 = 256;

/// Random values per message × (version made for, version encoded at).
const CROSS_SEEDS: u64 = 32;

/// A message version range where the two codecs' wire formats are known not to agree.
struct Exception {
    /// Our `Message::NAME`.
    name: &'static str,
    /// First and last version concerned.
    versions: (i16, i16),
    /// Why this cannot agree.
    reason: &'static str,
}

/// Known, explained wire-format disagreements at the same version. Each must still fail for
/// at least one seed. Empty: every API × version both codecs define agrees.
const EXCEPTIONS: &[Exception] = &[];

fn exception_for(name: &str, version: i16) -> Option<&'static Exception> {
    EXCEPTIONS
        .iter()
        .find(|e| e.name == name && (e.versions.0..=e.versions.1).contains(&version))
}

/// Why our encoder refuses a value that theirs writes anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// `Error::NullNotAllowed`: null in a field that is not nullable at the target version.
    /// Kafka's Java encoder throws (`NullPointerException`/"non-nullable field was serialized
    /// as null"); theirs writes the null length (-1) anyway, which a Kafka peer reading that
    /// version rejects.
    Null,
    /// `Error::FieldNotInVersion`: a non-default value in a field that the target version
    /// lacks. For the tagged fields below, Kafka's Java encoder throws
    /// `UnsupportedVersionException` (they are not `ignorable`); theirs drops the value
    /// silently. (For untagged fields theirs refuses too, so those need no entry.)
    NotInVersion,
}

/// A field where, across versions, theirs writes what ours refuses. Ours follows Kafka's
/// Java generator; theirs is laxer. Each was checked against the JSON definitions.
struct Lax {
    /// The message (or `Message.Struct`) as in our error.
    message: &'static str,
    /// The field, as in our error.
    field: &'static str,
    /// Which refusal.
    refusal: Refusal,
    /// The definition that makes ours right.
    definition: &'static str,
}

const THEIRS_LAX: &[Lax] = &[
    Lax {
        message: "JoinGroupResponse",
        field: "ProtocolName",
        refusal: Refusal::Null,
        definition: r#"JoinGroupResponse.json: "ProtocolName", "versions": "0+", "nullableVersions": "7+""#,
    },
    Lax {
        message: "DeleteTopicsResponse.DeletableTopicResult",
        field: "Name",
        refusal: Refusal::Null,
        definition: r#"DeleteTopicsResponse.json: "Name", "versions": "0+", "nullableVersions": "6+""#,
    },
    Lax {
        message: "MetadataRequest",
        field: "Topics",
        refusal: Refusal::Null,
        definition: r#"MetadataRequest.json: "Topics", "versions": "0+", "nullableVersions": "1+""#,
    },
    Lax {
        message: "MetadataRequest.MetadataRequestTopic",
        field: "Name",
        refusal: Refusal::Null,
        definition: r#"MetadataRequest.json: "Name", "versions": "0+", "nullableVersions": "10+""#,
    },
    Lax {
        message: "MetadataResponse.MetadataResponseTopic",
        field: "Name",
        refusal: Refusal::Null,
        definition: r#"MetadataResponse.json: "Name", "versions": "0+", "nullableVersions": "12+""#,
    },
    Lax {
        message: "OffsetFetchRequest",
        field: "Topics",
        refusal: Refusal::Null,
        definition: r#"OffsetFetchRequest.json: "Topics", "versions": "0-7", "nullableVersions": "2-7""#,
    },
    Lax {
        message: "FetchRequest",
        field: "ReplicaState",
        refusal: Refusal::NotInVersion,
        definition: r#"FetchRequest.json: "ReplicaState", "versions": "15+", "taggedVersions": "15+", "tag": 1 (not ignorable)"#,
    },
    Lax {
        message: "FetchResponse",
        field: "NodeEndpoints",
        refusal: Refusal::NotInVersion,
        definition: r#"FetchResponse.json: "NodeEndpoints", "versions": "16+", "taggedVersions": "16+", "tag": 0 (not ignorable)"#,
    },
    Lax {
        message: "ProduceResponse.PartitionProduceResponse",
        field: "CurrentLeader",
        refusal: Refusal::NotInVersion,
        definition: r#"ProduceResponse.json: "CurrentLeader", "versions": "10+", "taggedVersions": "10+", "tag": 0 (not ignorable)"#,
    },
    Lax {
        message: "ProduceResponse",
        field: "NodeEndpoints",
        refusal: Refusal::NotInVersion,
        definition: r#"ProduceResponse.json: "NodeEndpoints", "versions": "10+", "taggedVersions": "10+", "tag": 0 (not ignorable)"#,
    },
    Lax {
        message: "BrokerHeartbeatRequest",
        field: "OfflineLogDirs",
        refusal: Refusal::NotInVersion,
        definition: r#"BrokerHeartbeatRequest.json: "OfflineLogDirs", "versions": "1+", "taggedVersions": "1+", "tag": "0" (not ignorable)"#,
    },
];

/// How a cross-version case came out.
enum Cross {
    /// Both refused, or both wrote the same bytes.
    Agree,
    /// Ours refused unknown tagged fields at a non-flexible version; theirs dropped them.
    /// Kafka's Java encoder refuses them too ("Tagged fields were set, but version ... of this
    /// message does not support them").
    TheirsDroppedUnknownTags,
    /// Ours refused for a reason listed in [`THEIRS_LAX`] (the index); theirs wrote anyway.
    TheirsLax(usize),
}

/// What the run compared and found.
#[derive(Default)]
struct Report {
    /// (name, version) pairs compared.
    compared: Vec<(&'static str, i16)>,
    /// Cases that agreed.
    cases: usize,
    /// Versions only we define.
    ours_only: Vec<(&'static str, i16)>,
    /// Versions only they define.
    theirs_only: Vec<(&'static str, i16)>,
    /// Versions under an exception, with the first failure seen.
    excepted: Vec<String>,
    /// (from, to) version pairs compared across versions.
    cross_pairs: usize,
    /// Cross-version cases where both sides behaved the same.
    cross_agree: usize,
    /// Cross-version cases where theirs dropped unknown tagged fields that ours refused.
    cross_dropped_tags: usize,
    /// Cross-version cases excused by each [`THEIRS_LAX`] entry.
    lax_hits: BTreeMap<usize, usize>,
    /// Everything that went wrong.
    failures: Vec<String>,
    /// Our message names covered by the table.
    names: BTreeSet<&'static str>,
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A readable account of two byte strings that should be equal.
fn byte_diff(what: &str, ours: &[u8], theirs: &[u8]) -> String {
    let at = ours
        .iter()
        .zip(theirs)
        .position(|(x, y)| x != y)
        .unwrap_or(ours.len().min(theirs.len()));
    format!(
        "{what}: lengths {} (ours) vs {} (theirs), first difference at byte {at}\n      ours:   {}\n      theirs: {}",
        ours.len(),
        theirs.len(),
        hex(ours),
        hex(theirs)
    )
}

fn ours_encode<O: Message>(value: &O, version: i16) -> Result<Bytes, String> {
    let mut buf = BytesMut::new();
    value
        .encode(&mut buf, version)
        .map_err(|e| format!("our encode failed: {e}"))?;
    let size = value
        .compute_size(version)
        .map_err(|e| format!("our compute_size failed: {e}"))?;
    if size != buf.len() {
        return Err(format!(
            "our compute_size says {size} but encode wrote {} bytes",
            buf.len()
        ));
    }
    Ok(buf.freeze())
}

fn ours_decode_all<O: Message>(bytes: &Bytes, version: i16) -> Result<O, String> {
    let mut buf = bytes.clone();
    let value = O::decode(&mut buf, version)
        .map_err(|e| format!("our decode failed: {e}\n      bytes: {}", hex(bytes)))?;
    if !buf.is_empty() {
        return Err(format!(
            "our decode left {} of {} bytes unread\n      bytes: {}",
            buf.len(),
            bytes.len(),
            hex(bytes)
        ));
    }
    Ok(value)
}

fn theirs_encode<T: TheirEncodable>(value: &T, version: i16) -> Result<Bytes, String> {
    let mut buf = BytesMut::new();
    catch_unwind(AssertUnwindSafe(|| value.encode(&mut buf, version)))
        .map_err(|_| "their encode panicked".to_string())?
        .map_err(|e| format!("their encode failed: {e:#}"))?;
    let size = value
        .compute_size(version)
        .map_err(|e| format!("their compute_size failed: {e:#}"))?;
    if size != buf.len() {
        return Err(format!(
            "their compute_size says {size} but their encode wrote {} bytes",
            buf.len()
        ));
    }
    Ok(buf.freeze())
}

fn theirs_decode_all<T: TheirDecodable>(bytes: &Bytes, version: i16) -> Result<T, String> {
    let mut buf = bytes.clone();
    let value = catch_unwind(AssertUnwindSafe(|| T::decode(&mut buf, version)))
        .map_err(|_| format!("their decode panicked\n      bytes: {}", hex(bytes)))?
        .map_err(|e| format!("their decode failed: {e:#}\n      bytes: {}", hex(bytes)))?;
    if !buf.is_empty() {
        return Err(format!(
            "their decode left {} of {} bytes unread\n      bytes: {}",
            buf.len(),
            bytes.len(),
            hex(bytes)
        ));
    }
    Ok(value)
}

/// Directions 1 and 2 for one of our values.
fn agree_on<O, T>(ours: &O, version: i16) -> Result<(), String>
where
    O: Message + Debug + PartialEq,
    T: TheirEncodable + TheirDecodable + Debug + PartialEq,
{
    let a = ours_encode(ours, version)?;
    let theirs: T =
        theirs_decode_all(&a, version).map_err(|e| format!("{e}\n      our value: {ours:?}"))?;
    let b = theirs_encode(&theirs, version)?;
    if a != b {
        return Err(format!(
            "{}\n      our value:   {ours:?}\n      their value: {theirs:?}",
            byte_diff("their re-encoding of our bytes differs", &a, &b)
        ));
    }
    let back: O = ours_decode_all(&b, version)?;
    if back != *ours {
        return Err(format!(
            "our decoding of their bytes differs from the original\n      original: {ours:?}\n      decoded:  {back:?}"
        ));
    }
    let theirs_again: T = theirs_decode_all(&b, version)?;
    if theirs_again != theirs {
        return Err(format!(
            "their decoding of their own bytes differs\n      first:  {theirs:?}\n      second: {theirs_again:?}"
        ));
    }
    theirs_to_ours::<O, T>(&theirs, version)
}

/// Direction 2: their value, encoded by them, reads in ours and re-encodes identically.
fn theirs_to_ours<O, T>(theirs: &T, version: i16) -> Result<(), String>
where
    O: Message + Debug,
    T: TheirEncodable + Debug,
{
    let d = theirs_encode(theirs, version)?;
    let ours: O =
        ours_decode_all(&d, version).map_err(|e| format!("{e}\n      their value: {theirs:?}"))?;
    let e = ours_encode(&ours, version)?;
    if d != e {
        return Err(format!(
            "{}\n      their value: {theirs:?}\n      our value:   {ours:?}",
            byte_diff("our re-encoding of their bytes differs", &e, &d)
        ));
    }
    Ok(())
}

/// Both sides' default values, and their default read by us.
fn defaults<O, T>(version: i16) -> Result<(), String>
where
    O: Message + Debug,
    T: TheirEncodable + Default + Debug,
{
    let theirs = T::default();
    let ours = O::default();
    match (ours_encode(&ours, version), theirs_encode(&theirs, version)) {
        (Ok(o), Ok(t)) => {
            if o != t {
                return Err(format!(
                    "{}\n      our default:   {ours:?}\n      their default: {theirs:?}",
                    byte_diff("default values encode differently", &o, &t)
                ));
            }
            theirs_to_ours::<O, T>(&theirs, version)
        }
        // Both refuse (a field required at this version has no usable default).
        (Err(_), Err(_)) => Ok(()),
        (Ok(_), Err(e)) => Err(format!("our default encodes, theirs does not: {e}")),
        (Err(e), Ok(_)) => Err(format!("their default encodes, ours does not: {e}")),
    }
}

/// All same-version checks of one version; the number of cases on success.
fn check_version<O, T>(version: i16) -> Result<usize, String>
where
    O: Message + Random + Debug + PartialEq,
    T: TheirEncodable + TheirDecodable + Default + Debug + PartialEq,
{
    defaults::<O, T>(version).map_err(|e| format!("default values: {e}"))?;
    for seed in 0..SEEDS {
        let ours = O::random(&mut TestRng::new(seed), version);
        agree_on::<O, T>(&ours, version).map_err(|e| format!("seed {seed}: {e}"))?;
    }
    Ok(SEEDS as usize + 1)
}

/// Direction 4: a value made for `from`, encoded at `to` by both sides.
fn cross_version<O, T>(from: i16, to: i16, seed: u64) -> Result<Cross, String>
where
    O: Message + Random + Debug,
    T: TheirEncodable + TheirDecodable + Debug,
{
    let ours = O::random(&mut TestRng::new(seed), from);
    let theirs: T = theirs_decode_all(&ours_encode(&ours, from)?, from)?;
    let mut buf = BytesMut::new();
    let ours_result = ours.encode(&mut buf, to).map(|()| buf.freeze());
    let theirs_result = theirs_encode(&theirs, to);
    let lax = |message: &str, field: &str, refusal: Refusal| {
        THEIRS_LAX
            .iter()
            .position(|l| l.message == message && l.field == field && l.refusal == refusal)
    };
    use kafka_protocol::Error as E;
    match (ours_result, theirs_result) {
        (Ok(o), Ok(t)) if o == t => Ok(Cross::Agree),
        (Ok(o), Ok(t)) => Err(format!(
            "{}\n      our value:   {ours:?}\n      their value: {theirs:?}",
            byte_diff("encodings differ", &o, &t)
        )),
        (Err(_), Err(_)) => Ok(Cross::Agree),
        (
            Err(E::FieldNotInVersion {
                field: "unknown_tagged_fields",
                ..
            }),
            Ok(_),
        ) if O::FIRST_FLEXIBLE_VERSION.is_none_or(|f| to < f) => {
            Ok(Cross::TheirsDroppedUnknownTags)
        }
        (Err(E::NullNotAllowed { message, field, .. }), Ok(_))
            if lax(message, field, Refusal::Null).is_some() =>
        {
            Ok(Cross::TheirsLax(
                lax(message, field, Refusal::Null).unwrap_or_default(),
            ))
        }
        (Err(E::FieldNotInVersion { message, field, .. }), Ok(_))
            if lax(message, field, Refusal::NotInVersion).is_some() =>
        {
            Ok(Cross::TheirsLax(
                lax(message, field, Refusal::NotInVersion).unwrap_or_default(),
            ))
        }
        (Err(e), Ok(t)) => Err(format!(
            "ours refuses ({e}) but theirs writes {}\n      our value:   {ours:?}",
            hex(&t)
        )),
        (Ok(o), Err(e)) => Err(format!(
            "theirs refuses ({e}) but ours writes {}\n      our value:   {ours:?}",
            hex(&o)
        )),
    }
}

fn compare<O, T>(report: &mut Report)
where
    O: Message + Random + Debug + PartialEq,
    T: TheirEncodable + TheirDecodable + TheirMessage + Default + Debug + PartialEq,
{
    report.names.insert(O::NAME);
    let ours = O::VERSIONS;
    let theirs = VersionRange::new(T::VERSIONS.min, T::VERSIONS.max);
    for v in ours.min.min(theirs.min)..=ours.max.max(theirs.max) {
        match (ours.contains(v), theirs.contains(v)) {
            (true, true) => {}
            (true, false) => {
                report.ours_only.push((O::NAME, v));
                continue;
            }
            (false, true) => {
                report.theirs_only.push((O::NAME, v));
                continue;
            }
            (false, false) => continue,
        }
        match (exception_for(O::NAME, v), check_version::<O, T>(v)) {
            (None, Ok(cases)) => {
                report.compared.push((O::NAME, v));
                report.cases += cases;
            }
            (None, Err(e)) => report.failures.push(format!("{} v{v}: {e}", O::NAME)),
            (Some(x), Err(e)) => report.excepted.push(format!(
                "{} v{v}: {}\n    first failure: {}",
                O::NAME,
                x.reason,
                e.lines().next().unwrap_or_default()
            )),
            (Some(x), Ok(_)) => report.failures.push(format!(
                "{} v{v} is listed as an exception ({}) but now agrees: remove the exception",
                O::NAME,
                x.reason
            )),
        }
    }

    let Some(common) = ours.intersect(&theirs) else {
        return;
    };
    for from in common.min..=common.max {
        for to in common.min..=common.max {
            if from == to
                || exception_for(O::NAME, from).is_some()
                || exception_for(O::NAME, to).is_some()
            {
                continue;
            }
            report.cross_pairs += 1;
            for seed in 0..CROSS_SEEDS {
                match cross_version::<O, T>(from, to, seed) {
                    Ok(Cross::Agree) => report.cross_agree += 1,
                    Ok(Cross::TheirsDroppedUnknownTags) => report.cross_dropped_tags += 1,
                    Ok(Cross::TheirsLax(i)) => *report.lax_hits.entry(i).or_default() += 1,
                    Err(e) => {
                        report.failures.push(format!(
                            "{} made for v{from}, encoded at v{to}, seed {seed}: {e}",
                            O::NAME
                        ));
                        break;
                    }
                }
            }
        }
    }
}

/// Calls `$f::<ours, theirs>($arg)` for every message both codecs define, our type and
/// theirs having the same name. The table is checked against `visit_all`.
macro_rules! for_each_pair {
    ($f:ident, $arg:expr) => {
        for_each_pair!(@ $f, $arg;
            RequestHeader,
            ResponseHeader,
            ProduceRequest,
            ProduceResponse,
            FetchRequest,
            FetchResponse,
            ListOffsetsRequest,
            ListOffsetsResponse,
            MetadataRequest,
            MetadataResponse,
            OffsetCommitRequest,
            OffsetCommitResponse,
            OffsetFetchRequest,
            OffsetFetchResponse,
            FindCoordinatorRequest,
            FindCoordinatorResponse,
            JoinGroupRequest,
            JoinGroupResponse,
            HeartbeatRequest,
            HeartbeatResponse,
            LeaveGroupRequest,
            LeaveGroupResponse,
            SyncGroupRequest,
            SyncGroupResponse,
            DescribeGroupsRequest,
            DescribeGroupsResponse,
            ListGroupsRequest,
            ListGroupsResponse,
            SaslHandshakeRequest,
            SaslHandshakeResponse,
            ApiVersionsRequest,
            ApiVersionsResponse,
            CreateTopicsRequest,
            CreateTopicsResponse,
            DeleteTopicsRequest,
            DeleteTopicsResponse,
            DeleteRecordsRequest,
            DeleteRecordsResponse,
            InitProducerIdRequest,
            InitProducerIdResponse,
            OffsetForLeaderEpochRequest,
            OffsetForLeaderEpochResponse,
            AddPartitionsToTxnRequest,
            AddPartitionsToTxnResponse,
            AddOffsetsToTxnRequest,
            AddOffsetsToTxnResponse,
            EndTxnRequest,
            EndTxnResponse,
            TxnOffsetCommitRequest,
            TxnOffsetCommitResponse,
            DescribeAclsRequest,
            DescribeAclsResponse,
            CreateAclsRequest,
            CreateAclsResponse,
            DeleteAclsRequest,
            DeleteAclsResponse,
            DescribeConfigsRequest,
            DescribeConfigsResponse,
            AlterConfigsRequest,
            AlterConfigsResponse,
            SaslAuthenticateRequest,
            SaslAuthenticateResponse,
            CreatePartitionsRequest,
            CreatePartitionsResponse,
            DeleteGroupsRequest,
            DeleteGroupsResponse,
            IncrementalAlterConfigsRequest,
            IncrementalAlterConfigsResponse,
            OffsetDeleteRequest,
            OffsetDeleteResponse,
            DescribeClusterRequest,
            DescribeClusterResponse,
            BrokerRegistrationRequest,
            BrokerRegistrationResponse,
            BrokerHeartbeatRequest,
            BrokerHeartbeatResponse,
            UnregisterBrokerRequest,
            UnregisterBrokerResponse,
            DescribeQuorumRequest,
            DescribeQuorumResponse,
            AllocateProducerIdsRequest,
            AllocateProducerIdsResponse,
            ConsumerProtocolSubscription,
            ConsumerProtocolAssignment,
        )
    };
    (@ $f:ident, $arg:expr; $($name:ident),* $(,)?) => {
        $($f::<kafka_protocol::messages::$name, theirs::messages::$name>($arg);)*
    };
}

/// Collects our message names, to prove the table covers every generated message.
struct Names(BTreeSet<&'static str>);

impl MessageVisitor for Names {
    fn visit<M: Message + Random + Debug + PartialEq + Clone>(&mut self) {
        self.0.insert(M::NAME);
    }
}

#[test]
fn every_message_agrees_with_theirs() {
    let mut report = Report::default();
    for_each_pair!(compare, &mut report);

    // The table must cover every message we generate.
    let mut ours = Names(BTreeSet::new());
    kafka_protocol::messages::visit_all(&mut ours);
    // This project's own API (the metadata quorum's RaftMessage) has no counterpart in theirs.
    let own: BTreeSet<&str> = ["RaftMessageRequest", "RaftMessageResponse"].into();
    let missing: Vec<_> = ours
        .0
        .difference(&report.names)
        .filter(|n| !own.contains(*n))
        .collect();
    if !missing.is_empty() {
        report.failures.push(format!(
            "messages we generate but the table does not compare: {missing:?}"
        ));
    }
    // Every lax-encoder entry must still be needed.
    for (i, l) in THEIRS_LAX.iter().enumerate() {
        if !report.lax_hits.contains_key(&i) {
            report.failures.push(format!(
                "THEIRS_LAX entry {}.{} ({:?}) never applied: remove it",
                l.message, l.field, l.refusal
            ));
        }
    }

    let list = |v: &[(&str, i16)]| {
        v.iter()
            .map(|(n, v)| format!("{n} v{v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "same version: {} message × version pairs over {} messages, {} cases \
         ({SEEDS} random values + the default values each), all byte-identical both ways",
        report.compared.len(),
        report.names.len(),
        report.cases
    );
    println!("  compared: {}", list(&report.compared));
    println!(
        "  not compared, only we define ({}): {}",
        report.ours_only.len(),
        list(&report.ours_only)
    );
    println!(
        "  not compared, only they define ({}): {}",
        report.theirs_only.len(),
        list(&report.theirs_only)
    );
    println!("  exceptions ({}):", report.excepted.len());
    for e in &report.excepted {
        println!("    {e}");
    }
    println!(
        "cross-version: {} (made for, encoded at) version pairs, {} cases ({CROSS_SEEDS} values each): \
         {} agree (same bytes or both refuse); {} where ours refuses unknown tagged fields at a \
         non-flexible version and theirs drops them",
        report.cross_pairs,
        report.cross_agree + report.cross_dropped_tags + report.lax_hits.values().sum::<usize>(),
        report.cross_agree,
        report.cross_dropped_tags
    );
    for (i, n) in &report.lax_hits {
        let l = &THEIRS_LAX[*i];
        println!(
            "  {n} where ours refuses {}.{} ({:?}) and theirs writes it: {}",
            l.message, l.field, l.refusal, l.definition
        );
    }
    if !report.failures.is_empty() {
        for f in &report.failures {
            eprintln!("FAILED {f}\n");
        }
        panic!(
            "{} disagreements with theirs (details above)",
            report.failures.len()
        );
    }
}

/// Checks `make(version)` at every version both codecs define: both must write the same bytes
/// and read each other's, or both must refuse. Returns how many versions wrote.
fn large<O, T>(make: impl Fn(i16) -> O) -> usize
where
    O: Message + Debug + PartialEq,
    T: TheirEncodable + TheirDecodable + TheirMessage + Debug + PartialEq,
{
    let common = O::VERSIONS
        .intersect(&VersionRange::new(T::VERSIONS.min, T::VERSIONS.max))
        .expect("common versions");
    let mut written = 0;
    for v in common.min..=common.max {
        let ours = make(v);
        match ours_encode(&ours, v) {
            Ok(_) => {
                if let Err(e) = agree_on::<O, T>(&ours, v) {
                    panic!("{} v{v}: {e}", O::NAME);
                }
                written += 1;
            }
            Err(ours_err) => {
                // Ours refuses: theirs must not produce something ours cannot express.
                let theirs = theirs_encode(
                    &theirs_decode_all::<T>(
                        &ours_encode(&make(common.max), common.max).expect("encodable at max"),
                        common.max,
                    )
                    .expect("theirs decodes"),
                    v,
                );
                assert!(
                    theirs.is_err(),
                    "{} v{v}: ours refuses ({ours_err}) but theirs writes it",
                    O::NAME
                );
            }
        }
    }
    written
}

/// Values beyond what the random generator reaches: counts, lengths and tags that need
/// multi-byte unsigned varints (compact arrays, strings, bytes, records; tagged-field headers),
/// and a string too long for an `int16` length.
#[test]
fn large_values_agree() {
    use kafka_protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
    use kafka_protocol::messages::metadata_response::{
        MetadataResponse, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::messages::produce_request::{
        PartitionProduceData, ProduceRequest, TopicProduceData,
    };
    use kafka_protocol::messages::sasl_authenticate_request::SaslAuthenticateRequest;

    let flexible = |first: Option<i16>, v: i16| first.is_some_and(|f| v >= f);
    let tags = |v: bool| {
        let mut t = kafka_protocol::primitives::UnknownTaggedFields::new();
        if v {
            t.insert(100_000, Bytes::from(vec![0xab; 300]));
            t.insert(2_000_000, Bytes::new());
        }
        t
    };

    let metadata_response = |v: i16| {
        let mut r = MetadataResponse::default();
        let flex = flexible(MetadataResponse::FIRST_FLEXIBLE_VERSION, v);
        r.topics = (0..150)
            .map(|i| {
                let mut t = MetadataResponseTopic::default();
                t.name = Some(format!("{i:0>200}"));
                t.partitions = (0..3)
                    .map(|p| {
                        let mut part = MetadataResponsePartition::default();
                        part.partition_index = p;
                        part.replica_nodes = (0..130).collect();
                        part.isr_nodes = (0..200).rev().collect();
                        part.unknown_tagged_fields = tags(flex);
                        part
                    })
                    .collect();
                t
            })
            .collect();
        r.unknown_tagged_fields = tags(flex);
        r
    };
    let n = large::<MetadataResponse, theirs::messages::MetadataResponse>(metadata_response);
    assert_eq!(n, 13);

    // A topic name of 40 000 bytes: too long for the int16 length of versions 0-8, fine for
    // the compact (unsigned varint) length of 9+.
    let metadata_request = |v: i16| {
        let mut r = MetadataRequest::default();
        let mut t = MetadataRequestTopic::default();
        t.name = Some("x".repeat(40_000));
        r.topics = Some(vec![t; 3]);
        r.unknown_tagged_fields = tags(flexible(MetadataRequest::FIRST_FLEXIBLE_VERSION, v));
        r
    };
    let n = large::<MetadataRequest, theirs::messages::MetadataRequest>(metadata_request);
    assert_eq!(n, 4, "only the flexible versions 9-12 can carry the name");

    let produce = |v: i16| {
        let mut r = ProduceRequest::default();
        let mut t = TopicProduceData::default();
        t.name = "t".into();
        t.partition_data = (0..2)
            .map(|i| {
                let mut p = PartitionProduceData::default();
                p.index = i;
                p.records = Some(Bytes::from(vec![i as u8; 20_000]).into());
                p
            })
            .collect();
        r.topic_data = vec![t];
        r.unknown_tagged_fields = tags(flexible(ProduceRequest::FIRST_FLEXIBLE_VERSION, v));
        r
    };
    let n = large::<ProduceRequest, theirs::messages::ProduceRequest>(produce);
    assert_eq!(n, 9);

    let sasl = |v: i16| {
        let mut r = SaslAuthenticateRequest::default();
        r.auth_bytes = Bytes::from(vec![7; 70_000]);
        r.unknown_tagged_fields =
            tags(flexible(SaslAuthenticateRequest::FIRST_FLEXIBLE_VERSION, v));
        r
    };
    let n = large::<SaslAuthenticateRequest, theirs::messages::SaslAuthenticateRequest>(sasl);
    assert_eq!(n, 3);
}

/// Corrupted frames per message × version (each a random value with one or two bytes
/// overwritten).
const MUTATION_SEEDS: u64 = 16;
const MUTATIONS_PER_SEED: u64 = 16;

#[derive(Default)]
struct Mutations {
    /// Corrupted frames tried.
    tried: usize,
    /// Frames our decoder accepted (the rest it rejected, which is never compared: theirs
    /// preallocates arrays from unchecked length prefixes, so feeding it frames we reject
    /// could make it abort on a multi-gigabyte allocation).
    ours_accepted: usize,
    /// Frames ours accepted and theirs rejected with "Tag N is not valid for version V",
    /// by (message, version, their error, explanation).
    tag_rejections: BTreeMap<(&'static str, i16, String, String), usize>,
    /// Disagreements.
    failures: Vec<String>,
}

/// Why theirs may reject, with "Tag N is not valid for version V", a corrupted frame that
/// ours accepts: either the tag is one of [`STRAY_TAGS`] (which ours now rejects too, so this
/// no longer happens for them) or theirs' newer definitions give the tag to
/// a field of a later version that our definitions do not have (in which case ours, like
/// Kafka's Java code generated from the same definitions, keeps it as an unknown tag).
fn tag_not_valid(message: &str, version: i16, their_error: &str) -> Option<String> {
    let tag: u32 = their_error
        .strip_prefix("Tag ")?
        .split(' ')
        .next()?
        .parse()
        .ok()?;
    if !their_error.contains(" is not valid for version ") {
        return None;
    }
    // The error does not say which struct the tag was in, so list every explanation.
    let why: Vec<&str> = STRAY_TAGS
        .iter()
        .filter(|s| {
            s.message == message && s.tag == tag && (s.versions.0..=s.versions.1).contains(&version)
        })
        .map(|s| s.what)
        .chain(
            THEIRS_NEWER_TAGS
                .iter()
                .filter(|(m, t, _)| *m == message && *t == tag)
                .map(|(_, _, why)| *why),
        )
        .collect();
    (!why.is_empty()).then(|| why.join("; or "))
}

/// Tags that only theirs' (Kafka 4.x) definitions assign, in versions we do not define.
const THEIRS_NEWER_TAGS: &[(&str, u32, &str)] = &[(
    "FetchRequest",
    1,
    "theirs: FetchRequest.FetchPartition tag 1 is HighWatermark, v18+ (not in our definitions)",
)];

/// Whenever our decoder accepts a corrupted frame, theirs must accept it too, consume the
/// same bytes and read the same thing: both re-encodings identical.
fn mutated<O, T>(stats: &mut Mutations)
where
    O: Message + Random + Debug,
    T: TheirEncodable + TheirDecodable + TheirMessage + Debug,
{
    let Some(common) = O::VERSIONS.intersect(&VersionRange::new(T::VERSIONS.min, T::VERSIONS.max))
    else {
        return;
    };
    for v in common.min..=common.max {
        if exception_for(O::NAME, v).is_some() {
            continue;
        }
        for seed in 0..MUTATION_SEEDS {
            let Ok(clean) = ours_encode(&O::random(&mut TestRng::new(seed), v), v) else {
                continue;
            };
            if clean.is_empty() {
                continue;
            }
            let mut rng = TestRng::new(0x5eed_0000 + seed);
            for _ in 0..MUTATIONS_PER_SEED {
                let mut bytes = clean.to_vec();
                for _ in 0..1 + rng.gen_below(2) {
                    let at = rng.gen_below(bytes.len() as u64) as usize;
                    bytes[at] = match rng.gen_below(6) {
                        0 => 0x00,
                        1 => 0x01,
                        2 => 0x7f,
                        3 => 0x80,
                        4 => 0xff,
                        _ => rng.gen_u64() as u8,
                    };
                }
                let bytes = Bytes::from(bytes);
                stats.tried += 1;
                let mut ours_buf = bytes.clone();
                let Ok(ours) = O::decode(&mut ours_buf, v) else {
                    continue;
                };
                stats.ours_accepted += 1;
                let mut theirs_buf = bytes.clone();
                let theirs = match catch_unwind(AssertUnwindSafe(|| T::decode(&mut theirs_buf, v)))
                {
                    Ok(Ok(t)) => t,
                    Ok(Err(e)) => {
                        let e = format!("{e:#}");
                        if let Some(why) = tag_not_valid(O::NAME, v, &e) {
                            *stats
                                .tag_rejections
                                .entry((O::NAME, v, e, why))
                                .or_default() += 1;
                            continue;
                        }
                        stats.failures.push(format!(
                            "{} v{v}: ours accepts, theirs rejects ({e})\n      bytes: {}\n      our value: {ours:?}",
                            O::NAME,
                            hex(&bytes)
                        ));
                        continue;
                    }
                    Err(_) => {
                        stats.failures.push(format!(
                            "{} v{v}: ours accepts, theirs panics\n      bytes: {}\n      our value: {ours:?}",
                            O::NAME,
                            hex(&bytes)
                        ));
                        continue;
                    }
                };
                if ours_buf.len() != theirs_buf.len() {
                    stats.failures.push(format!(
                        "{} v{v}: ours reads {} bytes, theirs {}\n      bytes: {}\n      our value:   {ours:?}\n      their value: {theirs:?}",
                        O::NAME,
                        bytes.len() - ours_buf.len(),
                        bytes.len() - theirs_buf.len(),
                        hex(&bytes)
                    ));
                    continue;
                }
                let mut o = BytesMut::new();
                let ours_again = ours.encode(&mut o, v).map(|()| o.freeze());
                let theirs_again = theirs_encode(&theirs, v);
                match (ours_again, theirs_again) {
                    (Ok(o), Ok(t)) if o == t => {}
                    (o, t) => stats.failures.push(format!(
                        "{} v{v}: both read the frame but re-encode differently\n      bytes:  {}\n      ours:   {}\n      theirs: {}\n      our value:   {ours:?}\n      their value: {theirs:?}",
                        O::NAME,
                        hex(&bytes),
                        o.map_or_else(|e| format!("error {e}"), |b| hex(&b)),
                        t.map_or_else(|e| e, |b| hex(&b)),
                    )),
                }
            }
        }
    }
}

#[test]
fn corrupted_frames_read_alike() {
    let mut stats = Mutations::default();
    for_each_pair!(mutated, &mut stats);
    println!(
        "corrupted frames: {} tried, {} accepted by ours and compared with theirs, {} disagreements",
        stats.tried,
        stats.ours_accepted,
        stats.failures.len()
    );
    for ((name, v, e, why), n) in &stats.tag_rejections {
        println!("  {n} {name} v{v} frames ours accepts and theirs rejects ({e}): {why}");
    }
    for f in &stats.failures {
        eprintln!("FAILED {f}\n");
    }
    assert!(
        stats.failures.is_empty(),
        "{} disagreements",
        stats.failures.len()
    );
}

/// A tagged field whose tag ours does not reject below the field's first version.
struct StrayTag {
    /// Our `Message::NAME`.
    message: &'static str,
    /// The tag.
    tag: u32,
    /// The field, and from which version it is valid, for the report.
    what: &'static str,
    /// The versions (flexible, but before the field) where the tag is stray.
    versions: (i16, i16),
    /// Our value at a version, carrying the tag as an unknown tagged field where the field
    /// lives.
    make: fn(i16) -> Bytes,
}

fn encoded<O: Message>(value: O, version: i16) -> Bytes {
    ours_encode(&value, version).expect("encodable")
}

/// A tagged-field payload (its content does not matter: Kafka rejects the tag itself).
fn payload() -> Bytes {
    Bytes::from_static(&[0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 9, 0])
}

/// Tags of tagged fields that exist only from a version later than their message's first
/// flexible version. Kafka's generated Java code knows the tag in every flexible version and,
/// below the field's first version, throws "Tag N is not valid for version V"; theirs does the
/// same. Ours once kept such a tag as an unknown tagged field (and then wrote it twice at a
/// version that knows the field); the generator now refuses it, and these cases check that.
const STRAY_TAGS: &[StrayTag] = &[
    StrayTag {
        message: "FetchRequest",
        tag: 1,
        what: "fixed: FetchRequest tag 1 is ReplicaState (15+), ours keeps it as unknown at 12-14",
        versions: (12, 14),
        make: |v| {
            let mut r = kafka_protocol::messages::FetchRequest::default();
            r.unknown_tagged_fields.insert(1, payload());
            encoded(r, v)
        },
    },
    StrayTag {
        message: "FetchRequest",
        tag: 0,
        what: "fixed: FetchRequest.FetchPartition tag 0 is ReplicaDirectoryId (17+), ours keeps it as unknown at 12-16",
        versions: (12, 16),
        make: |v| {
            use kafka_protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
            let mut p = FetchPartition::default();
            p.unknown_tagged_fields.insert(0, Bytes::from(vec![7; 16]));
            let mut t = FetchTopic::default();
            t.partitions = vec![p];
            let mut r = FetchRequest::default();
            r.topics = vec![t];
            encoded(r, v)
        },
    },
    StrayTag {
        message: "FetchResponse",
        tag: 0,
        what: "fixed: FetchResponse tag 0 is NodeEndpoints (16+), ours keeps it as unknown at 12-15",
        versions: (12, 15),
        make: |v| {
            let mut r = kafka_protocol::messages::FetchResponse::default();
            r.unknown_tagged_fields.insert(0, Bytes::from_static(&[1]));
            encoded(r, v)
        },
    },
    StrayTag {
        message: "ProduceResponse",
        tag: 0,
        what: "fixed: ProduceResponse tag 0 is NodeEndpoints (10+), ours keeps it as unknown at 9",
        versions: (9, 9),
        make: |v| {
            let mut r = kafka_protocol::messages::ProduceResponse::default();
            r.unknown_tagged_fields.insert(0, Bytes::from_static(&[1]));
            encoded(r, v)
        },
    },
    StrayTag {
        message: "ProduceResponse",
        tag: 0,
        what: "fixed: ProduceResponse.PartitionProduceResponse tag 0 is CurrentLeader (10+), ours keeps it as unknown at 9",
        versions: (9, 9),
        make: |v| {
            use kafka_protocol::messages::produce_response::{
                PartitionProduceResponse, ProduceResponse, TopicProduceResponse,
            };
            let mut p = PartitionProduceResponse::default();
            p.unknown_tagged_fields.insert(0, payload().slice(..9));
            let mut t = TopicProduceResponse::default();
            t.partition_responses = vec![p];
            let mut r = ProduceResponse::default();
            r.responses = vec![t];
            encoded(r, v)
        },
    },
];

fn stray<O, T>(s: &StrayTag)
where
    O: Message + Debug,
    T: TheirDecodable + Debug,
{
    for v in s.versions.0..=s.versions.1 {
        let bytes = (s.make)(v);
        let theirs = theirs_decode_all::<T>(&bytes, v);
        let expected = format!("Tag {} is not valid for version {v}", s.tag);
        assert!(
            theirs.as_ref().is_err_and(|e| e.contains(&expected)),
            "{} v{v}: theirs should reject with {expected:?}, got {theirs:?}",
            s.message
        );
        match ours_decode_all::<O>(&bytes, v) {
            Ok(ours) => panic!(
                "{} v{v}: ours accepts {} although Kafka rejects it ({expected}); ours reads {ours:?}",
                s.message,
                hex(&bytes)
            ),
            Err(e) => assert!(
                e.contains(&format!("tag {} is not valid", s.tag)),
                "{} v{v}: ours rejects for another reason: {e}",
                s.message
            ),
        }
    }
}

/// [`STRAY_TAGS`]: ours, Kafka's Java code and theirs all reject each stray tag.
#[test]
fn stray_tags_below_their_versions() {
    for s in STRAY_TAGS {
        match s.message {
            "FetchRequest" => {
                stray::<kafka_protocol::messages::FetchRequest, theirs::messages::FetchRequest>(s)
            }
            "FetchResponse" => {
                stray::<kafka_protocol::messages::FetchResponse, theirs::messages::FetchResponse>(s)
            }
            "ProduceResponse" => stray::<
                kafka_protocol::messages::ProduceResponse,
                theirs::messages::ProduceResponse,
            >(s),
            other => panic!("no types for {other}"),
        }
    }
}

/// What [`STRAY_TAGS`] once caused: a FetchRequest read at v12 with tag 1 (ReplicaState, 15+)
/// was kept as an unknown tag and, written at v15 next to a real replica state, carried tag 1
/// twice. Now the v12 frame is refused, so that cannot happen.
#[test]
fn stray_tag_is_refused_instead_of_written_twice() {
    use kafka_protocol::messages::fetch_request::FetchRequest;
    let stray = {
        let mut r = FetchRequest::default();
        r.unknown_tagged_fields.insert(1, payload());
        encoded(r, 12)
    };
    let err =
        ours_decode_all::<FetchRequest>(&stray, 12).expect_err("a stray tag 1 at v12 is refused");
    assert!(err.contains("tag 1 is not valid"), "{err}");
}

/// Our API key and header versions (request and response) against theirs, for every request
/// type and every version both define.
fn headers<O, T>(checked: &mut usize)
where
    O: kafka_protocol::Request,
    T: TheirRequest,
{
    assert_eq!(O::KEY.id(), T::KEY, "{}: API key", O::NAME);
    let common = O::VERSIONS
        .intersect(&VersionRange::new(
            <T as TheirMessage>::VERSIONS.min,
            <T as TheirMessage>::VERSIONS.max,
        ))
        .expect("common versions");
    for v in common.min..=common.max {
        assert_eq!(
            O::KEY.request_header_version(v),
            T::header_version(v),
            "{} v{v}: request header version",
            O::NAME
        );
        assert_eq!(
            O::KEY.response_header_version(v),
            <T::Response as HeaderVersion>::header_version(v),
            "{} v{v}: response header version",
            O::NAME
        );
        assert_eq!(
            O::KEY.is_flexible(v),
            O::FIRST_FLEXIBLE_VERSION.is_some_and(|f| v >= f),
            "{} v{v}: flexibility of the API key table and the message",
            O::NAME
        );
        *checked += 1;
    }
}

#[test]
fn header_versions_agree() {
    let mut checked = 0;
    macro_rules! requests {
        ($($name:ident),* $(,)?) => {
            $(headers::<kafka_protocol::messages::$name, theirs::messages::$name>(&mut checked);)*
            // This project's own RaftMessage has no counterpart in theirs.
            let ours: BTreeSet<i16> = kafka_protocol::ApiKey::ALL
                .iter()
                .filter(|k| **k != kafka_protocol::ApiKey::RaftMessage)
                .map(|k| k.id())
                .collect();
            let listed: BTreeSet<i16> = [$(<kafka_protocol::messages::$name as kafka_protocol::Request>::KEY.id()),*].into();
            assert_eq!(ours, listed, "every API key's request is listed");
        };
    }
    requests!(
        ProduceRequest,
        FetchRequest,
        ListOffsetsRequest,
        MetadataRequest,
        OffsetCommitRequest,
        OffsetFetchRequest,
        FindCoordinatorRequest,
        JoinGroupRequest,
        HeartbeatRequest,
        LeaveGroupRequest,
        SyncGroupRequest,
        DescribeGroupsRequest,
        ListGroupsRequest,
        SaslHandshakeRequest,
        ApiVersionsRequest,
        CreateTopicsRequest,
        DeleteTopicsRequest,
        DeleteRecordsRequest,
        InitProducerIdRequest,
        OffsetForLeaderEpochRequest,
        AddPartitionsToTxnRequest,
        AddOffsetsToTxnRequest,
        EndTxnRequest,
        TxnOffsetCommitRequest,
        DescribeAclsRequest,
        CreateAclsRequest,
        DeleteAclsRequest,
        DescribeConfigsRequest,
        AlterConfigsRequest,
        SaslAuthenticateRequest,
        CreatePartitionsRequest,
        DeleteGroupsRequest,
        IncrementalAlterConfigsRequest,
        OffsetDeleteRequest,
        DescribeClusterRequest,
        BrokerRegistrationRequest,
        BrokerHeartbeatRequest,
        UnregisterBrokerRequest,
        DescribeQuorumRequest,
        AllocateProducerIdsRequest,
    );
    println!(
        "header versions: 40 of Kafka's APIs, {checked} API × version pairs: API key, request and response \
         header versions agree"
    );
}

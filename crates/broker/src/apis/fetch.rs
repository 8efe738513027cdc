//! Fetch: reads from the log, fetch sessions (KIP-227) as Kafka 4.x clients use them; fetches
//! waiting for `min.bytes` park in [`super::fetch_purgatory`] without holding a handler thread.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ResponseKind};
use kafka_protocol::records::Records;
use kafka_protocol::{ApiKey, ErrorCode, Uuid, VersionRange};
use kafka_server::{RequestContext, Responder};
use kafka_storage::TopicPartition;

use super::{ApiHandler, BrokerState};

/// Fetch sessions kept at most (Kafka's `max.incremental.fetch.session.cache.slots`).
const MAX_SESSIONS: usize = 1000;
/// A parked fetch never waits longer than this, whatever it asked for.
const MAX_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
struct CachedPartition {
    topic_id: Uuid,
    fetch_offset: i64,
    max_bytes: i32,
    last_high_watermark: i64,
    last_log_start: i64,
}

#[derive(Debug)]
struct Session {
    next_epoch: i32,
    partitions: BTreeMap<(String, i32), CachedPartition>,
    last_used: Instant,
}

/// Incremental fetch sessions by id.
#[derive(Debug, Default)]
pub struct FetchSessionCache {
    sessions: Mutex<HashMap<i32, Session>>,
}

/// One partition to read.
#[derive(Debug, Clone)]
pub(super) struct Planned {
    topic: String,
    topic_id: Uuid,
    partition: i32,
    fetch_offset: i64,
    max_bytes: i32,
    /// Set when the topic id is unknown.
    error: Option<ErrorCode>,
}

/// What a fetch will read and how to answer.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    partitions: Vec<Planned>,
    max_bytes: usize,
    min_bytes: usize,
    read_committed: bool,
    /// Session id to answer with, and whether the answer is incremental.
    session: Option<(i32, bool)>,
    top_error: ErrorCode,
}

impl Plan {
    /// Whether `data` (what [`read`] gave, `bytes` of records) answers the fetch now: enough
    /// bytes, or an error on any partition or the whole request (Kafka's `DelayedFetch`
    /// completes at once when a partition is gone or its offset is out of range).
    pub(super) fn satisfied(&self, data: &[(Planned, PartitionData)], bytes: usize) -> bool {
        bytes >= self.min_bytes
            || self.top_error != ErrorCode::None
            || data.iter().any(|(_, d)| d.error_code != 0)
    }

    /// The partitions it reads, each once: what a parked fetch watches.
    pub(super) fn watched(&self) -> Vec<TopicPartition> {
        let mut tps: Vec<TopicPartition> = self
            .partitions
            .iter()
            .filter(|p| p.error.is_none())
            .map(|p| TopicPartition {
                topic: p.topic.clone(),
                partition: p.partition,
            })
            .collect();
        tps.sort_unstable();
        tps.dedup();
        tps
    }
}

impl FetchSessionCache {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<i32, Session>) -> T) -> T {
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s)
    }

    /// Drops a deleted topic from every session.
    pub fn forget_topic(&self, topic: &str) {
        self.with(|s| {
            for session in s.values_mut() {
                session.partitions.retain(|(t, _), _| t != topic);
            }
        });
    }

    fn new_session_id(sessions: &HashMap<i32, Session>) -> i32 {
        loop {
            let mut b = [0u8; 4];
            let _ = getrandom::getrandom(&mut b);
            let id = (i32::from_be_bytes(b) & i32::MAX).max(1);
            if !sessions.contains_key(&id) {
                return id;
            }
        }
    }

    /// Updates the cached state of the partitions answered, and says which to include.
    fn filter_incremental(
        &self,
        session_id: i32,
        data: &mut Vec<(Planned, PartitionData)>,
        incremental: bool,
    ) {
        self.with(|s| {
            let Some(session) = s.get_mut(&session_id) else {
                return;
            };
            data.retain(|(p, d)| {
                let Some(cached) = session.partitions.get_mut(&(p.topic.clone(), p.partition))
                else {
                    return true;
                };
                let changed = d.error_code != 0
                    || d.records.as_ref().is_some_and(|r| !r.is_empty())
                    || d.high_watermark != cached.last_high_watermark
                    || d.log_start_offset != cached.last_log_start;
                cached.last_high_watermark = d.high_watermark;
                cached.last_log_start = d.log_start_offset;
                !incremental || changed
            });
        });
    }
}

fn resolve(
    state: &BrokerState,
    version: i16,
    name: &str,
    id: Uuid,
) -> (String, Uuid, Option<ErrorCode>) {
    if version >= 13 {
        match state.topics.get_by_id(&id) {
            Some(t) => (t.name, id, None),
            None => (String::new(), id, Some(ErrorCode::UnknownTopicId)),
        }
    } else {
        let id = state.topics.get(name).map(|t| t.id).unwrap_or(Uuid::ZERO);
        (name.to_string(), id, None)
    }
}

fn plan(state: &BrokerState, version: i16, req: &FetchRequest) -> Plan {
    let requested: Vec<Planned> = req
        .topics
        .iter()
        .flat_map(|t| {
            let (topic, topic_id, error) = resolve(state, version, &t.topic, t.topic_id);
            t.partitions.iter().map(move |p| Planned {
                topic: topic.clone(),
                topic_id,
                partition: p.partition,
                fetch_offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes,
                error,
            })
        })
        .collect();
    let mut plan = Plan {
        partitions: requested.clone(),
        max_bytes: req.max_bytes.max(0) as usize,
        min_bytes: req.min_bytes.max(0) as usize,
        read_committed: req.isolation_level == 1,
        session: None,
        top_error: ErrorCode::None,
    };
    if version < 7 {
        return plan;
    }
    let cache = &state.fetch_sessions;
    match (req.session_id, req.session_epoch) {
        (0, -1) => {}
        (id, -1) => {
            cache.with(|s| s.remove(&id));
        }
        (id, 0) => {
            let new_id = cache.with(|s| {
                s.remove(&id);
                if s.len() >= MAX_SESSIONS {
                    if let Some(oldest) = s.iter().min_by_key(|(_, v)| v.last_used).map(|(k, _)| *k)
                    {
                        s.remove(&oldest);
                    }
                }
                let new_id = FetchSessionCache::new_session_id(s);
                let partitions = requested
                    .iter()
                    .filter(|p| p.error.is_none())
                    .map(|p| {
                        (
                            (p.topic.clone(), p.partition),
                            CachedPartition {
                                topic_id: p.topic_id,
                                fetch_offset: p.fetch_offset,
                                max_bytes: p.max_bytes,
                                last_high_watermark: -1,
                                last_log_start: -1,
                            },
                        )
                    })
                    .collect();
                s.insert(
                    new_id,
                    Session {
                        next_epoch: 1,
                        partitions,
                        last_used: Instant::now(),
                    },
                );
                new_id
            });
            plan.session = Some((new_id, false));
        }
        (id, epoch) => {
            let outcome = cache.with(|s| {
                let Some(session) = s.get_mut(&id) else {
                    return Err(ErrorCode::FetchSessionIdNotFound);
                };
                if session.next_epoch != epoch {
                    return Err(ErrorCode::InvalidFetchSessionEpoch);
                }
                session.next_epoch = if epoch == i32::MAX { 1 } else { epoch + 1 };
                session.last_used = Instant::now();
                for p in requested.iter().filter(|p| p.error.is_none()) {
                    let entry = session
                        .partitions
                        .entry((p.topic.clone(), p.partition))
                        .or_insert(CachedPartition {
                            topic_id: p.topic_id,
                            fetch_offset: p.fetch_offset,
                            max_bytes: p.max_bytes,
                            last_high_watermark: -1,
                            last_log_start: -1,
                        });
                    entry.fetch_offset = p.fetch_offset;
                    entry.max_bytes = p.max_bytes;
                }
                for f in &req.forgotten_topics_data {
                    let (topic, _, _) = resolve(state, version, &f.topic, f.topic_id);
                    for part in &f.partitions {
                        session.partitions.remove(&(topic.clone(), *part));
                    }
                }
                Ok(session
                    .partitions
                    .iter()
                    .map(|((topic, partition), c)| Planned {
                        topic: topic.clone(),
                        topic_id: c.topic_id,
                        partition: *partition,
                        fetch_offset: c.fetch_offset,
                        max_bytes: c.max_bytes,
                        error: None,
                    })
                    .chain(requested.iter().filter(|p| p.error.is_some()).cloned())
                    .collect::<Vec<_>>())
            });
            match outcome {
                Ok(parts) => {
                    plan.partitions = parts;
                    plan.session = Some((id, true));
                }
                Err(code) => {
                    plan.partitions.clear();
                    plan.top_error = code;
                }
            }
        }
    }
    plan
}

/// Reads what `plan` asks for; returns the data and the bytes of records read. Records are
/// file regions of the log, sent with sendfile on plaintext, never copied here.
pub(super) fn read(state: &BrokerState, plan: &Plan) -> (Vec<(Planned, PartitionData)>, usize) {
    let mut total = 0usize;
    let mut out = Vec::with_capacity(plan.partitions.len());
    for p in &plan.partitions {
        let mut d = PartitionData::default()
            .with_partition_index(p.partition)
            .with_high_watermark(-1)
            .with_last_stable_offset(-1);
        if plan.read_committed {
            d = d.with_aborted_transactions(Some(Vec::new()));
        } else {
            d = d.with_aborted_transactions(None);
        }
        if let Some(code) = p.error {
            out.push((p.clone(), d.with_error_code(code.code())));
            continue;
        }
        let tp = TopicPartition {
            topic: p.topic.clone(),
            partition: p.partition,
        };
        let log = match state.leader_log(&tp, -1) {
            Ok((log, _)) => log,
            Err(code) => {
                out.push((p.clone(), d.with_error_code(code.code())));
                continue;
            }
        };
        let hw = log.high_watermark();
        d = d
            .with_high_watermark(hw)
            .with_last_stable_offset(hw)
            .with_log_start_offset(log.log_start_offset());
        let budget = plan
            .max_bytes
            .saturating_sub(total)
            .min(p.max_bytes.max(0) as usize);
        if budget == 0 && total > 0 {
            out.push((p.clone(), d.with_records(Some(Records::new()))));
            continue;
        }
        match log.read(p.fetch_offset, budget, Some(hw), total == 0) {
            Ok(info) => {
                let records = info.records.map_or_else(Records::new, Records::File);
                total += records.len();
                out.push((p.clone(), d.with_records(Some(records))));
            }
            Err(e) => {
                let code = super::errors::storage_error_code(&e);
                out.push((p.clone(), d.with_error_code(code.code())));
            }
        }
    }
    (out, total)
}

pub(super) fn respond(
    state: &BrokerState,
    plan: &Plan,
    mut data: Vec<(Planned, PartitionData)>,
    responder: Responder,
) {
    let version = responder.api_version();
    if let Some((id, incremental)) = plan.session {
        state
            .fetch_sessions
            .filter_incremental(id, &mut data, incremental);
    }
    let mut topics: Vec<FetchableTopicResponse> = Vec::new();
    for (p, d) in data {
        let same = topics.last().is_some_and(|t| {
            if version >= 13 {
                t.topic_id == p.topic_id
            } else {
                t.topic == p.topic
            }
        });
        if !same {
            let mut t = FetchableTopicResponse::default();
            if version >= 13 {
                t.topic_id = p.topic_id;
            } else {
                t.topic = p.topic.clone();
            }
            topics.push(t);
        }
        if let Some(t) = topics.last_mut() {
            t.partitions.push(d);
        }
    }
    let body = FetchResponse::default()
        .with_error_code(plan.top_error.code())
        .with_session_id(plan.session.map_or(0, |(id, _)| id))
        .with_responses(topics);
    responder.respond(ResponseKind::Fetch(body));
}

/// Serves Fetch: now, or parked until data arrives or its wait ends.
#[derive(Debug)]
pub(crate) struct Fetch;

impl ApiHandler for Fetch {
    type Request = FetchRequest;
    const KEY: ApiKey = ApiKey::Fetch;
    const VERSIONS: VersionRange = VersionRange::new(4, 18);

    fn handle(
        state: &Arc<BrokerState>,
        _context: &RequestContext,
        req: FetchRequest,
        mut responder: Responder,
    ) {
        let plan = plan(state, responder.api_version(), &req);
        let max_wait = Duration::from_millis(req.max_wait_ms.max(0) as u64).min(MAX_WAIT);
        // The parked fetch keeps only its plan: the body goes, and with it the receive memory.
        drop(req);
        let (data, bytes) = read(state, &plan);
        if plan.partitions.is_empty() || max_wait.is_zero() || plan.satisfied(&data, bytes) {
            respond(state, &plan, data, responder);
            return;
        }
        responder.park();
        state
            .purgatory
            .park(state, responder, plan, Instant::now() + max_wait);
    }
}

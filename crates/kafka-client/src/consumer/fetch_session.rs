//! Incremental fetch sessions (KIP-227), client side (Java's `FetchSessionHandler`).
//!
//! A consumer fetching the same partitions from a broker over and over need not list them all
//! in every request: after a *full* fetch the broker may open a session, and from then on each
//! *incremental* request carries only the partitions whose fetch parameters changed, plus the
//! ones to drop ("forgotten"); the broker remembers the rest. Each request carries the session
//! id and an epoch that increases by one per request, so that a lost or reordered request is
//! detected and the session restarted with a full fetch.
//!
//! One [`FetchSessionHandler`] per broker node. For every request: take a
//! [`builder`](FetchSessionHandler::builder), [`add`](FetchRequestBuilder::add) every
//! partition to fetch from that node, [`build`](FetchRequestBuilder::build), turn the result
//! into a request with [`FetchRequestData::to_fetch_request`]; then report the outcome with
//! [`handle_response`](FetchSessionHandler::handle_response) or
//! [`handle_error`](FetchSessionHandler::handle_error).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use kafka_protocol::messages::fetch_request::{
    FetchPartition, FetchRequest, FetchTopic, ForgottenTopic,
};
use kafka_protocol::{ErrorCode, Uuid};

use crate::{Error, NodeId, Result, TopicPartition};

/// The session id of "no session".
pub const INVALID_SESSION_ID: i32 = 0;
/// The epoch that asks for a new session (closing any previous one): a full fetch.
pub const INITIAL_EPOCH: i32 = 0;
/// The epoch that closes a session without opening a new one: a full, sessionless fetch.
pub const FINAL_EPOCH: i32 = -1;

/// The first Fetch version with sessions.
const FIRST_SESSION_VERSION: i16 = 7;
/// The first Fetch version that names topics by id.
const FIRST_TOPIC_ID_VERSION: i16 = 13;

/// The session id and epoch a fetch request carries (Java's `FetchMetadata`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FetchMetadata {
    /// The session, or [`INVALID_SESSION_ID`].
    pub session_id: i32,
    /// The request's position in the session: [`INITIAL_EPOCH`], [`FINAL_EPOCH`] or 1.. .
    pub epoch: i32,
}

impl FetchMetadata {
    /// No session yet: the next request is full and asks for one.
    pub const INITIAL: FetchMetadata = FetchMetadata {
        session_id: INVALID_SESSION_ID,
        epoch: INITIAL_EPOCH,
    };

    /// Whether a request with this metadata lists every partition (no session, a new one, or
    /// a closing one).
    pub fn is_full(&self) -> bool {
        self.epoch == INITIAL_EPOCH || self.epoch == FINAL_EPOCH
    }

    /// The epoch after `epoch`: it wraps to 1 after `i32::MAX` (0 would mean "new session"),
    /// and stays final once final.
    pub fn next_epoch(epoch: i32) -> i32 {
        if epoch < 0 {
            FINAL_EPOCH
        } else if epoch == i32::MAX {
            1
        } else {
            epoch + 1
        }
    }

    fn new_incremental(session_id: i32) -> Self {
        FetchMetadata {
            session_id,
            epoch: Self::next_epoch(INITIAL_EPOCH),
        }
    }

    fn next_incremental(self) -> Self {
        FetchMetadata {
            session_id: self.session_id,
            epoch: Self::next_epoch(self.epoch),
        }
    }

    /// Keeps the id so the broker frees the old session while creating a new one.
    fn next_close_existing_attempt_new(self) -> Self {
        FetchMetadata {
            session_id: self.session_id,
            epoch: INITIAL_EPOCH,
        }
    }

    fn next_close_existing(self) -> Self {
        FetchMetadata {
            session_id: self.session_id,
            epoch: FINAL_EPOCH,
        }
    }
}

/// What the consumer asks of one partition in a fetch request.
///
/// Compared field by field: a partition whose data is unchanged since the last request in
/// the session is not resent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartitionData {
    /// The offset to fetch from.
    pub fetch_offset: i64,
    /// The log start offset of a follower; -1 for consumers.
    pub log_start_offset: i64,
    /// `max.partition.fetch.bytes`.
    pub max_bytes: i32,
    /// The leader epoch the consumer knows, so a stale leader or consumer is detected;
    /// `None` is sent as -1 (no check).
    pub current_leader_epoch: Option<i32>,
}

/// The isolation level of fetches (`isolation.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IsolationLevel {
    /// Read everything up to the high watermark, including records of open and aborted
    /// transactions. Kafka's default.
    #[default]
    ReadUncommitted,
    /// Read only up to the last stable offset, skipping aborted transactions.
    ReadCommitted,
}

impl IsolationLevel {
    /// The value on the wire.
    pub fn as_i8(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }

    /// Parses an `isolation.level` value (`read_uncommitted`, `read_committed`),
    /// case-insensitively as Java does.
    pub fn from_config(value: &str) -> Result<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "read_uncommitted" => Ok(IsolationLevel::ReadUncommitted),
            "read_committed" => Ok(IsolationLevel::ReadCommitted),
            _ => Err(Error::Config(format!(
                "isolation.level: invalid value {value:?} (expected read_uncommitted or \
                 read_committed)"
            ))),
        }
    }
}

/// The request-level fetch settings, with the Java consumer's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchParams {
    /// `fetch.max.wait.ms`: how long the broker may wait for `min_bytes`.
    pub max_wait_ms: i32,
    /// `fetch.min.bytes`.
    pub min_bytes: i32,
    /// `fetch.max.bytes`: the response size limit over all partitions.
    pub max_bytes: i32,
    /// `isolation.level`.
    pub isolation_level: IsolationLevel,
    /// `client.rack`, for fetching from the closest replica (v11+); empty for none.
    pub rack_id: String,
}

impl Default for FetchParams {
    fn default() -> Self {
        FetchParams {
            max_wait_ms: 500,
            min_bytes: 1,
            max_bytes: 52_428_800,
            isolation_level: IsolationLevel::ReadUncommitted,
            rack_id: String::new(),
        }
    }
}

/// What one fetch request must carry, built by [`FetchRequestBuilder::build`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequestData {
    /// The partitions listed in the request, in order: all of them for a full request, only
    /// the new and changed ones for an incremental one.
    pub to_send: Vec<(TopicPartition, PartitionData)>,
    /// Partitions to drop from the session (incremental requests only).
    pub to_forget: Vec<TopicPartition>,
    /// Every partition the request fetches, listed or implied by the session; a response
    /// partition is interpreted against its entry here.
    pub session_partitions: BTreeMap<TopicPartition, PartitionData>,
    /// The session id and epoch to send.
    pub metadata: FetchMetadata,
}

impl FetchRequestData {
    /// Whether the request lists every partition.
    pub fn is_full(&self) -> bool {
        self.metadata.is_full()
    }

    /// Whether every topic the request names has a known id, i.e. whether it can be sent as
    /// Fetch v13+; if not, use v12 at most (as Java does).
    pub fn topic_ids_known(&self, topic_id: &dyn Fn(&str) -> Option<Uuid>) -> bool {
        let known = |topic: &str| topic_id(topic).is_some_and(|id| id != Uuid::ZERO);
        self.to_send.iter().all(|(tp, _)| known(&tp.topic))
            && self.to_forget.iter().all(|tp| known(&tp.topic))
            && self.session_partitions.keys().all(|tp| known(&tp.topic))
    }

    /// The topic name behind each id in this request's session, to read a v13+ response
    /// (which names topics by id only). An id in the response that is not here means the
    /// response is not for this session: report it with
    /// [`FetchSessionHandler::handle_error`].
    pub fn topic_names_by_id(
        &self,
        topic_id: &dyn Fn(&str) -> Option<Uuid>,
    ) -> HashMap<Uuid, Arc<str>> {
        let mut names = HashMap::new();
        for tp in self.session_partitions.keys() {
            if let Some(id) = topic_id(&tp.topic).filter(|id| *id != Uuid::ZERO) {
                names.entry(id).or_insert_with(|| tp.topic.clone());
            }
        }
        names
    }

    /// The Fetch request for this data at `version` (4 to 17), as a consumer sends it
    /// (`replica_id` -1).
    ///
    /// From v13 topics go by id: `topic_id` resolves them (from metadata), and an unknown id
    /// is an error. Before v7 there are no sessions, so only full requests can be expressed.
    pub fn to_fetch_request(
        &self,
        version: i16,
        params: &FetchParams,
        topic_id: &dyn Fn(&str) -> Option<Uuid>,
    ) -> Result<FetchRequest> {
        if version < FIRST_SESSION_VERSION && !self.is_full() {
            return Err(Error::Other(format!(
                "Fetch v{version} has no sessions; cannot send an incremental fetch"
            )));
        }
        let by_id = version >= FIRST_TOPIC_ID_VERSION;
        let resolve = |topic: &Arc<str>| -> Result<Uuid> {
            match topic_id(topic) {
                Some(id) if id != Uuid::ZERO => Ok(id),
                _ => Err(Error::Other(format!(
                    "no topic id known for {topic}; Fetch v{version} names topics by id"
                ))),
            }
        };

        // Consecutive partitions of one topic share an entry, keeping the request's order
        // (a full response fills partitions in request order until max_bytes).
        let mut topics: Vec<FetchTopic> = Vec::new();
        let mut current: Option<&Arc<str>> = None;
        for (tp, data) in &self.to_send {
            let partition = FetchPartition::default()
                .with_partition(tp.partition)
                .with_current_leader_epoch(data.current_leader_epoch.unwrap_or(-1))
                .with_fetch_offset(data.fetch_offset)
                .with_log_start_offset(data.log_start_offset)
                .with_partition_max_bytes(data.max_bytes);
            match topics.last_mut() {
                Some(topic) if current == Some(&tp.topic) => topic.partitions.push(partition),
                _ => {
                    let topic = if by_id {
                        FetchTopic::default().with_topic_id(resolve(&tp.topic)?)
                    } else {
                        FetchTopic::default().with_topic(tp.topic.to_string())
                    };
                    topics.push(topic.with_partitions(vec![partition]));
                    current = Some(&tp.topic);
                }
            }
        }

        let mut forgotten: Vec<(Arc<str>, Vec<i32>)> = Vec::new();
        for tp in &self.to_forget {
            match forgotten.iter_mut().find(|(t, _)| *t == tp.topic) {
                Some((_, partitions)) => partitions.push(tp.partition),
                None => forgotten.push((tp.topic.clone(), vec![tp.partition])),
            }
        }
        let forgotten_topics_data = forgotten
            .into_iter()
            .map(|(topic, partitions)| {
                let entry = if by_id {
                    ForgottenTopic::default().with_topic_id(resolve(&topic)?)
                } else {
                    ForgottenTopic::default().with_topic(topic.to_string())
                };
                Ok(entry.with_partitions(partitions))
            })
            .collect::<Result<Vec<_>>>()?;

        Ok(FetchRequest::default()
            .with_replica_id(-1)
            .with_max_wait_ms(params.max_wait_ms)
            .with_min_bytes(params.min_bytes)
            .with_max_bytes(params.max_bytes)
            .with_isolation_level(params.isolation_level.as_i8())
            .with_session_id(self.metadata.session_id)
            .with_session_epoch(self.metadata.epoch)
            .with_topics(topics)
            .with_forgotten_topics_data(forgotten_topics_data)
            .with_rack_id(params.rack_id.clone()))
    }
}

/// The fetch session with one broker node: which partitions the broker remembers and what
/// the next request's session id and epoch are.
#[derive(Debug, Clone)]
pub struct FetchSessionHandler {
    node: NodeId,
    next_metadata: FetchMetadata,
    /// The partitions of the session in the order they were added, with the data last sent.
    session_partitions: Vec<(TopicPartition, PartitionData)>,
}

impl FetchSessionHandler {
    /// No session with `node` yet.
    pub fn new(node: NodeId) -> Self {
        FetchSessionHandler {
            node,
            next_metadata: FetchMetadata::INITIAL,
            session_partitions: Vec::new(),
        }
    }

    /// The node this session is with.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// The current session id ([`INVALID_SESSION_ID`] when none).
    pub fn session_id(&self) -> i32 {
        self.next_metadata.session_id
    }

    /// The metadata the next request will carry.
    pub fn next_metadata(&self) -> FetchMetadata {
        self.next_metadata
    }

    /// The partitions in the session.
    pub fn session_partitions(&self) -> impl Iterator<Item = &TopicPartition> {
        self.session_partitions.iter().map(|(tp, _)| tp)
    }

    /// Starts the next request: add every partition wanted from this node, then build.
    pub fn builder(&mut self) -> FetchRequestBuilder<'_> {
        FetchRequestBuilder {
            handler: self,
            next: Vec::new(),
            positions: HashMap::new(),
        }
    }

    /// Processes the response to the last built request: its top-level `error_code`, its
    /// `session_id`, and every partition it lists (for v13+ responses, topic ids mapped back
    /// with [`FetchRequestData::topic_names_by_id`]).
    ///
    /// Returns whether the response fits the session and may be processed: a full response
    /// must list exactly the session's partitions, an incremental one only partitions of
    /// the session. On `false` the next request is a full one.
    pub fn handle_response(
        &mut self,
        error_code: ErrorCode,
        session_id: i32,
        responded_partitions: &[TopicPartition],
    ) -> bool {
        if error_code != ErrorCode::None {
            tracing::info!(
                node = self.node,
                ?error_code,
                metadata = ?self.next_metadata,
                "fetch session error; next fetch is a full one"
            );
            self.next_metadata = if error_code == ErrorCode::FetchSessionIdNotFound {
                FetchMetadata::INITIAL
            } else {
                self.next_metadata.next_close_existing_attempt_new()
            };
            return false;
        }
        let in_session: HashSet<&TopicPartition> =
            self.session_partitions.iter().map(|(tp, _)| tp).collect();
        let responded: HashSet<&TopicPartition> = responded_partitions.iter().collect();
        let extra = responded
            .iter()
            .filter(|tp| !in_session.contains(*tp))
            .count();

        if self.next_metadata.is_full() {
            let omitted = in_session
                .iter()
                .filter(|tp| !responded.contains(*tp))
                .count();
            if extra > 0 || omitted > 0 {
                tracing::info!(
                    node = self.node,
                    extra,
                    omitted,
                    "invalid full fetch response; next fetch is a full one"
                );
                self.next_metadata = FetchMetadata::INITIAL;
                return false;
            }
            self.next_metadata = if session_id == INVALID_SESSION_ID {
                FetchMetadata::INITIAL
            } else {
                FetchMetadata::new_incremental(session_id)
            };
            true
        } else {
            if extra > 0 {
                tracing::info!(
                    node = self.node,
                    extra,
                    "incremental fetch response names partitions outside the session; \
                     next fetch is a full one"
                );
                self.next_metadata = self.next_metadata.next_close_existing_attempt_new();
                return false;
            }
            self.next_metadata = if session_id == INVALID_SESSION_ID {
                // The broker closed the session.
                FetchMetadata::INITIAL
            } else {
                self.next_metadata.next_incremental()
            };
            true
        }
    }

    /// The request failed (disconnection, timeout, unreadable or unexpected response): the
    /// next request is full and replaces the session.
    pub fn handle_error(&mut self) {
        self.next_metadata = self.next_metadata.next_close_existing_attempt_new();
    }

    /// The next request closes the session ([`FINAL_EPOCH`]) without opening another; send
    /// one (it may list no partitions) when the consumer closes, to free the broker's slot.
    pub fn close(&mut self) {
        self.next_metadata = self.next_metadata.next_close_existing();
    }
}

/// Collects the partitions of the next request (Java's `FetchSessionHandler.Builder`).
#[derive(Debug)]
pub struct FetchRequestBuilder<'a> {
    handler: &'a mut FetchSessionHandler,
    next: Vec<(TopicPartition, PartitionData)>,
    positions: HashMap<TopicPartition, usize>,
}

impl FetchRequestBuilder<'_> {
    /// Wants `tp` fetched with `data`. Adding a partition twice keeps its first place and the
    /// last data.
    pub fn add(&mut self, tp: TopicPartition, data: PartitionData) -> &mut Self {
        match self.positions.get(&tp).and_then(|&i| self.next.get_mut(i)) {
            Some(entry) => entry.1 = data,
            None => {
                self.positions.insert(tp.clone(), self.next.len());
                self.next.push((tp, data));
            }
        }
        self
    }

    /// Computes the request and updates the session to what it describes.
    pub fn build(self) -> FetchRequestData {
        let FetchRequestBuilder {
            handler,
            next,
            positions,
        } = self;
        let metadata = handler.next_metadata;

        if metadata.is_full() {
            handler.session_partitions = next.clone();
            return FetchRequestData {
                session_partitions: next.iter().cloned().collect(),
                to_send: next,
                to_forget: Vec::new(),
                metadata,
            };
        }

        // Incremental: partitions already in the session stay in place; changed ones are
        // resent after the new ones; missing ones are forgotten.
        let mut session = Vec::with_capacity(next.len());
        let mut altered = Vec::new();
        let mut to_forget = Vec::new();
        for (tp, previous) in std::mem::take(&mut handler.session_partitions) {
            match positions.get(&tp).and_then(|&i| next.get(i)) {
                Some((_, data)) => {
                    if *data != previous {
                        altered.push((tp.clone(), *data));
                    }
                    session.push((tp, *data));
                }
                None => to_forget.push(tp),
            }
        }
        let already: HashSet<TopicPartition> = session.iter().map(|(tp, _)| tp.clone()).collect();
        let added: Vec<(TopicPartition, PartitionData)> = next
            .into_iter()
            .filter(|(tp, _)| !already.contains(tp))
            .collect();
        session.extend(added.iter().cloned());
        handler.session_partitions = session;

        let mut to_send = added;
        to_send.extend(altered);
        FetchRequestData {
            session_partitions: handler.session_partitions.iter().cloned().collect(),
            to_send,
            to_forget,
            metadata,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::{Decodable, Encodable};

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition::new(topic, partition)
    }

    fn data(offset: i64) -> PartitionData {
        PartitionData {
            fetch_offset: offset,
            log_start_offset: -1,
            max_bytes: 1_048_576,
            current_leader_epoch: Some(0),
        }
    }

    fn build(h: &mut FetchSessionHandler, parts: &[(TopicPartition, i64)]) -> FetchRequestData {
        let mut b = h.builder();
        for (p, offset) in parts {
            b.add(p.clone(), data(*offset));
        }
        b.build()
    }

    fn sent(d: &FetchRequestData) -> Vec<TopicPartition> {
        d.to_send.iter().map(|(tp, _)| tp.clone()).collect()
    }

    fn no_ids(_: &str) -> Option<Uuid> {
        None
    }

    #[test]
    fn next_epoch_rules() {
        assert_eq!(FetchMetadata::next_epoch(0), 1);
        assert_eq!(FetchMetadata::next_epoch(41), 42);
        assert_eq!(FetchMetadata::next_epoch(i32::MAX), 1);
        assert_eq!(FetchMetadata::next_epoch(FINAL_EPOCH), FINAL_EPOCH);
        assert!(FetchMetadata::INITIAL.is_full());
        assert!(FetchMetadata {
            session_id: 5,
            epoch: FINAL_EPOCH
        }
        .is_full());
        assert!(!FetchMetadata {
            session_id: 5,
            epoch: 1
        }
        .is_full());
    }

    #[test]
    fn session_lifecycle_epochs() {
        let mut h = FetchSessionHandler::new(1);
        let parts = [(tp("a", 0), 0), (tp("a", 1), 0)];

        let first = build(&mut h, &parts);
        assert_eq!(first.metadata, FetchMetadata::INITIAL);
        assert!(first.is_full());
        assert_eq!(sent(&first), vec![tp("a", 0), tp("a", 1)]);

        // The broker opens session 77.
        assert!(h.handle_response(ErrorCode::None, 77, &[tp("a", 0), tp("a", 1)]));
        assert_eq!(h.session_id(), 77);
        for epoch in 1..=3 {
            let d = build(&mut h, &parts);
            assert_eq!(
                d.metadata,
                FetchMetadata {
                    session_id: 77,
                    epoch
                }
            );
            assert!(d.to_send.is_empty(), "nothing changed");
            assert!(h.handle_response(ErrorCode::None, 77, &[]));
        }

        // Closing: final epoch, then no session.
        h.close();
        let d = build(&mut h, &[]);
        assert_eq!(
            d.metadata,
            FetchMetadata {
                session_id: 77,
                epoch: FINAL_EPOCH
            }
        );
        assert!(d.is_full());
        assert!(h.handle_response(ErrorCode::None, INVALID_SESSION_ID, &[]));
        assert_eq!(h.next_metadata(), FetchMetadata::INITIAL);
    }

    #[test]
    fn epoch_wraps_to_one() {
        let mut h = FetchSessionHandler::new(1);
        h.next_metadata = FetchMetadata {
            session_id: 9,
            epoch: i32::MAX,
        };
        let d = build(&mut h, &[]);
        assert_eq!(d.metadata.epoch, i32::MAX);
        assert!(h.handle_response(ErrorCode::None, 9, &[]));
        assert_eq!(
            h.next_metadata(),
            FetchMetadata {
                session_id: 9,
                epoch: 1
            }
        );
    }

    #[test]
    fn sessionless_broker_keeps_full_fetches() {
        let mut h = FetchSessionHandler::new(1);
        for _ in 0..3 {
            let d = build(&mut h, &[(tp("a", 0), 5)]);
            assert!(d.is_full());
            assert_eq!(sent(&d), vec![tp("a", 0)]);
            assert!(h.handle_response(ErrorCode::None, INVALID_SESSION_ID, &[tp("a", 0)]));
        }
    }

    #[test]
    fn incremental_requests_send_only_changes() {
        let mut h = FetchSessionHandler::new(1);
        build(&mut h, &[(tp("a", 0), 0), (tp("a", 1), 0), (tp("b", 0), 0)]);
        assert!(h.handle_response(ErrorCode::None, 5, &[tp("a", 0), tp("a", 1), tp("b", 0)]));

        // a-0 advanced, a-1 unchanged, b-0 removed, c-0 new.
        let d = build(
            &mut h,
            &[(tp("c", 0), 0), (tp("a", 0), 10), (tp("a", 1), 0)],
        );
        assert!(!d.is_full());
        assert_eq!(
            d.metadata,
            FetchMetadata {
                session_id: 5,
                epoch: 1
            }
        );
        // New partitions first, then changed ones.
        assert_eq!(sent(&d), vec![tp("c", 0), tp("a", 0)]);
        assert_eq!(d.to_send[1].1.fetch_offset, 10);
        assert_eq!(d.to_forget, vec![tp("b", 0)]);
        assert_eq!(
            d.session_partitions.keys().cloned().collect::<Vec<_>>(),
            vec![tp("a", 0), tp("a", 1), tp("c", 0)]
        );
        assert_eq!(d.session_partitions[&tp("a", 1)].fetch_offset, 0);
        assert_eq!(
            h.session_partitions().cloned().collect::<Vec<_>>(),
            vec![tp("a", 0), tp("a", 1), tp("c", 0)]
        );

        // The response lists only partitions with data: fine for an incremental fetch.
        assert!(h.handle_response(ErrorCode::None, 5, &[tp("a", 0)]));
        let d = build(
            &mut h,
            &[(tp("a", 0), 10), (tp("a", 1), 0), (tp("c", 0), 0)],
        );
        assert!(d.to_send.is_empty());
        assert!(d.to_forget.is_empty());
        assert_eq!(d.metadata.epoch, 2);

        // A changed leader epoch or max bytes also counts as a change.
        assert!(h.handle_response(ErrorCode::None, 5, &[]));
        let mut b = h.builder();
        b.add(tp("a", 0), data(10));
        b.add(
            tp("a", 1),
            PartitionData {
                current_leader_epoch: Some(1),
                ..data(0)
            },
        );
        b.add(tp("c", 0), data(0));
        let d = b.build();
        assert_eq!(sent(&d), vec![tp("a", 1)]);
    }

    #[test]
    fn adding_twice_keeps_first_place_and_last_data() {
        let mut h = FetchSessionHandler::new(1);
        let mut b = h.builder();
        b.add(tp("a", 0), data(1))
            .add(tp("a", 1), data(1))
            .add(tp("a", 0), data(2));
        let d = b.build();
        assert_eq!(sent(&d), vec![tp("a", 0), tp("a", 1)]);
        assert_eq!(d.to_send[0].1.fetch_offset, 2);
    }

    #[test]
    fn invalid_full_response_resets() {
        let mut h = FetchSessionHandler::new(1);
        build(&mut h, &[(tp("a", 0), 0), (tp("a", 1), 0)]);
        // Omits a-1.
        assert!(!h.handle_response(ErrorCode::None, 5, &[tp("a", 0)]));
        assert_eq!(h.next_metadata(), FetchMetadata::INITIAL);

        build(&mut h, &[(tp("a", 0), 0)]);
        // Names a partition that was not asked for.
        assert!(!h.handle_response(ErrorCode::None, 5, &[tp("a", 0), tp("z", 0)]));
        assert_eq!(h.next_metadata(), FetchMetadata::INITIAL);
    }

    #[test]
    fn invalid_incremental_response_closes_and_restarts() {
        let mut h = FetchSessionHandler::new(1);
        build(&mut h, &[(tp("a", 0), 0)]);
        assert!(h.handle_response(ErrorCode::None, 5, &[tp("a", 0)]));
        build(&mut h, &[(tp("a", 0), 0)]);
        assert!(!h.handle_response(ErrorCode::None, 5, &[tp("z", 0)]));
        assert_eq!(
            h.next_metadata(),
            FetchMetadata {
                session_id: 5,
                epoch: INITIAL_EPOCH
            }
        );

        // The next request is full and lists everything again.
        let d = build(&mut h, &[(tp("a", 0), 3)]);
        assert!(d.is_full());
        assert_eq!(sent(&d), vec![tp("a", 0)]);
    }

    #[test]
    fn broker_closing_the_session_returns_to_full_fetches() {
        let mut h = FetchSessionHandler::new(1);
        build(&mut h, &[(tp("a", 0), 0)]);
        assert!(h.handle_response(ErrorCode::None, 5, &[tp("a", 0)]));
        build(&mut h, &[(tp("a", 0), 0)]);
        assert!(h.handle_response(ErrorCode::None, INVALID_SESSION_ID, &[]));
        assert_eq!(h.next_metadata(), FetchMetadata::INITIAL);
    }

    #[test]
    fn session_errors_reset_to_full_fetch() {
        let mut h = FetchSessionHandler::new(1);
        build(&mut h, &[(tp("a", 0), 0)]);
        assert!(h.handle_response(ErrorCode::None, 5, &[tp("a", 0)]));

        build(&mut h, &[(tp("a", 0), 0)]);
        assert!(!h.handle_response(ErrorCode::FetchSessionIdNotFound, 0, &[]));
        assert_eq!(h.next_metadata(), FetchMetadata::INITIAL);

        build(&mut h, &[(tp("a", 0), 0)]);
        assert!(h.handle_response(ErrorCode::None, 6, &[tp("a", 0)]));
        build(&mut h, &[(tp("a", 0), 0)]);
        assert!(!h.handle_response(ErrorCode::InvalidFetchSessionEpoch, 6, &[]));
        assert_eq!(
            h.next_metadata(),
            FetchMetadata {
                session_id: 6,
                epoch: INITIAL_EPOCH
            }
        );
        let d = build(&mut h, &[(tp("a", 0), 0)]);
        assert!(d.is_full());
        assert_eq!(sent(&d), vec![tp("a", 0)]);
    }

    #[test]
    fn network_error_restarts_the_session() {
        let mut h = FetchSessionHandler::new(3);
        build(&mut h, &[(tp("a", 0), 0)]);
        assert!(h.handle_response(ErrorCode::None, 8, &[tp("a", 0)]));
        build(&mut h, &[(tp("a", 0), 0)]);
        h.handle_error();
        assert_eq!(
            h.next_metadata(),
            FetchMetadata {
                session_id: 8,
                epoch: INITIAL_EPOCH
            }
        );
        assert!(build(&mut h, &[(tp("a", 0), 0)]).is_full());
    }

    #[test]
    fn fetch_request_by_name() {
        let mut h = FetchSessionHandler::new(1);
        build(&mut h, &[(tp("a", 0), 0), (tp("b", 0), 0), (tp("b", 1), 0)]);
        assert!(h.handle_response(ErrorCode::None, 5, &[tp("a", 0), tp("b", 0), tp("b", 1)]));
        let d = build(&mut h, &[(tp("b", 0), 4), (tp("c", 0), 0), (tp("c", 1), 2)]);
        let params = FetchParams {
            isolation_level: IsolationLevel::ReadCommitted,
            ..FetchParams::default()
        };
        let req = d.to_fetch_request(12, &params, &no_ids).unwrap();
        assert_eq!(req.replica_id, -1);
        assert_eq!(req.max_wait_ms, 500);
        assert_eq!(req.min_bytes, 1);
        assert_eq!(req.max_bytes, 52_428_800);
        assert_eq!(req.isolation_level, 1);
        assert_eq!(req.session_id, 5);
        assert_eq!(req.session_epoch, 1);
        assert_eq!(req.rack_id, "");
        let topics: Vec<(&str, Vec<(i32, i64)>)> = req
            .topics
            .iter()
            .map(|t| {
                (
                    t.topic.as_str(),
                    t.partitions
                        .iter()
                        .map(|p| (p.partition, p.fetch_offset))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            topics,
            vec![("c", vec![(0, 0), (1, 2)]), ("b", vec![(0, 4)])]
        );
        let first = &req.topics[0].partitions[0];
        assert_eq!(first.current_leader_epoch, 0);
        assert_eq!(first.partition_max_bytes, 1_048_576);
        assert_eq!(first.log_start_offset, -1);
        let forgotten: Vec<(&str, &[i32])> = req
            .forgotten_topics_data
            .iter()
            .map(|t| (t.topic.as_str(), &t.partitions[..]))
            .collect();
        assert_eq!(forgotten, vec![("a", &[0][..]), ("b", &[1][..])]);

        // It encodes and decodes at that version.
        let mut buf = BytesMut::new();
        req.encode(&mut buf, 12).unwrap();
        assert_eq!(FetchRequest::decode(&mut buf.freeze(), 12).unwrap(), req);
    }

    #[test]
    fn fetch_request_by_topic_id() {
        let ids: HashMap<&str, Uuid> = [
            ("a", Uuid::from_u64_pair(1, 1)),
            ("b", Uuid::from_u64_pair(2, 2)),
        ]
        .into_iter()
        .collect();
        let resolver = |t: &str| ids.get(t).copied();
        let mut h = FetchSessionHandler::new(1);
        build(&mut h, &[(tp("a", 0), 0), (tp("b", 0), 0)]);
        assert!(h.handle_response(ErrorCode::None, 5, &[tp("a", 0), tp("b", 0)]));
        let d = build(&mut h, &[(tp("a", 0), 9)]);
        assert!(d.topic_ids_known(&resolver));
        let req = d
            .to_fetch_request(17, &FetchParams::default(), &resolver)
            .unwrap();
        assert_eq!(req.topics.len(), 1);
        assert_eq!(req.topics[0].topic_id, ids["a"]);
        assert_eq!(req.topics[0].topic, "");
        assert_eq!(req.forgotten_topics_data[0].topic_id, ids["b"]);
        assert_eq!(req.replica_state.replica_id, -1);
        let mut buf = BytesMut::new();
        req.encode(&mut buf, 17).unwrap();
        assert_eq!(FetchRequest::decode(&mut buf.freeze(), 17).unwrap(), req);

        let names = d.topic_names_by_id(&resolver);
        assert_eq!(names.get(&ids["a"]).map(|s| &**s), Some("a"));
        assert!(!names.contains_key(&ids["b"]), "b left the session");

        // A topic without an id cannot go into v13+.
        let mut h = FetchSessionHandler::new(1);
        let d = build(&mut h, &[(tp("a", 0), 0), (tp("x", 0), 0)]);
        assert!(!d.topic_ids_known(&resolver));
        assert!(matches!(
            d.to_fetch_request(13, &FetchParams::default(), &resolver),
            Err(Error::Other(_))
        ));
        assert!(d
            .to_fetch_request(12, &FetchParams::default(), &resolver)
            .is_ok());
    }

    #[test]
    fn old_versions_take_only_full_requests() {
        let mut h = FetchSessionHandler::new(1);
        let d = build(&mut h, &[(tp("a", 0), 0)]);
        let req = d
            .to_fetch_request(4, &FetchParams::default(), &no_ids)
            .unwrap();
        let mut buf = BytesMut::new();
        req.encode(&mut buf, 4).unwrap();

        assert!(h.handle_response(ErrorCode::None, 5, &[tp("a", 0)]));
        let d = build(&mut h, &[(tp("a", 0), 1)]);
        assert!(d
            .to_fetch_request(6, &FetchParams::default(), &no_ids)
            .is_err());
        assert!(d
            .to_fetch_request(7, &FetchParams::default(), &no_ids)
            .is_ok());
    }

    #[test]
    fn isolation_level_from_config() {
        assert_eq!(
            IsolationLevel::from_config("read_committed").unwrap(),
            IsolationLevel::ReadCommitted
        );
        assert_eq!(
            IsolationLevel::from_config("READ_UNCOMMITTED").unwrap(),
            IsolationLevel::ReadUncommitted
        );
        assert!(matches!(
            IsolationLevel::from_config("dirty"),
            Err(Error::Config(_))
        ));
        assert_eq!(IsolationLevel::ReadCommitted.as_i8(), 1);
    }
}

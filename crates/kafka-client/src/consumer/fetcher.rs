//! The `Fetcher`: Fetch requests per leader with incremental sessions (KIP-227), records
//! handed out from the responses without copying, and offset resets with ListOffsets.
//! Kafka's `org.apache.kafka.clients.consumer.internals.Fetcher` and `OffsetFetcher`.
//!
//! At most one Fetch is in flight per node. A partition with data waiting to be handed out is
//! fetched again from where that data ends, so a partition never waits for its own next
//! response while others of its broker are at their log end (which would hold the shared
//! fetch for `fetch.max.wait.ms`); at most [`MAX_BUFFERED_CHUNKS`] responses' worth is kept
//! per partition, so memory stays bounded.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::FetchResponse;
use kafka_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use kafka_protocol::messages::{RequestKind, ResponseKind};
use kafka_protocol::records::{RecordBatch, RecordBatches, Records, TimestampType};
use kafka_protocol::{ApiKey, ErrorCode};

use crate::consumer::fetch_session::{
    FetchParams, FetchRequestData, FetchSessionHandler, PartitionData,
};
use crate::consumer::subscription::{FetchPosition, OffsetResetStrategy, SubscriptionState};
use crate::error::{Error, Result};
use crate::network_client::{ClientResponse, NetworkClient};
use crate::types::{NodeId, TopicPartition};

/// Tags of Fetch requests (high byte 2, low bits the node).
pub(crate) const TAG_FETCH: u64 = 2 << 56;
/// Tags of ListOffsets requests (high byte 3).
pub(crate) const TAG_LIST_OFFSETS: u64 = 3 << 56;

/// A record handed to the application (Kafka's `ConsumerRecord`). Key, value and header
/// values share the fetch response's buffer (no copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// The topic (shared with every record of the partition).
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
    /// Create or log-append time, ms since the epoch.
    pub timestamp: i64,
    /// Which of the two the timestamp is.
    pub timestamp_type: TimestampType,
    /// The key.
    pub key: Option<Bytes>,
    /// The value.
    pub value: Option<Bytes>,
    /// Headers in order (a key may repeat; values may be null).
    pub headers: Vec<(String, Option<Bytes>)>,
    /// The leader epoch of the batch, if the broker set one.
    pub leader_epoch: Option<i32>,
}

/// How many responses' worth of one partition may wait to be handed out.
const MAX_BUFFERED_CHUNKS: usize = 2;

/// One partition's data from one response, handed out over one or more polls.
#[derive(Debug)]
struct CompletedFetch {
    tp: TopicPartition,
    /// The batches not handed out yet (partial tail allowed: the broker may cut one).
    batches: Bytes,
    /// The position the data was fetched for; if the position moved (seek), it is dropped.
    fetch_offset: i64,
    /// The offset after its last complete batch: where the next fetch of the partition starts.
    end_offset: i64,
}

/// The offset after the last complete batch of `batches` (`fetch_offset` if there is none).
fn chunk_end(batches: &Bytes, fetch_offset: i64) -> i64 {
    RecordBatches::new(batches.clone())
        .allow_partial_tail()
        .map_while(std::result::Result::ok)
        .map(|b| b.next_offset())
        .fold(fetch_offset, i64::max)
}

#[derive(Debug)]
struct InFlightFetch {
    data: FetchRequestData,
    version: i16,
}

/// Fetching state of one consumer.
#[derive(Debug)]
pub(crate) struct Fetcher {
    params: FetchParams,
    max_partition_fetch_bytes: i32,
    check_crcs: bool,
    sessions: HashMap<NodeId, FetchSessionHandler>,
    in_flight: HashMap<NodeId, InFlightFetch>,
    completed: VecDeque<CompletedFetch>,
    list_offsets_in_flight: BTreeMap<u64, Vec<(TopicPartition, OffsetResetStrategy)>>,
    next_list_offsets: u64,
    retry_backoff: Duration,
    /// An error to report from the next poll (e.g. out of range with no reset policy).
    pending_error: Option<Error>,
}

impl Fetcher {
    pub(crate) fn new(
        params: FetchParams,
        max_partition_fetch_bytes: i32,
        check_crcs: bool,
        retry_backoff: Duration,
    ) -> Self {
        Fetcher {
            params,
            max_partition_fetch_bytes,
            check_crcs,
            sessions: HashMap::new(),
            in_flight: HashMap::new(),
            completed: VecDeque::new(),
            list_offsets_in_flight: BTreeMap::new(),
            next_list_offsets: 0,
            retry_backoff,
            pending_error: None,
        }
    }

    pub(crate) fn take_error(&mut self) -> Option<Error> {
        self.pending_error.take()
    }

    /// Drops buffered data of partitions no longer assigned or fetchable, and data that does
    /// not continue from the partition's position (it moved: seek, reset).
    pub(crate) fn clear_buffered(&mut self, subs: &SubscriptionState) {
        let mut next: HashMap<TopicPartition, i64> = HashMap::new();
        self.completed.retain(|c| {
            if !subs.is_fetchable(&c.tp) {
                return false;
            }
            let Some(position) = subs.position(&c.tp) else {
                return false;
            };
            let expected = next.entry(c.tp.clone()).or_insert(position.offset);
            if c.fetch_offset != *expected {
                return false;
            }
            *expected = c.end_offset;
            true
        });
    }

    /// Where the next fetch of `tp` starts: after its buffered data, or at its position;
    /// `None` while enough of it is buffered.
    fn next_fetch_offset(&self, tp: &TopicPartition, position: FetchPosition) -> Option<i64> {
        let mut chunks = 0;
        let mut end = position.offset;
        for c in self.completed.iter().filter(|c| c.tp == *tp) {
            chunks += 1;
            if c.end_offset <= c.fetch_offset {
                // No complete batch in it: fetching on would return the same bytes.
                return None;
            }
            end = c.end_offset;
        }
        (chunks < MAX_BUFFERED_CHUNKS).then_some(end)
    }

    /// Sends a Fetch to every leader of fetchable partitions that has none in flight.
    pub(crate) fn send_fetches(
        &mut self,
        client: &mut NetworkClient,
        subs: &SubscriptionState,
        now: Instant,
    ) {
        let mut by_node: BTreeMap<NodeId, Vec<(TopicPartition, FetchPosition)>> = BTreeMap::new();
        let cluster = client.metadata().cluster();
        let mut leaderless = false;
        for tp in subs.fetchable_partitions() {
            let Some(position) = subs.position(&tp) else {
                continue;
            };
            let Some(offset) = self.next_fetch_offset(&tp, position) else {
                continue;
            };
            let position = FetchPosition {
                offset,
                leader_epoch: position.leader_epoch,
            };
            match cluster.leader_for(&tp) {
                Some(node) => by_node.entry(node).or_default().push((tp, position)),
                None => leaderless = true,
            }
        }
        if leaderless {
            client.metadata_mut().request_update();
        }
        for (node, partitions) in by_node {
            if self.in_flight.contains_key(&node) || !client.ready(node, now) {
                continue;
            }
            let Some(max_version) = client.api_version(node, ApiKey::Fetch) else {
                continue;
            };
            let session = self
                .sessions
                .entry(node)
                .or_insert_with(|| FetchSessionHandler::new(node));
            let mut builder = session.builder();
            for (tp, position) in partitions {
                builder.add(
                    tp,
                    PartitionData {
                        fetch_offset: position.offset,
                        log_start_offset: -1,
                        max_bytes: self.max_partition_fetch_bytes,
                        current_leader_epoch: position.leader_epoch,
                    },
                );
            }
            let data = builder.build();
            let cluster = client.metadata().cluster();
            let topic_id = |t: &str| cluster.topic_id(t);
            // Topic ids are needed from v13; without them (old metadata) stay at v12.
            let version = if max_version >= 13 && !data.topic_ids_known(&topic_id) {
                12
            } else {
                max_version
            };
            let request = match data.to_fetch_request(version, &self.params, &topic_id) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(node, error = %e, "cannot build a Fetch request");
                    if let Some(s) = self.sessions.get_mut(&node) {
                        s.handle_error();
                    }
                    continue;
                }
            };
            let tag = TAG_FETCH | u64::from(node as u32);
            match client.send(node, &RequestKind::Fetch(request), version, true, tag, now) {
                Ok(_) => {
                    self.in_flight.insert(node, InFlightFetch { data, version });
                }
                Err(e) => {
                    tracing::debug!(node, error = %e, "Fetch not sent");
                    if let Some(s) = self.sessions.get_mut(&node) {
                        s.handle_error();
                    }
                }
            }
        }
    }

    /// Handles a Fetch answer.
    pub(crate) fn handle_fetch_response(
        &mut self,
        client: &mut NetworkClient,
        subs: &mut SubscriptionState,
        response: ClientResponse,
    ) {
        let node = response.node;
        let Some(request) = self.in_flight.remove(&node) else {
            return;
        };
        let r: FetchResponse = match response.result {
            Ok(Some(ResponseKind::Fetch(r))) => r,
            Ok(_) => return,
            Err(e) => {
                tracing::debug!(node, error = %e, "Fetch failed");
                if let Some(s) = self.sessions.get_mut(&node) {
                    s.handle_error();
                }
                return;
            }
        };
        let cluster = client.metadata().cluster();
        let names = request.data.topic_names_by_id(&|t| cluster.topic_id(t));
        let mut responded = Vec::new();
        let mut parts = Vec::new();
        for topic in r.responses {
            let name: Option<Arc<str>> = if request.version >= 13 {
                names.get(&topic.topic_id).cloned()
            } else {
                request
                    .data
                    .session_partitions
                    .keys()
                    .find(|tp| *tp.topic == *topic.topic)
                    .map(|tp| Arc::clone(&tp.topic))
                    .or_else(|| Some(Arc::from(topic.topic.as_str())))
            };
            let Some(name) = name else {
                // A topic id we do not know: the topic was recreated; refresh metadata.
                client.metadata_mut().request_update();
                continue;
            };
            for p in topic.partitions {
                let tp = TopicPartition {
                    topic: Arc::clone(&name),
                    partition: p.partition_index,
                };
                responded.push(tp.clone());
                parts.push((tp, p));
            }
        }
        let session_ok = self
            .sessions
            .entry(node)
            .or_insert_with(|| FetchSessionHandler::new(node))
            .handle_response(ErrorCode::from(r.error_code), r.session_id, &responded);
        if !session_ok {
            return;
        }
        for (tp, p) in parts {
            let Some(sent) = request.data.session_partitions.get(&tp) else {
                continue;
            };
            let code = ErrorCode::from(p.error_code);
            match code {
                ErrorCode::None => {
                    if p.high_watermark >= 0 {
                        subs.update_high_watermark(&tp, p.high_watermark);
                    }
                    if p.last_stable_offset >= 0 {
                        subs.update_last_stable_offset(&tp, p.last_stable_offset);
                    }
                    if p.log_start_offset >= 0 {
                        subs.update_log_start_offset(&tp, p.log_start_offset);
                    }
                    // Only data that continues what is buffered (or the position) is kept.
                    let expected = subs.position(&tp).and_then(|pos| {
                        self.completed
                            .iter()
                            .filter(|c| c.tp == tp)
                            .last()
                            .map(|c| c.end_offset)
                            .or(Some(pos.offset))
                    });
                    // Decoded records are always in memory (slices of the response frame).
                    match p.records.and_then(Records::into_bytes) {
                        Some(records)
                            if !records.is_empty() && expected == Some(sent.fetch_offset) =>
                        {
                            let end_offset = chunk_end(&records, sent.fetch_offset);
                            self.completed.push_back(CompletedFetch {
                                tp,
                                batches: records,
                                fetch_offset: sent.fetch_offset,
                                end_offset,
                            });
                        }
                        _ => {}
                    }
                }
                ErrorCode::OffsetOutOfRange => {
                    let still_there = subs
                        .position(&tp)
                        .is_some_and(|pos| pos.offset == sent.fetch_offset);
                    if !still_there {
                        continue;
                    }
                    if subs.has_default_reset_strategy() {
                        tracing::info!(%tp, offset = sent.fetch_offset, "offset out of range; resetting");
                        let _ = subs.request_offset_reset(&tp);
                    } else {
                        self.pending_error = Some(Error::kafka_with_message(
                            code,
                            Some(format!(
                                "fetch offset {} of {tp} is out of range and auto.offset.reset is none",
                                sent.fetch_offset
                            )),
                        ));
                    }
                }
                ErrorCode::NotLeaderOrFollower
                | ErrorCode::UnknownTopicOrPartition
                | ErrorCode::UnknownTopicId
                | ErrorCode::InconsistentTopicId
                | ErrorCode::FencedLeaderEpoch
                | ErrorCode::UnknownLeaderEpoch
                | ErrorCode::KafkaStorageError
                | ErrorCode::OffsetNotAvailable => {
                    tracing::debug!(%tp, %code, "fetch error; refreshing metadata");
                    client.metadata_mut().request_update();
                }
                ErrorCode::TopicAuthorizationFailed => {
                    self.pending_error = Some(Error::kafka_with_message(
                        code,
                        Some(format!("not authorized to read {}", tp.topic)),
                    ));
                }
                other => tracing::warn!(%tp, code = %other, "fetch error"),
            }
        }
    }

    /// Hands out up to `max` records from the buffered responses, advancing positions.
    pub(crate) fn collect(
        &mut self,
        subs: &mut SubscriptionState,
        max: usize,
    ) -> Result<Vec<ConsumerRecord>> {
        let mut out = Vec::new();
        while out.len() < max {
            let Some(mut fetch) = self.completed.pop_front() else {
                break;
            };
            let Some(position) = subs.position(&fetch.tp) else {
                continue;
            };
            if !subs.is_fetchable(&fetch.tp) || position.offset != fetch.fetch_offset {
                continue;
            }
            let done = self.drain(&mut fetch, subs, position, max - out.len(), &mut out)?;
            if !done {
                self.completed.push_front(fetch);
                break;
            }
        }
        Ok(out)
    }

    /// Moves records of `fetch` into `out`; returns whether it is exhausted.
    fn drain(
        &self,
        fetch: &mut CompletedFetch,
        subs: &mut SubscriptionState,
        mut position: FetchPosition,
        max: usize,
        out: &mut Vec<ConsumerRecord>,
    ) -> Result<bool> {
        let mut taken = 0usize;
        let mut batches = RecordBatches::new(fetch.batches.clone()).allow_partial_tail();
        loop {
            let rest = batches.remaining().clone();
            let Some(batch) = batches.next() else {
                break;
            };
            let batch: RecordBatch = match batch {
                Ok(b) => b,
                Err(e) => {
                    return Err(corrupt(&fetch.tp, position.offset, &e.to_string()));
                }
            };
            if batch.next_offset() <= position.offset {
                continue;
            }
            if self.check_crcs {
                if let Err(e) = batch.validate() {
                    return Err(corrupt(&fetch.tp, batch.base_offset(), &e.to_string()));
                }
            }
            let epoch =
                (batch.partition_leader_epoch() >= 0).then_some(batch.partition_leader_epoch());
            if batch.is_control_batch() {
                position = FetchPosition {
                    offset: batch.next_offset(),
                    leader_epoch: epoch,
                };
                continue;
            }
            let records = batch
                .records()
                .map_err(|e| corrupt(&fetch.tp, batch.base_offset(), &e.to_string()))?;
            let timestamp_type = batch.timestamp_type();
            let mut stopped = false;
            for record in records {
                let record =
                    record.map_err(|e| corrupt(&fetch.tp, batch.base_offset(), &e.to_string()))?;
                if record.offset < position.offset {
                    continue;
                }
                if taken == max {
                    stopped = true;
                    break;
                }
                let headers = record
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            String::from_utf8_lossy(&h.key).into_owned(),
                            h.value.clone(),
                        )
                    })
                    .collect();
                out.push(ConsumerRecord {
                    topic: Arc::clone(&fetch.tp.topic),
                    partition: fetch.tp.partition,
                    offset: record.offset,
                    timestamp: if timestamp_type == TimestampType::LogAppendTime {
                        batch.max_timestamp()
                    } else {
                        record.timestamp
                    },
                    timestamp_type,
                    key: record.key,
                    value: record.value,
                    headers,
                    leader_epoch: epoch,
                });
                taken += 1;
                position = FetchPosition {
                    offset: record.offset + 1,
                    leader_epoch: epoch,
                };
            }
            if stopped {
                fetch.batches = rest;
                fetch.fetch_offset = position.offset;
                let _ = subs.update_position(&fetch.tp, position);
                return Ok(false);
            }
            // Compaction can leave gaps after the last record; the batch says where it ends.
            position = FetchPosition {
                offset: batch.next_offset(),
                leader_epoch: epoch,
            };
        }
        let _ = subs.update_position(&fetch.tp, position);
        Ok(true)
    }

    /// Sends ListOffsets for partitions waiting for a reset.
    pub(crate) fn reset_offsets(
        &mut self,
        client: &mut NetworkClient,
        subs: &mut SubscriptionState,
        now: Instant,
    ) {
        let needing = subs.partitions_needing_reset(now);
        if needing.is_empty() {
            return;
        }
        let cluster = client.metadata().cluster().clone();
        let mut by_node: BTreeMap<NodeId, Vec<(TopicPartition, OffsetResetStrategy)>> =
            BTreeMap::new();
        for (tp, strategy) in needing {
            if self
                .list_offsets_in_flight
                .values()
                .flatten()
                .any(|(t, _)| *t == tp)
            {
                continue;
            }
            match strategy {
                OffsetResetStrategy::None => {
                    self.pending_error = Some(Error::Other(format!(
                        "no committed offset for {tp} and auto.offset.reset is none"
                    )));
                    subs.set_next_allowed_retry(&[tp], now + self.retry_backoff);
                }
                _ => match cluster.leader_for(&tp) {
                    Some(node) => by_node.entry(node).or_default().push((tp, strategy)),
                    None => client.metadata_mut().request_update(),
                },
            }
        }
        for (node, partitions) in by_node {
            if !client.ready(node, now) {
                continue;
            }
            let Some(version) = client.api_version(node, ApiKey::ListOffsets) else {
                continue;
            };
            let mut topics: Vec<ListOffsetsTopic> = Vec::new();
            for (tp, strategy) in &partitions {
                let p = ListOffsetsPartition::default()
                    .with_partition_index(tp.partition)
                    .with_current_leader_epoch(-1)
                    .with_timestamp(strategy.list_offsets_timestamp().unwrap_or(-1))
                    .with_max_num_offsets(1);
                match topics.iter_mut().find(|t| *t.name == *tp.topic) {
                    Some(t) => t.partitions.push(p),
                    None => topics.push(
                        ListOffsetsTopic::default()
                            .with_name(tp.topic.to_string())
                            .with_partitions(vec![p]),
                    ),
                }
            }
            let isolation = if version >= 2 {
                self.params.isolation_level.as_i8()
            } else {
                0
            };
            let request = RequestKind::ListOffsets(
                ListOffsetsRequest::default()
                    .with_replica_id(-1)
                    .with_isolation_level(isolation)
                    .with_topics(topics),
            );
            self.next_list_offsets += 1;
            let id = self.next_list_offsets;
            match client.send(node, &request, version, true, TAG_LIST_OFFSETS | id, now) {
                Ok(_) => {
                    self.list_offsets_in_flight.insert(id, partitions);
                }
                Err(e) => tracing::debug!(node, error = %e, "ListOffsets not sent"),
            }
        }
    }

    /// Handles a ListOffsets answer: seeks the partitions still waiting for that reset.
    pub(crate) fn handle_list_offsets(
        &mut self,
        client: &mut NetworkClient,
        subs: &mut SubscriptionState,
        response: ClientResponse,
        now: Instant,
    ) {
        let id = response.tag & !TAG_LIST_OFFSETS;
        let Some(requested) = self.list_offsets_in_flight.remove(&id) else {
            return;
        };
        let retry: Vec<TopicPartition> = requested.iter().map(|(tp, _)| tp.clone()).collect();
        let r = match response.result {
            Ok(Some(ResponseKind::ListOffsets(r))) => r,
            _ => {
                subs.set_next_allowed_retry(&retry, now + self.retry_backoff);
                client.metadata_mut().request_update();
                return;
            }
        };
        for (tp, strategy) in requested {
            let answer = r
                .topics
                .iter()
                .find(|t| *t.name == *tp.topic)
                .and_then(|t| {
                    t.partitions
                        .iter()
                        .find(|p| p.partition_index == tp.partition)
                });
            match answer {
                Some(p) if ErrorCode::from(p.error_code) == ErrorCode::None => {
                    let offset = if p.offset >= 0 {
                        p.offset
                    } else {
                        p.old_style_offsets.first().copied().unwrap_or(-1)
                    };
                    if offset >= 0 {
                        let epoch = (p.leader_epoch >= 0).then_some(p.leader_epoch);
                        subs.maybe_seek_after_reset(
                            &tp,
                            FetchPosition {
                                offset,
                                leader_epoch: epoch,
                            },
                            strategy,
                        );
                    }
                }
                _ => {
                    subs.set_next_allowed_retry(
                        std::slice::from_ref(&tp),
                        now + self.retry_backoff,
                    );
                    client.metadata_mut().request_update();
                }
            }
        }
    }

    /// Ends the fetch sessions (the broker frees them when they expire otherwise).
    pub(crate) fn close_sessions(&mut self) {
        for s in self.sessions.values_mut() {
            s.close();
        }
    }
}

fn corrupt(tp: &TopicPartition, offset: i64, why: &str) -> Error {
    Error::kafka_with_message(
        ErrorCode::CorruptMessage,
        Some(format!(
            "record batch of {tp} at offset {offset} is corrupt: {why}"
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::records::RecordBatchBuilder;

    fn batch(base: i64, records: usize) -> Bytes {
        let mut b = RecordBatchBuilder::new().with_base_offset(base);
        for i in 0..records {
            b.append(1, None, Some(format!("v{i}").as_bytes())).unwrap();
        }
        b.build().unwrap()
    }

    #[test]
    fn a_chunk_ends_after_its_last_complete_batch() {
        let mut data = BytesMut::new();
        data.extend_from_slice(&batch(10, 3));
        data.extend_from_slice(&batch(13, 2));
        let whole = data.clone().freeze();
        assert_eq!(chunk_end(&whole, 10), 15);
        // A batch cut short by the broker's size limit does not count.
        let third = batch(15, 4);
        data.extend_from_slice(&third[..third.len() / 2]);
        assert_eq!(chunk_end(&data.freeze(), 10), 15);
        assert_eq!(chunk_end(&Bytes::new(), 42), 42);
    }
}

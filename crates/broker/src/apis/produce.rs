//! Produce (and the InitProducerId logic its handler module calls).

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse, ResponseKind,
};
use kafka_protocol::records::{RecordBatches, Records};
use kafka_protocol::ErrorCode;
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, Responder};
use kafka_storage::TopicPartition;

use super::producer_state::{check_sequence, next_seq, SequenceCheck};
use super::{errors::storage_error_code, now_ms, ApiHandler, BrokerState};

/// Serves Produce.
#[derive(Debug)]
pub(crate) struct Produce;

impl ApiHandler for Produce {
    type Request = ProduceRequest;
    const KEY: ApiKey = ApiKey::Produce;
    /// Advertised from v0 although only v3+ is served: librdkafka before 2.x (Debian's kcat
    /// among them) enables gzip/snappy/lz4 only when Produce v0 is inside the advertised range,
    /// so Kafka 4.0 kept advertising it (KAFKA-18659) and answers v0-v2 with UNSUPPORTED_VERSION
    /// per partition.
    const VERSIONS: VersionRange = VersionRange::new(0, 13);

    fn handle(
        state: &Arc<BrokerState>,
        _context: &RequestContext,
        body: ProduceRequest,
        responder: Responder,
    ) {
        if responder.api_version() < MIN_SERVED_VERSION {
            // Answered whatever the acks: the client must learn why nothing was written.
            return responder.respond(ResponseKind::Produce(unsupported_version(&body)));
        }
        match produce(state, &body) {
            Some(answer) => responder.respond(answer),
            // acks=0: nothing is written back.
            None => responder.no_response(),
        }
    }
}

/// The oldest Produce version served (record batches of magic v2).
const MIN_SERVED_VERSION: i16 = 3;

/// UNSUPPORTED_VERSION for every partition, as Kafka answers Produce v0-v2.
fn unsupported_version(req: &ProduceRequest) -> ProduceResponse {
    ProduceResponse::default().with_responses(
        req.topic_data
            .iter()
            .map(|t| {
                TopicProduceResponse::default()
                    .with_name(t.name.clone())
                    .with_partition_responses(
                        t.partition_data
                            .iter()
                            .map(|p| {
                                PartitionProduceResponse::default()
                                    .with_index(p.index)
                                    .with_error_code(ErrorCode::UnsupportedVersion.code())
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}

/// Produces; `None` means acks=0 (no response is written).
fn produce(state: &BrokerState, req: &ProduceRequest) -> Option<ResponseKind> {
    let acks = req.acks;
    if req.transactional_id.is_some() {
        // Transactions are not served yet: refuse clearly rather than corrupt state.
        return Some(error_response(
            req,
            ErrorCode::TransactionalIdAuthorizationFailed,
        ));
    }
    if !matches!(acks, -1..=1) {
        return Some(error_response(req, ErrorCode::InvalidRequiredAcks));
    }
    let now = now_ms();
    let mut appended = false;
    let responses = req
        .topic_data
        .iter()
        .map(|topic| {
            let partitions = topic
                .partition_data
                .iter()
                .map(|p| {
                    let tp = TopicPartition {
                        topic: topic.name.clone(),
                        partition: p.index,
                    };
                    // Decoded records are always in memory (slices of the request frame).
                    let records = p.records.clone().and_then(Records::into_bytes);
                    let r = produce_partition(state, &tp, records, now);
                    if r.error_code == 0 {
                        appended = true;
                    }
                    r
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(topic.name.clone())
                .with_partition_responses(partitions)
        })
        .collect();
    if appended {
        state.purgatory.notify();
    }
    if acks == 0 {
        return None;
    }
    Some(ResponseKind::Produce(
        ProduceResponse::default().with_responses(responses),
    ))
}

fn error_response(req: &ProduceRequest, code: ErrorCode) -> ResponseKind {
    ResponseKind::Produce(
        ProduceResponse::default().with_responses(
            req.topic_data
                .iter()
                .map(|t| {
                    TopicProduceResponse::default()
                        .with_name(t.name.clone())
                        .with_partition_responses(
                            t.partition_data
                                .iter()
                                .map(|p| {
                                    PartitionProduceResponse::default()
                                        .with_index(p.index)
                                        .with_error_code(code.code())
                                        .with_base_offset(-1)
                                        .with_log_append_time_ms(-1)
                                        .with_log_start_offset(-1)
                                })
                                .collect(),
                        )
                })
                .collect(),
        ),
    )
}

fn produce_partition(
    state: &BrokerState,
    tp: &TopicPartition,
    records: Option<Bytes>,
    now: i64,
) -> PartitionProduceResponse {
    let response = PartitionProduceResponse::default().with_index(tp.partition);
    // Refused partitions carry no offsets, as Kafka answers them.
    let fail = |code: ErrorCode, msg: Option<String>| {
        response
            .clone()
            .with_error_code(code.code())
            .with_error_message(msg)
            .with_base_offset(-1)
            .with_log_append_time_ms(-1)
            .with_log_start_offset(-1)
    };
    let Some(log) = state.logs.get_log(tp) else {
        return fail(ErrorCode::UnknownTopicOrPartition, None);
    };
    let Some(records) = records.filter(|r| !r.is_empty()) else {
        return fail(ErrorCode::CorruptMessage, Some("empty record set".into()));
    };
    // Idempotence: each batch's sequence is checked against the producer state the log keeps
    // (and recovers after a restart), under the partition's lock so that a retry racing its
    // original is seen as a duplicate.
    let mut batches = Vec::new();
    for batch in RecordBatches::new(records.clone()) {
        match batch {
            Ok(b) => batches.push((
                b.producer_id(),
                b.producer_epoch(),
                b.base_sequence(),
                b.last_sequence(),
            )),
            Err(e) => return fail(ErrorCode::CorruptMessage, Some(e.to_string())),
        }
    }
    let lock = state.producers.partition(tp);
    let _serialized = lock.lock().unwrap_or_else(|e| e.into_inner());
    for (i, (pid, epoch, first_seq, last_seq)) in batches.iter().enumerate() {
        if *pid < 0 {
            continue;
        }
        // A producer's earlier batch in this same request counts as already written.
        let earlier = batches[..i].iter().rev().find(|b| b.0 == *pid);
        let verdict = match earlier {
            Some(&(_, e, _, last)) if e == *epoch && *first_seq == next_seq(last) => {
                Ok(SequenceCheck::Append)
            }
            Some(_) => Err(ErrorCode::OutOfOrderSequenceNumber),
            None => check_sequence(
                log.producer_state(*pid).as_ref(),
                *epoch,
                *first_seq,
                *last_seq,
            ),
        };
        match verdict {
            Ok(SequenceCheck::Append) => {}
            Ok(SequenceCheck::Duplicate { first_offset }) if batches.len() == 1 => {
                return response
                    .with_base_offset(first_offset)
                    .with_log_start_offset(log.log_start_offset());
            }
            Ok(SequenceCheck::Duplicate { .. }) => {
                return fail(ErrorCode::DuplicateSequenceNumber, None)
            }
            Err(code) => return fail(code, None),
        }
    }
    match log.append(records, now, 0, true) {
        Ok(info) => response
            .with_base_offset(info.first_offset)
            .with_log_append_time_ms(info.log_append_time.unwrap_or(-1))
            .with_log_start_offset(info.log_start_offset),
        Err(e) => {
            let code = storage_error_code(&e);
            tracing::debug!(%tp, error = %e, ?code, "produce refused");
            fail(code, Some(e.to_string()))
        }
    }
}

pub(super) fn init_producer_id(state: &BrokerState, req: &InitProducerIdRequest) -> ResponseKind {
    let r = InitProducerIdResponse::default();
    if req.transactional_id.is_some() {
        return ResponseKind::InitProducerId(
            r.with_error_code(ErrorCode::TransactionalIdAuthorizationFailed.code()),
        );
    }
    // KIP-360: a producer that knows its id asks for an epoch bump.
    if req.producer_id >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX - 1 {
        return ResponseKind::InitProducerId(
            r.with_producer_id(req.producer_id)
                .with_producer_epoch(req.producer_epoch + 1),
        );
    }
    match state.producers.allocate() {
        Ok(id) => ResponseKind::InitProducerId(r.with_producer_id(id).with_producer_epoch(0)),
        Err(e) => {
            tracing::error!(error = %e, "allocating a producer id failed");
            ResponseKind::InitProducerId(
                r.with_error_code(ErrorCode::KafkaStorageError.code())
                    .with_producer_id(-1)
                    .with_producer_epoch(-1),
            )
        }
    }
}

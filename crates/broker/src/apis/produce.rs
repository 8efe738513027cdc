//! Produce (and the InitProducerId logic its handler module calls).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse, ResponseKind,
};
use kafka_protocol::records::Records;
use kafka_protocol::ErrorCode;
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, Responder};
use kafka_storage::TopicPartition;

use super::delayed_produce::Wait;
use super::{now_ms, ApiHandler, BrokerState};

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
            // Answered whatever the acks: the client must learn why nothing was written. Kafka
            // answers each partition as any refused one (offsets -1).
            return responder.respond(error_response(&body, ErrorCode::UnsupportedVersion));
        }
        produce(state, &body, responder);
    }
}

/// The oldest Produce version served (record batches of magic v2).
const MIN_SERVED_VERSION: i16 = 3;

/// Produces, answering now or, when the flush policy wants the records durable first
/// (acks 1 or -1 with `log.flush.interval.messages`), once they are (see
/// [`super::delayed_produce`]): the held answer keeps only the responder. acks=0 writes no
/// response.
fn produce(state: &BrokerState, req: &ProduceRequest, mut responder: Responder) {
    let acks = req.acks;
    if req.transactional_id.is_some() {
        // Transactions are not served yet: refuse clearly rather than corrupt state. With
        // acks=0 the client reads no answer: closing is how it learns (see below).
        if acks == 0 {
            return responder.close();
        }
        return responder.respond(error_response(
            req,
            ErrorCode::TransactionalIdAuthorizationFailed,
        ));
    }
    if !matches!(acks, -1..=1) {
        return responder.respond(error_response(req, ErrorCode::InvalidRequiredAcks));
    }
    let now = now_ms();
    let mut failed = false;
    let mut waits = Vec::new();
    let responses = req
        .topic_data
        .iter()
        .enumerate()
        .map(|(ti, topic)| {
            let partitions = topic
                .partition_data
                .iter()
                .enumerate()
                .map(|(pi, p)| {
                    let tp = TopicPartition {
                        topic: topic.name.clone(),
                        partition: p.index,
                    };
                    // Decoded records are always in memory (slices of the request frame).
                    let records = p.records.clone().and_then(Records::into_bytes);
                    let (r, durable_at) = produce_partition(state, &tp, records, now);
                    if r.error_code == 0 {
                        state.purgatory.notify(&tp);
                    } else {
                        failed = true;
                    }
                    if let Some(required) = durable_at {
                        waits.push(Wait {
                            tp,
                            required,
                            at: (ti, pi),
                        });
                    }
                    r
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(topic.name.clone())
                .with_partition_responses(partitions)
        })
        .collect();
    if acks == 0 {
        // As Kafka: a client that waits for no answer learns of a failure by the connection
        // closing, and refreshes its metadata.
        return if failed {
            responder.close()
        } else {
            responder.no_response()
        };
    }
    let response = ProduceResponse::default().with_responses(responses);
    if waits.is_empty() {
        return responder.respond(ResponseKind::Produce(response));
    }
    let timeout = Duration::from_millis(u64::try_from(req.timeout_ms).unwrap_or(0));
    responder.park();
    state
        .delayed_produce
        .hold(&state.logs, response, waits, timeout, responder);
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
) -> (PartitionProduceResponse, Option<i64>) {
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
    let (log, leader_epoch) = match state.leader_log(tp, -1) {
        Ok(l) => l,
        Err(code) => return (fail(code, None), None),
    };
    let Some(records) = records.filter(|r| !r.is_empty()) else {
        return (
            fail(ErrorCode::CorruptMessage, Some("empty record set".into())),
            None,
        );
    };
    // The log validates the batches, idempotent sequences included, under its append lock.
    match log.append_as_leader(records, leader_epoch, now) {
        Ok(info) => (
            response
                .with_base_offset(info.first_offset)
                .with_log_append_time_ms(info.log_append_time.unwrap_or(-1))
                .with_log_start_offset(info.log_start_offset),
            info.flush_needed
                .then_some(info.last_offset.saturating_add(1)),
        ),
        Err(e) => {
            let code = e.error_code();
            tracing::debug!(%tp, error = %e, ?code, "produce refused");
            (fail(code, Some(e.to_string())), None)
        }
    }
}

/// A block of producer ids from the active controller (AllocateProducerIds).
fn producer_id_block(state: &BrokerState) -> Result<(i64, i64), ErrorCode> {
    let request = kafka_protocol::messages::AllocateProducerIdsRequest::default()
        .with_broker_id(state.meta.node_id)
        .with_broker_epoch(
            state
                .broker_epoch
                .load(std::sync::atomic::Ordering::Acquire),
        );
    match state.controller.call(
        kafka_protocol::messages::RequestKind::AllocateProducerIds(request),
        std::time::Duration::from_secs(10),
    )? {
        kafka_protocol::messages::ResponseKind::AllocateProducerIds(r) if r.error_code == 0 => {
            Ok((r.producer_id_start, i64::from(r.producer_id_len)))
        }
        kafka_protocol::messages::ResponseKind::AllocateProducerIds(r) => {
            Err(ErrorCode::from_code(r.error_code))
        }
        _ => Err(ErrorCode::UnknownServerError),
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
    match state.producers.allocate(|| producer_id_block(state)) {
        Ok(id) => ResponseKind::InitProducerId(r.with_producer_id(id).with_producer_epoch(0)),
        Err(code) => {
            tracing::warn!(?code, "no producer id block from the controller");
            // Retriable for the client: it asks again.
            let code = match code {
                ErrorCode::NotController | ErrorCode::RequestTimedOut => {
                    ErrorCode::CoordinatorLoadInProgress
                }
                other => other,
            };
            ResponseKind::InitProducerId(
                r.with_error_code(code.code())
                    .with_producer_id(-1)
                    .with_producer_epoch(-1),
            )
        }
    }
}

//! Produce and InitProducerId.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse, RequestKind,
    ResponseKind,
};
use kafka_protocol::ErrorCode;
use kafka_server::{Request, ResponseSender};
use kafka_storage::TopicPartition;

use super::delayed_produce::Wait;
use super::{now_ms, BrokerState};

/// Produces, answering now or, when the flush policy wants the records durable first
/// (acks 1 or -1 with `log.flush.interval.messages`), once they are (see
/// [`super::delayed_produce`]). acks=0 writes no response.
pub(super) fn produce(state: &BrokerState, mut request: Request, sender: &ResponseSender) {
    let RequestKind::Produce(req) = &request.body else {
        return;
    };
    let acks = req.acks;
    let body = if req.transactional_id.is_some() {
        // Transactions are not served yet: refuse clearly rather than corrupt state.
        error_response(req, ErrorCode::TransactionalIdAuthorizationFailed)
    } else if !matches!(acks, -1..=1) {
        error_response(req, ErrorCode::InvalidRequiredAcks)
    } else {
        let now = now_ms();
        let mut appended = false;
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
                        let (r, durable_at) = produce_partition(state, &tp, p.records.clone(), now);
                        if r.error_code == 0 {
                            appended = true;
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
        if appended {
            state.purgatory.notify();
        }
        let response = ProduceResponse::default().with_responses(responses);
        if acks == 0 {
            sender.send(request.no_response());
            return;
        }
        if !waits.is_empty() {
            let timeout = Duration::from_millis(u64::try_from(req.timeout_ms).unwrap_or(0));
            request.times.api_local_complete = Some(Instant::now());
            // The held request no longer needs its records: return the receive memory.
            request.body = RequestKind::Produce(ProduceRequest::default());
            let sender = sender.clone();
            state.delayed_produce.hold(
                &state.logs,
                response,
                waits,
                timeout,
                Box::new(move |r| respond(&request, &ResponseKind::Produce(r), &sender)),
            );
            return;
        }
        ResponseKind::Produce(response)
    };
    respond(&request, &body, sender);
}

fn respond(request: &Request, body: &ResponseKind, sender: &ResponseSender) {
    match request.respond(body) {
        Ok(r) => sender.send(r),
        Err(e) => {
            tracing::error!(api = request.api_key.name(), version = request.api_version, error = %e, "encoding the response failed; closing the connection");
            sender.send(request.close_connection());
        }
    }
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

/// Appends one partition's records; with the offset its flushed offset must reach before
/// the answer is sent, when the flush policy asks for that.
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
    let Some(log) = state.logs.get_log(tp) else {
        return (fail(ErrorCode::UnknownTopicOrPartition, None), None);
    };
    let Some(records) = records.filter(|r| !r.is_empty()) else {
        return (
            fail(ErrorCode::CorruptMessage, Some("empty record set".into())),
            None,
        );
    };
    // The log validates the batches, idempotent sequences included, under its append lock.
    match log.append_as_leader(records, 0, now) {
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

//! ListOffsets and OffsetForLeaderEpoch.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{
    ListOffsetsRequest, ListOffsetsResponse, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse, ResponseKind,
};
use kafka_protocol::ErrorCode;
use kafka_server::RequestContext;
use kafka_storage::TopicPartition;

use super::BrokerState;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

pub(super) fn list_offsets(
    state: &BrokerState,
    request: &RequestContext,
    req: &ListOffsetsRequest,
) -> ResponseKind {
    let version = request.api_version;
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1);
                    let tp = TopicPartition {
                        topic: t.name.clone(),
                        partition: p.partition_index,
                    };
                    let log = match state.leader_log(&tp, p.current_leader_epoch) {
                        Ok((log, _)) => log,
                        Err(code) => return r.with_error_code(code.code()),
                    };
                    let found: Result<Option<(i64, i64, i32)>, kafka_storage::Error> =
                        match p.timestamp {
                            LATEST => Ok(Some((log.high_watermark(), -1, 0))),
                            EARLIEST | EARLIEST_LOCAL => Ok(Some((log.log_start_offset(), -1, 0))),
                            LATEST_TIERED => Ok(Some((-1, -1, -1))),
                            MAX_TIMESTAMP => log.max_timestamp_offset(),
                            ts if ts >= 0 => log.fetch_offset_by_timestamp(ts),
                            _ => return r.with_error_code(ErrorCode::InvalidRequest.code()),
                        };
                    match found {
                        Ok(Some((offset, ts, epoch))) => {
                            let r = r
                                .with_offset(offset)
                                .with_timestamp(ts)
                                .with_leader_epoch(if version >= 4 { epoch } else { -1 });
                            if version == 0 {
                                r.with_old_style_offsets(vec![offset])
                            } else {
                                r
                            }
                        }
                        Ok(None) => r,
                        Err(e) => r.with_error_code(super::errors::storage_error_code(&e).code()),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    ResponseKind::ListOffsets(ListOffsetsResponse::default().with_topics(topics))
}

pub(super) fn offset_for_leader_epoch(
    state: &BrokerState,
    req: &OffsetForLeaderEpochRequest,
) -> ResponseKind {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    let tp = TopicPartition {
                        topic: t.topic.clone(),
                        partition: p.partition,
                    };
                    let log = match state.leader_log(&tp, p.current_leader_epoch) {
                        Ok((log, _)) => log,
                        Err(code) => return r.with_error_code(code.code()),
                    };
                    let (epoch, end) = log.end_offset_for_epoch(p.leader_epoch);
                    r.with_leader_epoch(epoch).with_end_offset(end)
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    ResponseKind::OffsetForLeaderEpoch(OffsetForLeaderEpochResponse::default().with_topics(topics))
}

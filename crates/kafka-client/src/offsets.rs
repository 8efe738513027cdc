//! OffsetFetch, shared by the consumer's coordinator, `Consumer::committed` and the admin
//! client: one request builder and one reader of both response layouts (top level before v8,
//! per group from v8).

use std::collections::BTreeMap;

use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequest, OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::offset_fetch_response::OffsetFetchResponse;
use kafka_protocol::ErrorCode;

use crate::error::{Error, Result};
use crate::types::TopicPartition;

/// An OffsetFetch of `group` at `version` for `partitions` (`None`: every partition with a
/// committed offset, which needs v2+).
pub(crate) fn offset_fetch_request(
    group: &str,
    partitions: Option<&[TopicPartition]>,
    version: i16,
) -> Result<OffsetFetchRequest> {
    let by_topic = partitions.map(|ps| {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in ps {
            by_topic.entry(&tp.topic).or_default().push(tp.partition);
        }
        by_topic
    });
    Ok(match (version, by_topic) {
        (..=1, None) => {
            return Err(Error::UnsupportedVersion(format!(
                "fetching all offsets of a group needs OffsetFetch v2+, not v{version}"
            )))
        }
        (..=7, by_topic) => OffsetFetchRequest::default()
            .with_group_id(group.to_string())
            .with_topics(by_topic.map(|t| {
                t.into_iter()
                    .map(|(name, ps)| {
                        OffsetFetchRequestTopic::default()
                            .with_name(name.to_string())
                            .with_partition_indexes(ps)
                    })
                    .collect()
            })),
        (_, by_topic) => {
            OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                .with_group_id(group.to_string())
                .with_topics(by_topic.map(|t| {
                    t.into_iter()
                        .map(|(name, ps)| {
                            OffsetFetchRequestTopics::default()
                                .with_name(name.to_string())
                                .with_partition_indexes(ps)
                        })
                        .collect()
                }))])
        }
    })
}

/// One partition of an OffsetFetch answer: its committed offset (-1: none) and error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommittedOffset {
    pub(crate) tp: TopicPartition,
    pub(crate) offset: i64,
    pub(crate) error: ErrorCode,
}

/// The partitions `group` has in the answer, from whichever layout the version used; a
/// group-level error is the error (e.g. NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS).
pub(crate) fn committed_offsets(
    r: &OffsetFetchResponse,
    group: &str,
) -> Result<Vec<CommittedOffset>> {
    let group_error = |code: i16| {
        let code = ErrorCode::from(code);
        code.is_error().then(|| {
            Error::kafka_with_message(code, Some(format!("group '{group}': {}", code.message())))
        })
    };
    let mut out = Vec::new();
    if r.groups.is_empty() {
        if let Some(e) = group_error(r.error_code) {
            return Err(e);
        }
        for t in &r.topics {
            for p in &t.partitions {
                out.push(CommittedOffset {
                    tp: TopicPartition::new(t.name.as_str(), p.partition_index),
                    offset: p.committed_offset,
                    error: ErrorCode::from(p.error_code),
                });
            }
        }
    } else {
        let g = r
            .groups
            .iter()
            .find(|g| g.group_id == group)
            .ok_or_else(|| {
                Error::Other(format!(
                    "group '{group}': missing from the OffsetFetch response"
                ))
            })?;
        if let Some(e) = group_error(g.error_code) {
            return Err(e);
        }
        for t in &g.topics {
            for p in &t.partitions {
                out.push(CommittedOffset {
                    tp: TopicPartition::new(t.name.as_str(), p.partition_index),
                    offset: p.committed_offset,
                    error: ErrorCode::from(p.error_code),
                });
            }
        }
    }
    Ok(out)
}

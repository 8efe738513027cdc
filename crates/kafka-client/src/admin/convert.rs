//! Pure translation between the admin client's values and Kafka's messages: requests built
//! from what the caller asked, responses turned into per-item results. No I/O here, so every
//! mapping is unit-tested against hand-made responses.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::consumer_protocol_assignment::ConsumerProtocolAssignment;
use kafka_protocol::messages::create_acls_request::{AclCreation, CreateAclsRequest};
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsResponse;
use kafka_protocol::messages::create_topics_response::CreateTopicsResponse;
use kafka_protocol::messages::delete_acls_request::{DeleteAclsFilter, DeleteAclsRequest};
use kafka_protocol::messages::delete_acls_response::DeleteAclsFilterResult;
use kafka_protocol::messages::delete_groups_response::DeleteGroupsResponse;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsRequest, DeleteRecordsTopic,
};
use kafka_protocol::messages::delete_records_response::DeleteRecordsResponse;
use kafka_protocol::messages::delete_topics_response::DeleteTopicsResponse;
use kafka_protocol::messages::describe_acls_request::DescribeAclsRequest;
use kafka_protocol::messages::describe_acls_response::DescribeAclsResponse;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterResponse;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResponse;
use kafka_protocol::messages::describe_groups_response::{DescribeGroupsResponse, DescribedGroup};
use kafka_protocol::messages::find_coordinator_response::FindCoordinatorResponse;
use kafka_protocol::messages::list_groups_response::ListGroupsResponse;
use kafka_protocol::messages::list_offsets_response::ListOffsetsResponse;
use kafka_protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use kafka_protocol::messages::metadata_response::MetadataResponse;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_commit_response::OffsetCommitResponse;
use kafka_protocol::messages::offset_fetch_response::OffsetFetchResponse;
use kafka_protocol::{Decodable, ErrorCode, Message};

use super::acl::{
    AclBinding, AclBindingFilter, AclOperation, AclPatternType, AclPermissionType, AclResourceType,
};
use super::types::{
    AlterConfigOp, AlterConfigOpType, ClusterDescription, ConfigEntry, ConfigResource,
    ConfigResourceType, ConfigSource, GroupDescription, GroupListing, MemberDescription,
    TopicDescription,
};
use crate::error::{Error, Result};
use crate::metadata::{Node, PartitionInfo};
use crate::types::{NodeId, TopicPartition};

/// The protocol type of consumer groups, whose assignments use the consumer protocol.
const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// The error for `code` about `what` (a topic, group, resource or partition), or `None` for
/// NONE. The message names `what` so that a caller holding one error of many knows which
/// item failed.
pub(super) fn item_error(what: impl Display, code: i16, message: Option<&str>) -> Option<Error> {
    let code = ErrorCode::from(code);
    if !code.is_error() {
        return None;
    }
    let text = message.filter(|m| !m.is_empty()).unwrap_or(code.message());
    Some(Error::kafka_with_message(
        code,
        Some(format!("{what}: {text}")),
    ))
}

fn item_result(what: impl Display, code: i16, message: Option<&str>) -> Result<()> {
    item_error(what, code, message).map_or(Ok(()), Err)
}

/// An answer of another API than the request's: the broker broke the protocol.
pub(super) fn unexpected(expected: &str, got: &impl std::fmt::Debug) -> Error {
    let got = format!("{got:?}");
    let kind = got.split('(').next().unwrap_or("?");
    Error::Other(format!("expected a {expected} response, got {kind}"))
}

/// Per-topic results of CreateTopics.
pub(super) fn create_topics_results(r: &CreateTopicsResponse) -> HashMap<String, Result<()>> {
    r.topics
        .iter()
        .map(|t| {
            let what = format!("topic '{}'", t.name);
            (
                t.name.clone(),
                item_result(what, t.error_code, t.error_message.as_deref()),
            )
        })
        .collect()
}

/// Per-topic results of DeleteTopics (answers without a name, which only requests by topic
/// id get, are skipped).
pub(super) fn delete_topics_results(r: &DeleteTopicsResponse) -> HashMap<String, Result<()>> {
    r.responses
        .iter()
        .filter_map(|t| {
            let name = t.name.clone()?;
            let what = format!("topic '{name}'");
            Some((
                name,
                item_result(what, t.error_code, t.error_message.as_deref()),
            ))
        })
        .collect()
}

/// Per-topic results of CreatePartitions.
pub(super) fn create_partitions_results(
    r: &CreatePartitionsResponse,
) -> HashMap<String, Result<()>> {
    r.results
        .iter()
        .map(|t| {
            let what = format!("topic '{}'", t.name);
            (
                t.name.clone(),
                item_result(what, t.error_code, t.error_message.as_deref()),
            )
        })
        .collect()
}

/// A Metadata request for `topics` (`None`: every topic) that never creates a topic.
///
/// Before v4 a broker may create topics a Metadata request names, so those versions ask for
/// every topic instead and the caller picks its own, as Java's admin client does. v0 says
/// "every topic" with an empty list, later versions with a null one.
pub(super) fn metadata_request(topics: Option<&[String]>, version: i16) -> MetadataRequest {
    let all = if version == 0 { Some(Vec::new()) } else { None };
    let topics = match topics {
        Some(names) if version >= 4 => Some(
            names
                .iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(n.clone())))
                .collect(),
        ),
        Some(_) | None => all,
    };
    MetadataRequest::default()
        .with_topics(topics)
        .with_allow_auto_topic_creation(false)
}

/// A Metadata request for brokers only.
pub(super) fn metadata_request_no_topics() -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(Vec::new()))
        .with_allow_auto_topic_creation(false)
}

fn partition_infos(
    partitions: &[kafka_protocol::messages::metadata_response::MetadataResponsePartition],
) -> Vec<PartitionInfo> {
    let mut out: Vec<PartitionInfo> = partitions
        .iter()
        .map(|p| PartitionInfo {
            partition: p.partition_index,
            leader: (p.leader_id >= 0).then_some(p.leader_id),
            leader_epoch: p.leader_epoch,
            replicas: p.replica_nodes.clone(),
            isr: p.isr_nodes.clone(),
            error: ErrorCode::from(p.error_code),
        })
        .collect();
    out.sort_by_key(|p| p.partition);
    out
}

/// The description of each of `names`, in that order; the first topic that has an error
/// (or that the response does not mention: UNKNOWN_TOPIC_OR_PARTITION) fails the whole
/// answer, as Java's `allTopicNames()` does.
pub(super) fn topic_descriptions(
    r: &MetadataResponse,
    names: &[String],
) -> Result<Vec<TopicDescription>> {
    names
        .iter()
        .map(|name| {
            let what = format!("topic '{name}'");
            let t = r
                .topics
                .iter()
                .find(|t| t.name.as_deref() == Some(name.as_str()))
                .ok_or_else(|| {
                    Error::kafka_with_message(
                        ErrorCode::UnknownTopicOrPartition,
                        Some(format!("{what}: not found")),
                    )
                })?;
            if let Some(e) = item_error(&what, t.error_code, None) {
                return Err(e);
            }
            Ok(TopicDescription {
                name: name.clone(),
                id: t.topic_id,
                internal: t.is_internal,
                partitions: partition_infos(&t.partitions),
            })
        })
        .collect()
}

/// The names of the topics in a Metadata response, sorted.
pub(super) fn topic_names(r: &MetadataResponse, include_internal: bool) -> Vec<String> {
    let mut names: Vec<String> = r
        .topics
        .iter()
        .filter(|t| include_internal || !t.is_internal)
        .filter(|t| !ErrorCode::from(t.error_code).is_error())
        .filter_map(|t| t.name.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn node(id: NodeId, host: &str, port: i32, rack: Option<&String>) -> Option<Node> {
    Some(Node {
        id,
        host: host.to_string(),
        port: u16::try_from(port).ok()?,
        rack: rack.cloned(),
    })
}

fn cluster(
    cluster_id: Option<String>,
    controller_id: NodeId,
    mut nodes: Vec<Node>,
) -> ClusterDescription {
    nodes.sort_by_key(|n| n.id);
    let controller = nodes.iter().find(|n| n.id == controller_id).cloned();
    ClusterDescription {
        cluster_id,
        controller,
        nodes,
    }
}

/// The cluster a DescribeCluster response describes.
pub(super) fn cluster_from_describe(r: &DescribeClusterResponse) -> Result<ClusterDescription> {
    if let Some(e) = item_error("cluster", r.error_code, r.error_message.as_deref()) {
        return Err(e);
    }
    let nodes = r
        .brokers
        .iter()
        .filter_map(|b| node(b.broker_id, &b.host, b.port, b.rack.as_ref()))
        .collect();
    let id = (!r.cluster_id.is_empty()).then(|| r.cluster_id.clone());
    Ok(cluster(id, r.controller_id, nodes))
}

/// The cluster a Metadata response describes (brokers without DescribeCluster).
pub(super) fn cluster_from_metadata(r: &MetadataResponse) -> ClusterDescription {
    let nodes = r
        .brokers
        .iter()
        .filter_map(|b| node(b.node_id, &b.host, b.port, b.rack.as_ref()))
        .collect();
    cluster(r.cluster_id.clone(), r.controller_id, nodes)
}

/// Per-resource results of DescribeConfigs.
pub(super) fn config_results(
    r: &DescribeConfigsResponse,
) -> HashMap<ConfigResource, Result<Vec<ConfigEntry>>> {
    r.results
        .iter()
        .filter_map(|res| {
            let kind = ConfigResourceType::from_code(res.resource_type)?;
            let resource = ConfigResource {
                kind,
                name: res.resource_name.clone(),
            };
            let result = match item_error(&resource, res.error_code, res.error_message.as_deref()) {
                Some(e) => Err(e),
                None => Ok(res
                    .configs
                    .iter()
                    .map(|c| {
                        // v0 says is_default; v1+ says where the value comes from instead.
                        let source = ConfigSource::from_code(c.config_source);
                        ConfigEntry {
                            name: c.name.clone(),
                            value: c.value.clone(),
                            source,
                            is_default: c.is_default || source == ConfigSource::DefaultConfig,
                            read_only: c.read_only,
                            sensitive: c.is_sensitive,
                        }
                    })
                    .collect()),
            };
            Some((resource, result))
        })
        .collect()
}

/// Per-resource results of IncrementalAlterConfigs or AlterConfigs, from each answer's
/// (resource type, name, error code, error message).
pub(super) fn alter_results<'a>(
    answers: impl IntoIterator<Item = (i8, &'a str, i16, Option<&'a str>)>,
) -> HashMap<ConfigResource, Result<()>> {
    answers
        .into_iter()
        .filter_map(|(kind, name, code, message)| {
            let resource = ConfigResource {
                kind: ConfigResourceType::from_code(kind)?,
                name: name.to_string(),
            };
            let result = item_result(&resource, code, message);
            Some((resource, result))
        })
        .collect()
}

/// The source of a resource's own overrides: what legacy AlterConfigs replaces as a whole.
fn override_source(resource: &ConfigResource) -> ConfigSource {
    match resource.kind {
        ConfigResourceType::Topic => ConfigSource::DynamicTopicConfig,
        ConfigResourceType::Broker if resource.name.is_empty() => {
            ConfigSource::DynamicDefaultBrokerConfig
        }
        ConfigResourceType::Broker => ConfigSource::DynamicBrokerConfig,
        ConfigResourceType::BrokerLogger => ConfigSource::DynamicBrokerLoggerConfig,
    }
}

fn list_items(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// The complete set of overrides legacy AlterConfigs must send to have the effect of
/// IncrementalAlterConfigs `ops` on a resource whose configuration is `entries`.
///
/// AlterConfigs replaces every override of the resource, so the overrides it has now are
/// carried over; a sensitive override cannot be (brokers never send its value) and would be
/// erased, so that case is refused instead.
pub(super) fn apply_ops(
    resource: &ConfigResource,
    entries: &[ConfigEntry],
    ops: &[AlterConfigOp],
) -> Result<BTreeMap<String, String>> {
    let source = override_source(resource);
    let mut next = BTreeMap::new();
    for e in entries.iter().filter(|e| e.source == source) {
        match &e.value {
            Some(v) => {
                next.insert(e.name.clone(), v.clone());
            }
            None => {
                return Err(Error::UnsupportedVersion(format!(
                    "{resource}: the broker has no IncrementalAlterConfigs, and AlterConfigs \
                     would erase the sensitive override {}",
                    e.name
                )))
            }
        }
    }
    for op in ops {
        let value = || {
            op.value.clone().ok_or_else(|| {
                Error::kafka_with_message(
                    ErrorCode::InvalidRequest,
                    Some(format!(
                        "{resource}: {:?} of {} needs a value",
                        op.op, op.name
                    )),
                )
            })
        };
        match op.op {
            AlterConfigOpType::Set => {
                next.insert(op.name.clone(), value()?);
            }
            AlterConfigOpType::Delete => {
                next.remove(&op.name);
            }
            AlterConfigOpType::Append | AlterConfigOpType::Subtract => {
                // Lists grow from the value in effect, override or default.
                let current = next.get(&op.name).cloned().or_else(|| {
                    entries
                        .iter()
                        .find(|e| e.name == op.name)
                        .and_then(|e| e.value.clone())
                });
                let mut items = current.as_deref().map(list_items).unwrap_or_default();
                let change = list_items(&value()?);
                if op.op == AlterConfigOpType::Append {
                    for c in change {
                        if !items.contains(&c) {
                            items.push(c);
                        }
                    }
                } else {
                    items.retain(|i| !change.contains(i));
                }
                next.insert(op.name.clone(), items.join(","));
            }
        }
    }
    Ok(next)
}

/// The groups one broker lists (ListGroups' top-level error fails the whole answer).
pub(super) fn group_listings(r: &ListGroupsResponse) -> Result<Vec<GroupListing>> {
    if let Some(e) = item_error("ListGroups", r.error_code, None) {
        return Err(e);
    }
    Ok(r.groups
        .iter()
        .map(|g| GroupListing {
            group_id: g.group_id.clone(),
            protocol_type: g.protocol_type.clone(),
            // The state exists from v4 on; older answers leave it empty.
            state: (!g.group_state.is_empty()).then(|| g.group_state.clone()),
        })
        .collect())
}

/// The coordinator of each group a FindCoordinator response names: batched (v4+) in
/// `coordinators`, otherwise at the top level for the single `key` asked about.
pub(super) fn coordinators(
    r: &FindCoordinatorResponse,
    single_key: Option<&str>,
) -> HashMap<String, Result<NodeId>> {
    let one = |key: &str, node: NodeId, code: i16, message: Option<&str>| {
        let what = format!("group '{key}'");
        let result = match item_error(what, code, message) {
            Some(e) => Err(e),
            None if node < 0 => Err(Error::kafka_with_message(
                ErrorCode::CoordinatorNotAvailable,
                Some(format!("group '{key}': no coordinator")),
            )),
            None => Ok(node),
        };
        (key.to_string(), result)
    };
    match single_key {
        Some(key) => [one(
            key,
            r.node_id,
            r.error_code,
            r.error_message.as_deref(),
        )]
        .into_iter()
        .collect(),
        None => r
            .coordinators
            .iter()
            .map(|c| one(&c.key, c.node_id, c.error_code, c.error_message.as_deref()))
            .collect(),
    }
}

/// The partitions of a consumer-protocol assignment: an int16 version, then
/// ConsumerProtocolAssignment. Anything that does not decode is no assignment: the bytes come
/// from other clients through the broker, and a description must not fail because one member
/// wrote garbage.
pub(super) fn decode_assignment(bytes: &Bytes) -> Vec<TopicPartition> {
    let Some(&[hi, lo]) = bytes.first_chunk::<2>() else {
        return Vec::new();
    };
    let version = i16::from_be_bytes([hi, lo]);
    if version < 0 {
        return Vec::new();
    }
    // Newer versions only add fields at the end, so they read as the newest one known,
    // as Java's ConsumerProtocol does.
    let version = version.min(<ConsumerProtocolAssignment as Message>::VERSIONS.max);
    let mut rest = bytes.slice(2..);
    match ConsumerProtocolAssignment::decode(&mut rest, version) {
        Ok(a) => a
            .assigned_partitions
            .iter()
            .flat_map(|t| {
                let topic: Arc<str> = Arc::from(t.topic.as_str());
                t.partitions
                    .iter()
                    .map(move |&p| TopicPartition::new(Arc::clone(&topic), p))
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn group_description(g: &DescribedGroup, coordinator: NodeId) -> GroupDescription {
    let consumer = g.protocol_type == CONSUMER_PROTOCOL_TYPE || g.protocol_type.is_empty();
    GroupDescription {
        group_id: g.group_id.clone(),
        state: g.group_state.clone(),
        protocol_type: g.protocol_type.clone(),
        protocol: g.protocol_data.clone(),
        members: g
            .members
            .iter()
            .map(|m| MemberDescription {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                host: m.client_host.clone(),
                assignment: if consumer {
                    decode_assignment(&m.member_assignment)
                } else {
                    Vec::new()
                },
            })
            .collect(),
        coordinator,
    }
}

/// Per-group results of DescribeGroups answered by `coordinator`.
pub(super) fn group_descriptions(
    r: &DescribeGroupsResponse,
    coordinator: NodeId,
) -> HashMap<String, Result<GroupDescription>> {
    r.groups
        .iter()
        .map(|g| {
            let what = format!("group '{}'", g.group_id);
            let result = match item_error(what, g.error_code, None) {
                Some(e) => Err(e),
                None => Ok(group_description(g, coordinator)),
            };
            (g.group_id.clone(), result)
        })
        .collect()
}

/// Per-group results of DeleteGroups.
pub(super) fn delete_groups_results(r: &DeleteGroupsResponse) -> HashMap<String, Result<()>> {
    r.results
        .iter()
        .map(|g| {
            let what = format!("group '{}'", g.group_id);
            (g.group_id.clone(), item_result(what, g.error_code, None))
        })
        .collect()
}

/// The committed offsets of `group` in an OffsetFetch response. Partitions without a
/// committed offset (-1) or with an error are left out, as Java leaves them out of its listing.
pub(super) fn committed_offsets(
    r: &OffsetFetchResponse,
    group: &str,
) -> Result<BTreeMap<TopicPartition, i64>> {
    Ok(crate::offsets::committed_offsets(r, group)?
        .into_iter()
        .filter(|c| c.offset >= 0 && !c.error.is_error())
        .map(|c| (c.tp, c.offset))
        .collect())
}

/// The leader of `tp` in a Metadata response, or the (retriable unless the topic is
/// invalid or forbidden) reason there is none.
pub(super) fn leader_of(r: &MetadataResponse, tp: &TopicPartition) -> Result<NodeId> {
    let missing = |code: ErrorCode| {
        Error::kafka_with_message(code, Some(format!("{tp}: {}", code.message())))
    };
    let t = r
        .topics
        .iter()
        .find(|t| t.name.as_deref() == Some(&*tp.topic))
        .ok_or_else(|| missing(ErrorCode::UnknownTopicOrPartition))?;
    if let Some(e) = item_error(tp, t.error_code, None) {
        return Err(e);
    }
    let p = t
        .partitions
        .iter()
        .find(|p| p.partition_index == tp.partition)
        .ok_or_else(|| missing(ErrorCode::UnknownTopicOrPartition))?;
    if p.leader_id < 0 {
        return Err(missing(ErrorCode::LeaderNotAvailable));
    }
    Ok(p.leader_id)
}

/// Per-partition results of ListOffsets.
pub(super) fn list_offsets_results(r: &ListOffsetsResponse) -> Vec<(TopicPartition, Result<i64>)> {
    let mut out = Vec::new();
    for t in &r.topics {
        let topic: Arc<str> = Arc::from(t.name.as_str());
        for p in &t.partitions {
            let tp = TopicPartition::new(Arc::clone(&topic), p.partition_index);
            let result = match item_error(&tp, p.error_code, None) {
                Some(e) => Err(e),
                None => Ok(p.offset),
            };
            out.push((tp, result));
        }
    }
    out
}

/// An OffsetCommit of `offsets` for `group` from outside the group: generation -1 and no
/// member id, which the coordinator accepts only while the group has no members.
pub(super) fn offset_commit_request(
    group: &str,
    offsets: &BTreeMap<TopicPartition, i64>,
) -> OffsetCommitRequest {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (tp, offset) in offsets {
        let p = OffsetCommitRequestPartition::default()
            .with_partition_index(tp.partition)
            .with_committed_offset(*offset);
        match topics.last_mut() {
            Some(t) if t.name == *tp.topic => t.partitions.push(p),
            _ => topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(tp.topic.to_string())
                    .with_partitions(vec![p]),
            ),
        }
    }
    OffsetCommitRequest::default()
        .with_group_id(group.to_string())
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(String::new())
        .with_topics(topics)
}

/// Per-partition results of OffsetCommit. The coordinator answers group-level errors on
/// every partition; one that `group_retry` accepts (the coordinator moved or is loading) is
/// returned as the group's error, so that the whole commit is tried again.
pub(super) fn offset_commit_results(
    r: &OffsetCommitResponse,
    group_retry: impl Fn(&Error) -> bool,
) -> Result<HashMap<TopicPartition, Result<()>>> {
    let mut out = HashMap::new();
    for t in &r.topics {
        let topic: Arc<str> = Arc::from(t.name.as_str());
        for p in &t.partitions {
            let tp = TopicPartition::new(Arc::clone(&topic), p.partition_index);
            let result = match item_error(&tp, p.error_code, None) {
                Some(e) if group_retry(&e) => return Err(e),
                Some(e) => Err(e),
                None => Ok(()),
            };
            out.insert(tp, result);
        }
    }
    Ok(out)
}

/// DeleteRecords of `parts` (grouped by topic).
pub(super) fn delete_records_request(
    parts: &[(TopicPartition, i64)],
    timeout_ms: i32,
) -> DeleteRecordsRequest {
    let mut topics: BTreeMap<&str, Vec<DeleteRecordsPartition>> = BTreeMap::new();
    for (tp, offset) in parts {
        topics.entry(&tp.topic).or_default().push(
            DeleteRecordsPartition::default()
                .with_partition_index(tp.partition)
                .with_offset(*offset),
        );
    }
    DeleteRecordsRequest::default()
        .with_topics(
            topics
                .into_iter()
                .map(|(name, partitions)| {
                    DeleteRecordsTopic::default()
                        .with_name(name.to_string())
                        .with_partitions(partitions)
                })
                .collect(),
        )
        .with_timeout_ms(timeout_ms)
}

/// Per-partition results of DeleteRecords: the new low watermark.
pub(super) fn delete_records_results(
    r: &DeleteRecordsResponse,
) -> Vec<(TopicPartition, Result<i64>)> {
    let mut out = Vec::new();
    for t in &r.topics {
        let topic: Arc<str> = Arc::from(t.name.as_str());
        for p in &t.partitions {
            let tp = TopicPartition::new(Arc::clone(&topic), p.partition_index);
            let result = match item_error(&tp, p.error_code, None) {
                Some(e) => Err(e),
                None => Ok(p.low_watermark),
            };
            out.push((tp, result));
        }
    }
    out
}

/// DescribeAcls of what `filter` matches.
pub(super) fn describe_acls_request(filter: &AclBindingFilter) -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_type_filter(filter.resource_type.code())
        .with_resource_name_filter(filter.resource_name.clone())
        .with_pattern_type_filter(filter.pattern_type.code())
        .with_principal_filter(filter.principal.clone())
        .with_host_filter(filter.host.clone())
        .with_operation(filter.operation.code())
        .with_permission_type(filter.permission.code())
}

/// An ACL from its wire fields; `None` when a code is one this client does not know (a
/// newer broker's), which callers skip rather than fail the whole listing.
#[allow(clippy::too_many_arguments)]
fn acl_binding(
    resource_type: i8,
    resource_name: &str,
    pattern_type: i8,
    principal: &str,
    host: &str,
    operation: i8,
    permission: i8,
) -> Option<AclBinding> {
    let binding = (|| {
        Some(AclBinding {
            resource_type: AclResourceType::from_code(resource_type)?,
            resource_name: resource_name.to_string(),
            pattern_type: AclPatternType::from_code(pattern_type)?,
            principal: principal.to_string(),
            host: host.to_string(),
            operation: AclOperation::from_code(operation)?,
            permission: AclPermissionType::from_code(permission)?,
        })
    })();
    if binding.is_none() {
        tracing::warn!(
            resource_type,
            pattern_type,
            operation,
            permission,
            "skipping an ACL with codes this client does not know"
        );
    }
    binding
}

/// The ACLs of a DescribeAcls answer, or its error (SECURITY_DISABLED from brokers without
/// an authorizer).
pub(super) fn described_acls(r: &DescribeAclsResponse) -> Result<Vec<AclBinding>> {
    if let Some(e) = item_error("DescribeAcls", r.error_code, r.error_message.as_deref()) {
        return Err(e);
    }
    Ok(r.resources
        .iter()
        .flat_map(|res| {
            res.acls.iter().filter_map(move |a| {
                acl_binding(
                    res.resource_type,
                    &res.resource_name,
                    res.pattern_type,
                    &a.principal,
                    &a.host,
                    a.operation,
                    a.permission_type,
                )
            })
        })
        .collect())
}

/// CreateAcls of `acls`.
pub(super) fn create_acls_request(acls: &[AclBinding]) -> CreateAclsRequest {
    CreateAclsRequest::default().with_creations(
        acls.iter()
            .map(|a| {
                AclCreation::default()
                    .with_resource_type(a.resource_type.code())
                    .with_resource_name(a.resource_name.clone())
                    .with_resource_pattern_type(a.pattern_type.code())
                    .with_principal(a.principal.clone())
                    .with_host(a.host.clone())
                    .with_operation(a.operation.code())
                    .with_permission_type(a.permission.code())
            })
            .collect(),
    )
}

/// CreateAcls answers in the order of the creations asked for.
pub(super) fn create_acls_results(
    acls: Vec<AclBinding>,
    results: &[AclCreationResult],
) -> Vec<(AclBinding, Result<()>)> {
    acls.into_iter()
        .enumerate()
        .map(|(i, acl)| {
            let result = match results.get(i) {
                Some(r) => item_result(&acl, r.error_code, r.error_message.as_deref()),
                None => Err(Error::Other(format!("{acl}: missing from the answer"))),
            };
            (acl, result)
        })
        .collect()
}

/// DeleteAcls of what `filters` match.
pub(super) fn delete_acls_request(filters: &[AclBindingFilter]) -> DeleteAclsRequest {
    DeleteAclsRequest::default().with_filters(
        filters
            .iter()
            .map(|f| {
                DeleteAclsFilter::default()
                    .with_resource_type_filter(f.resource_type.code())
                    .with_resource_name_filter(f.resource_name.clone())
                    .with_pattern_type_filter(f.pattern_type.code())
                    .with_principal_filter(f.principal.clone())
                    .with_host_filter(f.host.clone())
                    .with_operation(f.operation.code())
                    .with_permission_type(f.permission.code())
            })
            .collect(),
    )
}

/// DeleteAcls answers in the order of the filters: the ACLs each deleted.
pub(super) fn delete_acls_results(
    filters: Vec<AclBindingFilter>,
    results: &[DeleteAclsFilterResult],
) -> Vec<(AclBindingFilter, Result<Vec<AclBinding>>)> {
    filters
        .into_iter()
        .enumerate()
        .map(|(i, filter)| {
            let result = match results.get(i) {
                None => Err(Error::Other(format!("{filter}: missing from the answer"))),
                Some(r) => match item_error(&filter, r.error_code, r.error_message.as_deref()) {
                    Some(e) => Err(e),
                    None => Ok(r
                        .matching_acls
                        .iter()
                        .filter_map(|m| {
                            acl_binding(
                                m.resource_type,
                                &m.resource_name,
                                m.pattern_type,
                                &m.principal,
                                &m.host,
                                m.operation,
                                m.permission_type,
                            )
                        })
                        .collect()),
                },
            };
            (filter, result)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
    use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
    use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
    use kafka_protocol::messages::describe_configs_response::{
        DescribeConfigsResourceResult, DescribeConfigsResult,
    };
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::Encodable;
    use proptest::prelude::*;

    fn code(r: &Result<()>) -> Option<ErrorCode> {
        r.as_ref().err().and_then(Error::code)
    }

    #[test]
    fn create_topics_results_are_per_topic() {
        let r = CreateTopicsResponse::default().with_topics(vec![
            CreatableTopicResult::default().with_name("ok".into()),
            CreatableTopicResult::default()
                .with_name("dup".into())
                .with_error_code(ErrorCode::TopicAlreadyExists.code())
                .with_error_message(Some("Topic 'dup' already exists.".into())),
        ]);
        let results = create_topics_results(&r);
        assert!(results["ok"].is_ok());
        assert_eq!(code(&results["dup"]), Some(ErrorCode::TopicAlreadyExists));
        let text = results["dup"].as_ref().unwrap_err().to_string();
        assert!(text.contains("dup"), "{text}");
    }

    #[test]
    fn delete_topics_skips_answers_without_a_name() {
        let r = DeleteTopicsResponse::default().with_responses(vec![
            DeletableTopicResult::default().with_name(Some("a".into())),
            DeletableTopicResult::default()
                .with_name(None)
                .with_error_code(ErrorCode::UnknownTopicId.code()),
            DeletableTopicResult::default()
                .with_name(Some("b".into()))
                .with_error_code(ErrorCode::UnknownTopicOrPartition.code()),
        ]);
        let results = delete_topics_results(&r);
        assert_eq!(results.len(), 2);
        assert!(results["a"].is_ok());
        assert_eq!(
            code(&results["b"]),
            Some(ErrorCode::UnknownTopicOrPartition)
        );
    }

    fn metadata() -> MetadataResponse {
        MetadataResponse::default()
            .with_brokers(vec![MetadataResponseBroker::default()
                .with_node_id(1)
                .with_host("h".into())
                .with_port(9092)])
            .with_controller_id(1)
            .with_topics(vec![
                MetadataResponseTopic::default()
                    .with_name(Some("t".into()))
                    .with_partitions(vec![
                        MetadataResponsePartition::default()
                            .with_partition_index(1)
                            .with_leader_id(-1),
                        MetadataResponsePartition::default()
                            .with_partition_index(0)
                            .with_leader_id(1)
                            .with_replica_nodes(vec![1])
                            .with_isr_nodes(vec![1]),
                    ]),
                MetadataResponseTopic::default()
                    .with_name(Some("gone".into()))
                    .with_error_code(ErrorCode::UnknownTopicOrPartition.code()),
                MetadataResponseTopic::default()
                    .with_name(Some("__consumer_offsets".into()))
                    .with_is_internal(true),
            ])
    }

    #[test]
    fn describe_topics_sorts_partitions_and_fails_on_an_unknown_topic() {
        let m = metadata();
        let d = topic_descriptions(&m, &["t".into()]).unwrap();
        assert_eq!(d.len(), 1);
        let parts: Vec<i32> = d[0].partitions.iter().map(|p| p.partition).collect();
        assert_eq!(parts, [0, 1]);
        assert_eq!(d[0].partitions[0].leader, Some(1));
        assert_eq!(d[0].partitions[1].leader, None);
        for name in ["gone", "never-mentioned"] {
            let e = topic_descriptions(&m, &["t".into(), name.into()]).unwrap_err();
            assert_eq!(e.code(), Some(ErrorCode::UnknownTopicOrPartition));
            assert!(e.to_string().contains(name));
        }
    }

    #[test]
    fn topic_names_hide_internal_and_failed_topics() {
        let m = metadata();
        assert_eq!(topic_names(&m, false), ["t"]);
        assert_eq!(topic_names(&m, true), ["__consumer_offsets", "t"]);
    }

    #[test]
    fn metadata_request_never_creates_topics() {
        let names = vec!["a".to_string()];
        let r = metadata_request(Some(&names), 12);
        assert!(!r.allow_auto_topic_creation);
        assert_eq!(r.topics.as_ref().map(Vec::len), Some(1));
        // Before v4 the broker may create named topics: ask for all of them instead.
        assert_eq!(metadata_request(Some(&names), 3).topics, None);
        assert_eq!(metadata_request(Some(&names), 0).topics, Some(Vec::new()));
        assert_eq!(metadata_request(None, 5).topics, None);
    }

    #[test]
    fn leaders_and_their_absence() {
        let m = metadata();
        assert_eq!(leader_of(&m, &TopicPartition::new("t", 0)).unwrap(), 1);
        let no_leader = leader_of(&m, &TopicPartition::new("t", 1)).unwrap_err();
        assert_eq!(no_leader.code(), Some(ErrorCode::LeaderNotAvailable));
        let no_partition = leader_of(&m, &TopicPartition::new("t", 7)).unwrap_err();
        assert_eq!(
            no_partition.code(),
            Some(ErrorCode::UnknownTopicOrPartition)
        );
        assert!(no_partition.is_retriable());
        let gone = leader_of(&m, &TopicPartition::new("gone", 0)).unwrap_err();
        assert_eq!(gone.code(), Some(ErrorCode::UnknownTopicOrPartition));
    }

    #[test]
    fn cluster_controller_is_looked_up_among_brokers() {
        let c = cluster_from_metadata(&metadata());
        assert_eq!(c.controller.map(|n| n.id), Some(1));
        let m = metadata().with_controller_id(-1);
        assert_eq!(cluster_from_metadata(&m).controller, None);
    }

    fn entry(name: &str, value: Option<&str>, source: ConfigSource) -> ConfigEntry {
        ConfigEntry {
            name: name.into(),
            value: value.map(String::from),
            source,
            is_default: source == ConfigSource::DefaultConfig,
            read_only: false,
            sensitive: value.is_none(),
        }
    }

    #[test]
    fn config_entries_report_defaults_in_every_version() {
        let r = DescribeConfigsResponse::default().with_results(vec![
            DescribeConfigsResult::default()
                .with_resource_type(2)
                .with_resource_name("t".into())
                .with_configs(vec![
                    DescribeConfigsResourceResult::default()
                        .with_name("retention.ms".into())
                        .with_value(Some("1000".into()))
                        .with_config_source(1),
                    DescribeConfigsResourceResult::default()
                        .with_name("segment.bytes".into())
                        .with_value(Some("1".into()))
                        .with_config_source(5),
                    // v0: no source, only is_default.
                    DescribeConfigsResourceResult::default()
                        .with_name("old".into())
                        .with_is_default(true),
                ]),
            DescribeConfigsResult::default()
                .with_resource_type(4)
                .with_resource_name("9".into())
                .with_error_code(ErrorCode::InvalidRequest.code()),
        ]);
        let results = config_results(&r);
        let topic = results[&ConfigResource::topic("t")].as_ref().unwrap();
        assert_eq!(topic[0].source, ConfigSource::DynamicTopicConfig);
        assert!(!topic[0].is_default);
        assert!(topic[1].is_default);
        assert!(topic[2].is_default);
        assert_eq!(topic[2].source, ConfigSource::Unknown);
        let broker = &results[&ConfigResource::broker(9)];
        assert_eq!(
            broker.as_ref().unwrap_err().code(),
            Some(ErrorCode::InvalidRequest)
        );
    }

    #[test]
    fn legacy_alter_keeps_other_overrides_and_edits_lists() {
        let res = ConfigResource::topic("t");
        let entries = [
            entry(
                "retention.ms",
                Some("1000"),
                ConfigSource::DynamicTopicConfig,
            ),
            entry(
                "cleanup.policy",
                Some("delete"),
                ConfigSource::DefaultConfig,
            ),
            entry("segment.ms", Some("5"), ConfigSource::DynamicTopicConfig),
        ];
        let next = apply_ops(
            &res,
            &entries,
            &[
                AlterConfigOp::set("max.message.bytes", "10"),
                AlterConfigOp::delete("segment.ms"),
                AlterConfigOp::append("cleanup.policy", "compact,delete"),
            ],
        )
        .unwrap();
        let expected: BTreeMap<String, String> = [
            ("retention.ms", "1000"),
            ("max.message.bytes", "10"),
            ("cleanup.policy", "delete,compact"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(next, expected);
        let next = apply_ops(
            &res,
            &entries,
            &[AlterConfigOp::subtract("cleanup.policy", "delete")],
        )
        .unwrap();
        assert_eq!(next["cleanup.policy"], "");
    }

    #[test]
    fn legacy_alter_refuses_to_erase_a_sensitive_override() {
        let res = ConfigResource::broker(1);
        let entries = [entry(
            "ssl.key.password",
            None,
            ConfigSource::DynamicBrokerConfig,
        )];
        let e = apply_ops(&res, &entries, &[AlterConfigOp::set("a", "b")]).unwrap_err();
        assert!(matches!(e, Error::UnsupportedVersion(_)));
        let e = apply_ops(
            &ConfigResource::topic("t"),
            &[],
            &[AlterConfigOp {
                name: "a".into(),
                value: None,
                op: AlterConfigOpType::Set,
            }],
        )
        .unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::InvalidRequest));
    }

    #[test]
    fn coordinators_batched_and_single() {
        use kafka_protocol::messages::find_coordinator_response::Coordinator;
        let r = FindCoordinatorResponse::default().with_coordinators(vec![
            Coordinator::default().with_key("a".into()).with_node_id(3),
            Coordinator::default()
                .with_key("b".into())
                .with_node_id(-1)
                .with_error_code(ErrorCode::CoordinatorLoadInProgress.code()),
        ]);
        let c = coordinators(&r, None);
        assert_eq!(c["a"].as_ref().unwrap(), &3);
        assert_eq!(
            c["b"].as_ref().unwrap_err().code(),
            Some(ErrorCode::CoordinatorLoadInProgress)
        );
        let r = FindCoordinatorResponse::default().with_node_id(-1);
        let c = coordinators(&r, Some("g"));
        assert_eq!(
            c["g"].as_ref().unwrap_err().code(),
            Some(ErrorCode::CoordinatorNotAvailable)
        );
    }

    fn assignment_bytes(version: i16) -> Bytes {
        let a = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            AssignedTopic::default()
                .with_topic("t".into())
                .with_partitions(vec![0, 2]),
        ]);
        let mut buf = bytes::BytesMut::new();
        buf.extend_from_slice(&version.to_be_bytes());
        a.encode(&mut buf, version.min(3)).unwrap();
        buf.freeze()
    }

    #[test]
    fn assignments_decode_including_newer_versions() {
        let expected = vec![TopicPartition::new("t", 0), TopicPartition::new("t", 2)];
        assert_eq!(decode_assignment(&assignment_bytes(0)), expected);
        assert_eq!(decode_assignment(&assignment_bytes(3)), expected);
        assert_eq!(decode_assignment(&assignment_bytes(7)), expected);
        assert!(decode_assignment(&Bytes::new()).is_empty());
        assert!(decode_assignment(&Bytes::from_static(&[0xff, 0xff, 0, 0])).is_empty());
        let whole = assignment_bytes(1);
        for cut in 0..whole.len() {
            assert!(
                decode_assignment(&whole.slice(..cut)).is_empty(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_huge_array_length_is_refused_without_allocating_it() {
        let mut b = vec![0, 1];
        b.extend_from_slice(&i32::MAX.to_be_bytes());
        assert!(decode_assignment(&Bytes::from(b)).is_empty());
    }

    proptest! {
        #[test]
        fn hostile_assignments_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_assignment(&Bytes::from(bytes));
        }

        #[test]
        fn mutated_assignments_never_panic(at in 0usize..64, byte in any::<u8>()) {
            let mut b = assignment_bytes(1).to_vec();
            if let Some(x) = b.get_mut(at) {
                *x = byte;
            }
            let _ = decode_assignment(&Bytes::from(b));
        }
    }

    #[test]
    fn committed_offsets_old_and_new_layouts() {
        use kafka_protocol::messages::offset_fetch_response::{
            OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
            OffsetFetchResponseTopic, OffsetFetchResponseTopics,
        };
        let old =
            OffsetFetchResponse::default().with_topics(vec![OffsetFetchResponseTopic::default()
                .with_name("t".into())
                .with_partitions(vec![
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(5),
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(1)
                        .with_committed_offset(-1),
                ])]);
        let got = committed_offsets(&old, "g").unwrap();
        assert_eq!(
            got.into_iter().collect::<Vec<_>>(),
            [(TopicPartition::new("t", 0), 5)]
        );
        let new =
            OffsetFetchResponse::default().with_groups(vec![OffsetFetchResponseGroup::default()
                .with_group_id("g".into())
                .with_topics(vec![OffsetFetchResponseTopics::default()
                    .with_name("t".into())
                    .with_partitions(vec![OffsetFetchResponsePartitions::default()
                        .with_partition_index(2)
                        .with_committed_offset(9)])])]);
        let got = committed_offsets(&new, "g").unwrap();
        assert_eq!(
            got.into_iter().collect::<Vec<_>>(),
            [(TopicPartition::new("t", 2), 9)]
        );
        let failed =
            OffsetFetchResponse::default().with_groups(vec![OffsetFetchResponseGroup::default()
                .with_group_id("g".into())
                .with_error_code(ErrorCode::NotCoordinator.code())]);
        assert_eq!(
            committed_offsets(&failed, "g").unwrap_err().code(),
            Some(ErrorCode::NotCoordinator)
        );
    }

    #[test]
    fn offset_commit_from_outside_the_group_groups_by_topic() {
        let offsets: BTreeMap<TopicPartition, i64> = [
            (TopicPartition::new("a", 0), 5),
            (TopicPartition::new("a", 1), 6),
            (TopicPartition::new("b", 0), 7),
        ]
        .into_iter()
        .collect();
        let r = offset_commit_request("g", &offsets);
        assert_eq!(
            (r.generation_id_or_member_epoch, r.member_id.as_str()),
            (-1, "")
        );
        let shape: Vec<(&str, Vec<(i32, i64)>)> = r
            .topics
            .iter()
            .map(|t| {
                let ps = t
                    .partitions
                    .iter()
                    .map(|p| (p.partition_index, p.committed_offset));
                (t.name.as_str(), ps.collect())
            })
            .collect();
        assert_eq!(shape, [("a", vec![(0, 5), (1, 6)]), ("b", vec![(0, 7)])]);
    }

    #[test]
    fn offset_commit_results_retry_coordinator_errors_as_the_groups() {
        use kafka_protocol::messages::offset_commit_response::{
            OffsetCommitResponsePartition, OffsetCommitResponseTopic,
        };
        let answer = |codes: &[ErrorCode]| {
            OffsetCommitResponse::default().with_topics(vec![OffsetCommitResponseTopic::default()
                .with_name("t".into())
                .with_partitions(
                    codes
                        .iter()
                        .enumerate()
                        .map(|(i, c)| {
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(i as i32)
                                .with_error_code(c.code())
                        })
                        .collect(),
                )])
        };
        let retry = |e: &Error| e.code() == Some(ErrorCode::NotCoordinator);
        let ok = offset_commit_results(
            &answer(&[ErrorCode::None, ErrorCode::UnknownMemberId]),
            retry,
        )
        .unwrap();
        assert!(ok[&TopicPartition::new("t", 0)].is_ok());
        assert_eq!(
            code(&ok[&TopicPartition::new("t", 1)]),
            Some(ErrorCode::UnknownMemberId)
        );
        let moved = offset_commit_results(&answer(&[ErrorCode::NotCoordinator]), retry);
        assert_eq!(moved.unwrap_err().code(), Some(ErrorCode::NotCoordinator));
    }

    #[test]
    fn delete_records_answers_low_watermarks_or_errors() {
        use kafka_protocol::messages::delete_records_response::{
            DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
        };
        let req = delete_records_request(
            &[
                (TopicPartition::new("t", 1), 9),
                (TopicPartition::new("t", 0), -1),
            ],
            100,
        );
        assert_eq!(req.topics.len(), 1);
        assert_eq!(req.topics[0].partitions.len(), 2);
        let r =
            DeleteRecordsResponse::default().with_topics(vec![DeleteRecordsTopicResult::default()
                .with_name("t".into())
                .with_partitions(vec![
                    DeleteRecordsPartitionResult::default()
                        .with_partition_index(0)
                        .with_low_watermark(4),
                    DeleteRecordsPartitionResult::default()
                        .with_partition_index(1)
                        .with_low_watermark(-1)
                        .with_error_code(ErrorCode::OffsetOutOfRange.code()),
                ])]);
        let results = delete_records_results(&r);
        assert_eq!(results[0].1.as_ref().ok(), Some(&4));
        assert_eq!(
            results[1].1.as_ref().unwrap_err().code(),
            Some(ErrorCode::OffsetOutOfRange)
        );
    }

    #[test]
    fn acl_answers() {
        use kafka_protocol::messages::describe_acls_response::{
            AclDescription, DescribeAclsResource,
        };
        let disabled = DescribeAclsResponse::default()
            .with_error_code(ErrorCode::SecurityDisabled.code())
            .with_error_message(Some("No Authorizer is configured.".into()));
        let e = described_acls(&disabled).unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::SecurityDisabled));
        assert!(e.to_string().contains("No Authorizer"), "{e}");

        let listed =
            DescribeAclsResponse::default().with_resources(vec![DescribeAclsResource::default()
                .with_resource_type(2)
                .with_resource_name("t".into())
                .with_pattern_type(3)
                .with_acls(vec![
                    AclDescription::default()
                        .with_principal("User:a".into())
                        .with_host("*".into())
                        .with_operation(3)
                        .with_permission_type(3),
                    // An operation from a newer broker is skipped, not fatal.
                    AclDescription::default()
                        .with_principal("User:b".into())
                        .with_host("*".into())
                        .with_operation(99)
                        .with_permission_type(3),
                ])]);
        let acls = described_acls(&listed).unwrap();
        assert_eq!(acls.len(), 1);
        assert_eq!(acls[0].operation, AclOperation::Read);
        assert_eq!(acls[0].resource_type, AclResourceType::Topic);

        let created = create_acls_results(
            acls.clone(),
            &[AclCreationResult::default().with_error_code(ErrorCode::SecurityDisabled.code())],
        );
        assert_eq!(code(&created[0].1), Some(ErrorCode::SecurityDisabled));
        let deleted =
            delete_acls_results(vec![AclBindingFilter::any(), AclBindingFilter::any()], &[]);
        assert!(deleted.iter().all(|(_, r)| r.is_err()));
    }
}

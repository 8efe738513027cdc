//! Topic administration: CreateTopics, DeleteTopics, CreatePartitions, DeleteRecords, and topic
//! configs (DescribeConfigs, AlterConfigs, IncrementalAlterConfigs).

use std::collections::BTreeMap;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, CreatePartitionsRequest, CreatePartitionsResponse,
    CreateTopicsRequest, CreateTopicsResponse, DeleteRecordsRequest, DeleteRecordsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, ResponseKind,
};
use kafka_protocol::ErrorCode;
use kafka_server::RequestContext;
use kafka_storage::{LogConfig, TopicPartition};

use super::broker_configs::{broker_sources, SOURCE_DEFAULT};
use super::BrokerState;
use crate::metadata::{validate_topic_name, TopicInfo};

/// Kafka's resource types in config requests.
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
/// Kafka's config source of a topic override.
const SOURCE_DYNAMIC_TOPIC: i8 = 1;
/// Kafka's config types.
const TYPE_STRING: i8 = 2;
const TYPE_INT: i8 = 3;
const TYPE_LONG: i8 = 5;
const TYPE_LIST: i8 = 7;

/// Topic-level keys: (topic key, broker synonym, type).
const TOPIC_CONFIGS: &[(&str, &str, i8)] = &[
    ("cleanup.policy", "log.cleanup.policy", TYPE_LIST),
    ("compression.type", "compression.type", TYPE_STRING),
    ("flush.messages", "log.flush.interval.messages", TYPE_LONG),
    ("flush.ms", "log.flush.interval.ms", TYPE_LONG),
    ("index.interval.bytes", "log.index.interval.bytes", TYPE_INT),
    ("max.message.bytes", "message.max.bytes", TYPE_INT),
    (
        "message.timestamp.type",
        "log.message.timestamp.type",
        TYPE_STRING,
    ),
    ("min.insync.replicas", "min.insync.replicas", TYPE_INT),
    ("retention.bytes", "log.retention.bytes", TYPE_LONG),
    ("retention.ms", "log.retention.ms", TYPE_LONG),
    ("segment.bytes", "log.segment.bytes", TYPE_INT),
    ("segment.ms", "log.roll.ms", TYPE_LONG),
];

/// The broker-level default of each topic key, from the broker's log configuration.
fn topic_defaults(state: &BrokerState) -> BTreeMap<&'static str, String> {
    let base: LogConfig = state.logs.default_config();
    let mut d = BTreeMap::new();
    d.insert("cleanup.policy", base.cleanup_policy.clone());
    d.insert("compression.type", "producer".to_string());
    d.insert(
        "flush.messages",
        base.flush_interval_messages
            .map_or(i64::MAX.to_string(), |v| v.to_string()),
    );
    d.insert(
        "flush.ms",
        base.flush_interval_ms
            .map_or(i64::MAX.to_string(), |v| v.to_string()),
    );
    d.insert(
        "index.interval.bytes",
        base.index_interval_bytes.to_string(),
    );
    d.insert("max.message.bytes", base.max_message_bytes.to_string());
    d.insert(
        "message.timestamp.type",
        base.message_timestamp_type.name().to_string(),
    );
    d.insert("min.insync.replicas", "1".to_string());
    d.insert(
        "retention.bytes",
        base.retention_bytes
            .map_or("-1".to_string(), |v| v.to_string()),
    );
    d.insert(
        "retention.ms",
        base.retention_ms
            .map_or("-1".to_string(), |v| v.to_string()),
    );
    d.insert("segment.bytes", base.segment_bytes.to_string());
    d.insert(
        "segment.ms",
        base.segment_ms
            .map_or(i64::MAX.to_string(), |v| v.to_string()),
    );
    d
}

/// Checks topic config overrides: known keys and values the log accepts.
fn validate_configs(
    state: &BrokerState,
    configs: &BTreeMap<String, String>,
) -> Result<(), (ErrorCode, String)> {
    for k in configs.keys() {
        if !TOPIC_CONFIGS.iter().any(|(name, _, _)| name == k) {
            return Err((
                ErrorCode::InvalidConfig,
                format!("Unknown topic config name: {k}"),
            ));
        }
    }
    let base = state.logs.default_config();
    LogConfig::from_topic_configs(&base, configs)
        .map_err(|e| (ErrorCode::InvalidConfig, e.to_string()))?;
    Ok(())
}

/// Creates a topic with its logs. `partitions` `None` uses `num.partitions`.
pub(super) fn create_topic(
    state: &BrokerState,
    name: &str,
    partitions: Option<i32>,
    configs: BTreeMap<String, String>,
) -> Result<TopicInfo, (ErrorCode, String)> {
    validate_topic_name(name).map_err(|m| (ErrorCode::InvalidTopicException, m))?;
    if name == super::groups::OFFSETS_TOPIC {
        return Err((
            ErrorCode::InvalidTopicException,
            format!("{name} is an internal topic"),
        ));
    }
    let partitions = match partitions {
        Some(p) if p <= 0 => {
            return Err((
                ErrorCode::InvalidPartitions,
                format!("Number of partitions must be larger than 0, got {p}."),
            ))
        }
        Some(p) => p,
        None => state
            .config
            .get("num.partitions")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
            .max(1),
    };
    validate_configs(state, &configs)?;
    create_on_controller(state, name, partitions, -1, Vec::new(), configs)
}

/// How long a handler waits for the controller to commit a metadata change.
const CONTROLLER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The error of a controller call that did not answer, as a (code, message) pair.
fn unanswered(code: ErrorCode) -> (ErrorCode, String) {
    (
        code,
        format!("The controller did not complete the request: {code:?}"),
    )
}

/// Runs `request` on the active controller and takes its answer apart with `pick` (the
/// response of the request's own API).
fn on_controller<T>(
    state: &BrokerState,
    request: kafka_protocol::messages::RequestKind,
    pick: impl FnOnce(ResponseKind) -> Option<T>,
) -> Result<T, (ErrorCode, String)> {
    let answer = state
        .controller
        .call(request, CONTROLLER_TIMEOUT)
        .map_err(unanswered)?;
    pick(answer).ok_or_else(|| unanswered(ErrorCode::UnknownServerError))
}

/// Creates a topic on the active controller (configs already validated here) and returns it
/// as this broker sees it once committed.
fn create_on_controller(
    state: &BrokerState,
    name: &str,
    partitions: i32,
    replication_factor: i16,
    assignments: Vec<kafka_protocol::messages::create_topics_request::CreatableReplicaAssignment>,
    configs: BTreeMap<String, String>,
) -> Result<TopicInfo, (ErrorCode, String)> {
    use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(CONTROLLER_TIMEOUT.as_millis() as i32)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name.to_string())
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor)
            .with_assignments(assignments)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(k.clone())
                            .with_value(Some(v.clone()))
                    })
                    .collect(),
            )]);
    let response = on_controller(
        state,
        kafka_protocol::messages::RequestKind::CreateTopics(request),
        |r| match r {
            ResponseKind::CreateTopics(r) => Some(r),
            _ => None,
        },
    )?;
    let Some(result) = response.topics.into_iter().next() else {
        return Err(unanswered(ErrorCode::UnknownServerError));
    };
    if result.error_code != 0 {
        return Err((
            ErrorCode::from_code(result.error_code),
            result.error_message.unwrap_or_default(),
        ));
    }
    tracing::info!(topic = %name, partitions = result.num_partitions, id = %result.topic_id, "created topic");
    Ok(TopicInfo {
        name: name.to_string(),
        id: result.topic_id,
        partitions: result.num_partitions,
        configs,
    })
}

pub(super) fn create_topics(
    state: &BrokerState,
    request: &RequestContext,
    req: &CreateTopicsRequest,
) -> ResponseKind {
    let version = request.api_version;
    let mut results = Vec::new();
    for t in &req.topics {
        let mut result = CreatableTopicResult::default().with_name(t.name.clone());
        let configs: BTreeMap<String, String> = t
            .configs
            .iter()
            .filter_map(|c| c.value.clone().map(|v| (c.name.clone(), v)))
            .collect();
        // Followers do not replicate yet: a second replica would be an empty copy counted as
        // in sync, and a fail-over onto it would lose data. Refused until they do.
        let outcome = if t.replication_factor > 1
            || (!t.assignments.is_empty() && t.assignments.iter().any(|a| a.broker_ids.len() > 1))
        {
            Err((
                ErrorCode::InvalidReplicationFactor,
                format!("Unable to replicate the partition {} time(s): this cluster keeps one replica per partition until replication is implemented.", t.replication_factor),
            ))
        } else if t.replication_factor == 0 || t.replication_factor < -1 {
            Err((
                ErrorCode::InvalidReplicationFactor,
                "Replication factor must be larger than 0, or -1 to use the default value."
                    .to_string(),
            ))
        } else {
            let partitions = if !t.assignments.is_empty() {
                Some(t.assignments.len() as i32)
            } else if t.num_partitions == -1 {
                None
            } else {
                Some(t.num_partitions)
            };
            if req.validate_only {
                validate_topic_name(&t.name)
                    .map_err(|m| (ErrorCode::InvalidTopicException, m))
                    .and_then(|_| match state.topics.get(&t.name) {
                        Some(_) => Err((
                            ErrorCode::TopicAlreadyExists,
                            format!("Topic '{}' already exists.", t.name),
                        )),
                        None => validate_configs(state, &configs),
                    })
                    .and_then(|_| match partitions {
                        Some(p) if p <= 0 => Err((
                            ErrorCode::InvalidPartitions,
                            "Number of partitions must be larger than 0.".into(),
                        )),
                        Some(p) => Ok(TopicInfo {
                            name: t.name.clone(),
                            id: kafka_protocol::Uuid::ZERO,
                            partitions: p,
                            configs: configs.clone(),
                        }),
                        None => Ok(TopicInfo {
                            name: t.name.clone(),
                            id: kafka_protocol::Uuid::ZERO,
                            partitions: state
                                .config
                                .get("num.partitions")
                                .and_then(|v| v.parse().ok())
                                .unwrap_or(1)
                                .max(1),
                            configs: configs.clone(),
                        }),
                    })
            } else {
                validate_topic_name(&t.name)
                    .map_err(|m| (ErrorCode::InvalidTopicException, m))
                    .and_then(|_| validate_configs(state, &configs))
                    .and_then(|_| {
                        create_on_controller(
                            state,
                            &t.name,
                            partitions.unwrap_or(-1),
                            t.replication_factor,
                            t.assignments.clone(),
                            configs.clone(),
                        )
                    })
            }
        };
        match outcome {
            Ok(info) => {
                let replication = state
                    .metadata
                    .image()
                    .partition(&info.name, 0)
                    .map_or(t.replication_factor.max(1), |p| {
                        i16::try_from(p.replicas.len()).unwrap_or(i16::MAX)
                    });
                result = result
                    .with_topic_id(info.id)
                    .with_num_partitions(info.partitions)
                    .with_replication_factor(replication);
                if version >= 5 {
                    result = result.with_configs(Some(
                        describe_topic_entries(state, &info.configs, None)
                            .into_iter()
                            .map(|c| {
                                CreatableTopicConfigs::default()
                                    .with_name(c.name)
                                    .with_value(c.value)
                                    .with_read_only(c.read_only)
                                    .with_config_source(c.config_source)
                                    .with_is_sensitive(c.is_sensitive)
                            })
                            .collect(),
                    ));
                }
            }
            Err((code, msg)) => {
                result = result
                    .with_error_code(code.code())
                    .with_error_message(Some(msg))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1);
            }
        }
        results.push(result);
    }
    ResponseKind::CreateTopics(CreateTopicsResponse::default().with_topics(results))
}

fn delete_topic(state: &BrokerState, info: &TopicInfo) -> Result<(), (ErrorCode, String)> {
    if !state.config.bool("delete.topic.enable") {
        return Err((
            ErrorCode::TopicDeletionDisabled,
            "Topic deletion is disabled.".into(),
        ));
    }
    let request = DeleteTopicsRequest::default()
        .with_timeout_ms(CONTROLLER_TIMEOUT.as_millis() as i32)
        .with_topic_names(vec![info.name.clone()]);
    let response = on_controller(
        state,
        kafka_protocol::messages::RequestKind::DeleteTopics(request),
        |r| match r {
            ResponseKind::DeleteTopics(r) => Some(r),
            _ => None,
        },
    )?;
    if let Some(r) = response.responses.iter().find(|r| r.error_code != 0) {
        return Err((
            ErrorCode::from_code(r.error_code),
            r.error_message.clone().unwrap_or_default(),
        ));
    }
    Ok(())
}

pub(super) fn delete_topics(state: &BrokerState, req: &DeleteTopicsRequest) -> ResponseKind {
    let mut targets: Vec<(Option<String>, kafka_protocol::Uuid)> = req
        .topic_names
        .iter()
        .map(|n| (Some(n.clone()), kafka_protocol::Uuid::ZERO))
        .collect();
    targets.extend(req.topics.iter().map(|t| (t.name.clone(), t.topic_id)));
    let responses = targets
        .into_iter()
        .map(|(name, id)| {
            let found = match &name {
                Some(n) => state.topics.get(n),
                None => state.topics.get_by_id(&id),
            };
            let r = DeletableTopicResult::default()
                .with_name(name.clone())
                .with_topic_id(id);
            match found {
                None if name.is_some() => {
                    r.with_error_code(ErrorCode::UnknownTopicOrPartition.code())
                }
                None => r.with_error_code(ErrorCode::UnknownTopicId.code()),
                Some(info) => match delete_topic(state, &info) {
                    Ok(()) => r.with_name(Some(info.name.clone())).with_topic_id(info.id),
                    Err((code, msg)) => {
                        r.with_error_code(code.code()).with_error_message(Some(msg))
                    }
                },
            }
        })
        .collect();
    ResponseKind::DeleteTopics(DeleteTopicsResponse::default().with_responses(responses))
}

pub(super) fn create_partitions(
    state: &BrokerState,
    req: &CreatePartitionsRequest,
) -> ResponseKind {
    let results = req
        .topics
        .iter()
        .map(|t| {
            let r = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            let Some(info) = state.topics.get(&t.name) else {
                return r.with_error_code(ErrorCode::UnknownTopicOrPartition.code());
            };
            if t.count <= info.partitions {
                return r
                    .with_error_code(ErrorCode::InvalidPartitions.code())
                    .with_error_message(Some(format!(
                        "Topic currently has {} partitions, which is higher than the requested {}.",
                        info.partitions, t.count
                    )));
            }
            if req.validate_only {
                return r;
            }
            // No purgatory notification: a fetch of a partition that does not exist yet is
            // answered UNKNOWN_TOPIC_OR_PARTITION at once, never parked, so none waits on one.
            let one = CreatePartitionsRequest::default()
                .with_timeout_ms(CONTROLLER_TIMEOUT.as_millis() as i32)
                .with_topics(vec![t.clone()]);
            let outcome = state.controller.call(
                kafka_protocol::messages::RequestKind::CreatePartitions(one),
                CONTROLLER_TIMEOUT,
            );
            match outcome {
                Ok(ResponseKind::CreatePartitions(resp)) => match resp.results.into_iter().next() {
                    Some(answer) => answer,
                    None => r.with_error_code(ErrorCode::UnknownServerError.code()),
                },
                Ok(_) => r.with_error_code(ErrorCode::UnknownServerError.code()),
                Err(code) => r.with_error_code(code.code()),
            }
        })
        .collect();
    ResponseKind::CreatePartitions(CreatePartitionsResponse::default().with_results(results))
}

pub(super) fn delete_records(state: &BrokerState, req: &DeleteRecordsRequest) -> ResponseKind {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(-1);
                    let tp = TopicPartition {
                        topic: t.name.clone(),
                        partition: p.partition_index,
                    };
                    let log = match state.leader_log(&tp, -1) {
                        Ok((log, _)) => log,
                        Err(code) => return r.with_error_code(code.code()),
                    };
                    let offset = if p.offset == -1 {
                        log.high_watermark()
                    } else {
                        p.offset
                    };
                    if offset < 0 || offset > log.high_watermark() {
                        return r.with_error_code(ErrorCode::OffsetOutOfRange.code());
                    }
                    match log.delete_records_before(offset) {
                        Ok(low) => {
                            // As Kafka when the leader's start offset moves: a parked fetch
                            // below it now answers OFFSET_OUT_OF_RANGE.
                            state.purgatory.notify(&tp);
                            r.with_low_watermark(low)
                        }
                        Err(e) => {
                            tracing::warn!(%tp, error = %e, "DeleteRecords failed");
                            r.with_error_code(ErrorCode::KafkaStorageError.code())
                        }
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    ResponseKind::DeleteRecords(DeleteRecordsResponse::default().with_topics(topics))
}

fn describe_topic_entries(
    state: &BrokerState,
    overrides: &BTreeMap<String, String>,
    keys: Option<&[String]>,
) -> Vec<DescribeConfigsResourceResult> {
    let defaults = topic_defaults(state);
    TOPIC_CONFIGS
        .iter()
        .filter(|(name, _, _)| keys.is_none_or(|k| k.iter().any(|k| k == name)))
        .map(|(name, synonym, kind)| {
            let (value, source) = match overrides.get(*name) {
                Some(v) => (v.clone(), SOURCE_DYNAMIC_TOPIC),
                None => (
                    defaults.get(name).cloned().unwrap_or_default(),
                    broker_sources(state, synonym)
                        .first()
                        .map_or(SOURCE_DEFAULT, |(_, source, _)| *source),
                ),
            };
            DescribeConfigsResourceResult::default()
                .with_name(name.to_string())
                .with_value(Some(value))
                .with_is_default(source == SOURCE_DEFAULT)
                .with_config_source(source)
                .with_config_type(*kind)
        })
        .collect()
}

pub(super) fn describe_configs(
    state: &BrokerState,
    request: &RequestContext,
    req: &DescribeConfigsRequest,
) -> ResponseKind {
    let mut results: Vec<DescribeConfigsResult> = req
        .resources
        .iter()
        .map(|res| {
            let r = DescribeConfigsResult::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name.clone());
            match res.resource_type {
                RESOURCE_TOPIC => match state.topics.get(&res.resource_name) {
                    None => r
                        .with_error_code(ErrorCode::UnknownTopicOrPartition.code())
                        .with_error_message(Some(format!(
                            "Topic {} does not exist",
                            res.resource_name
                        ))),
                    Some(info) => {
                        let mut entries = describe_topic_entries(
                            state,
                            &info.configs,
                            res.configuration_keys.as_deref(),
                        );
                        if req.include_synonyms {
                            for e in &mut entries {
                                if e.config_source == SOURCE_DYNAMIC_TOPIC {
                                    e.synonyms.push(
                                        DescribeConfigsSynonym::default()
                                            .with_name(e.name.clone())
                                            .with_value(e.value.clone())
                                            .with_source(SOURCE_DYNAMIC_TOPIC),
                                    );
                                }
                                let broker_key = TOPIC_CONFIGS
                                    .iter()
                                    .find(|(n, _, _)| *n == e.name)
                                    .map(|(_, b, _)| *b);
                                if let Some(broker_key) = broker_key {
                                    for (name, source, value) in broker_sources(state, broker_key) {
                                        e.synonyms.push(
                                            DescribeConfigsSynonym::default()
                                                .with_name(name)
                                                .with_value(Some(value))
                                                .with_source(source),
                                        );
                                    }
                                }
                            }
                        }
                        r.with_configs(entries)
                    }
                },
                RESOURCE_BROKER => super::broker_configs::describe(
                    state,
                    r,
                    res.configuration_keys.as_deref(),
                    req.include_synonyms,
                    req.include_documentation,
                ),
                other => r
                    .with_error_code(ErrorCode::InvalidRequest.code())
                    .with_error_message(Some(format!("Unsupported resource type {other}"))),
            }
        })
        .collect();
    if request.api_version > 0 {
        // v1+ says where a value comes from instead (IsDefault exists only in v0).
        for r in &mut results {
            for c in &mut r.configs {
                c.is_default = false;
            }
        }
    }
    ResponseKind::DescribeConfigs(DescribeConfigsResponse::default().with_results(results))
}

/// Replaces or edits a topic's overrides; `edit` returns the new overrides.
fn change_topic_configs(
    state: &BrokerState,
    topic: &str,
    validate_only: bool,
    edit: impl FnOnce(
        &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, (ErrorCode, String)>,
) -> Result<(), (ErrorCode, String)> {
    let Some(info) = state.topics.get(topic) else {
        return Err((
            ErrorCode::UnknownTopicOrPartition,
            format!("Topic {topic} does not exist"),
        ));
    };
    let next = edit(&info.configs)?;
    validate_configs(state, &next)?;
    if validate_only {
        return Ok(());
    }
    // The whole new set of overrides replaces the old on the controller; every broker's
    // publisher then applies it to its logs.
    use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let request =
        AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(topic.to_string())
            .with_configs(
                next.iter()
                    .map(|(k, v)| {
                        AlterableConfig::default()
                            .with_name(k.clone())
                            .with_value(Some(v.clone()))
                    })
                    .collect(),
            )]);
    let response = on_controller(
        state,
        kafka_protocol::messages::RequestKind::AlterConfigs(request),
        |r| match r {
            ResponseKind::AlterConfigs(r) => Some(r),
            _ => None,
        },
    )?;
    match response.responses.into_iter().next() {
        Some(r) if r.error_code != 0 => Err((
            ErrorCode::from_code(r.error_code),
            r.error_message.unwrap_or_default(),
        )),
        Some(_) => Ok(()),
        None => Err(unanswered(ErrorCode::UnknownServerError)),
    }
}

pub(super) fn alter_configs(state: &BrokerState, req: &AlterConfigsRequest) -> ResponseKind {
    use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
    let responses = req
        .resources
        .iter()
        .map(|res| {
            let r = AlterConfigsResourceResponse::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name.clone());
            let replace = |_: &BTreeMap<String, String>| {
                Ok(res
                    .configs
                    .iter()
                    .filter_map(|c| c.value.clone().map(|v| (c.name.clone(), v)))
                    .collect())
            };
            let outcome = match res.resource_type {
                RESOURCE_TOPIC => {
                    change_topic_configs(state, &res.resource_name, req.validate_only, replace)
                }
                RESOURCE_BROKER => super::broker_configs::alter(
                    state,
                    &res.resource_name,
                    req.validate_only,
                    replace,
                ),
                other => Err((
                    ErrorCode::InvalidRequest,
                    format!("Unsupported resource type {other}"),
                )),
            };
            match outcome {
                Ok(()) => r,
                Err((code, msg)) => r.with_error_code(code.code()).with_error_message(Some(msg)),
            }
        })
        .collect();
    ResponseKind::AlterConfigs(AlterConfigsResponse::default().with_responses(responses))
}

pub(super) fn incremental_alter_configs(
    state: &BrokerState,
    req: &IncrementalAlterConfigsRequest,
) -> ResponseKind {
    use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
    let responses = req
        .resources
        .iter()
        .map(|res| {
            let r = AlterConfigsResourceResponse::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name.clone());
            let outcome = match res.resource_type {
                RESOURCE_TOPIC => {
                    let defaults = topic_defaults(state);
                    change_topic_configs(state, &res.resource_name, req.validate_only, |current| {
                        incremental_edit(current, &res.configs, |name| {
                            let kind = TOPIC_CONFIGS
                                .iter()
                                .find(|(n, _, _)| *n == name)
                                .map(|(_, _, t)| *t);
                            (kind == Some(TYPE_LIST))
                                .then(|| defaults.get(name).cloned().unwrap_or_default())
                        })
                    })
                }
                RESOURCE_BROKER => {
                    let current = state.dynamic.current();
                    super::broker_configs::alter(
                        state,
                        &res.resource_name,
                        req.validate_only,
                        |values| {
                            incremental_edit(values, &res.configs, |name| {
                                crate::config::resolve(name)
                                    .filter(|d| d.kind == crate::config::Type::List)
                                    .map(|_| current.get(name).unwrap_or("").to_string())
                            })
                        },
                    )
                }
                other => Err((
                    ErrorCode::InvalidRequest,
                    format!("Unsupported resource type {other}"),
                )),
            };
            match outcome {
                Ok(()) => r,
                Err((code, msg)) => r.with_error_code(code.code()).with_error_message(Some(msg)),
            }
        })
        .collect();
    ResponseKind::IncrementalAlterConfigs(
        IncrementalAlterConfigsResponse::default().with_responses(responses),
    )
}

/// IncrementalAlterConfigs' operations on `current`: SET (0), DELETE (1), APPEND (2) and
/// SUBTRACT (3). `list_base(name)` is `Some(effective value)` for a list key (what APPEND and
/// SUBTRACT start from when it is not set here), `None` for any other (which refuses them).
fn incremental_edit(
    current: &BTreeMap<String, String>,
    configs: &[kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig],
    list_base: impl Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, (ErrorCode, String)> {
    let mut next = current.clone();
    for c in configs {
        match c.config_operation {
            0 => {
                let v = c.value.clone().ok_or((
                    ErrorCode::InvalidRequest,
                    format!("Null value not supported for {}", c.name),
                ))?;
                next.insert(c.name.clone(), v);
            }
            1 => {
                next.remove(&c.name);
            }
            2 | 3 => {
                let Some(base) = list_base(&c.name) else {
                    return Err((
                        ErrorCode::InvalidConfig,
                        format!(
                            "Config value append is not allowed for config key: {}",
                            c.name
                        ),
                    ));
                };
                let existing = next.get(&c.name).cloned().unwrap_or(base);
                let split = |v: &str| -> Vec<String> {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                };
                let mut items = split(&existing);
                let changes = split(c.value.as_deref().unwrap_or_default());
                if c.config_operation == 2 {
                    for v in changes {
                        if !items.contains(&v) {
                            items.push(v);
                        }
                    }
                } else {
                    items.retain(|v| !changes.contains(v));
                }
                next.insert(c.name.clone(), items.join(","));
            }
            op => {
                return Err((
                    ErrorCode::InvalidRequest,
                    format!("Unknown config operation {op}"),
                ))
            }
        }
    }
    Ok(next)
}

//! CreateTopics, CreatePartitions and DeleteTopics, as Kafka's `ReplicationControlManager`.

use std::collections::BTreeSet;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse,
};
use kafka_protocol::{ErrorCode, Uuid};

use super::{ApiError, ConfigValidator, ControllerResult, QuorumController};
use crate::error::Result;
use crate::image::{ConfigResource, ConfigResourceType, PartitionRegistration};
use crate::placement::{place, PlacementError, UsableBroker};
use crate::records::{ConfigRecord, MetadataRecord, RemoveTopicRecord, TopicRecord};

/// Kafka's `__consumer_offsets`.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// The longest topic name Kafka accepts.
const MAX_NAME_LENGTH: usize = 249;

/// Kafka's `Topic.validate`.
pub fn validate_topic_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > MAX_NAME_LENGTH {
        return Err(format!(
            "Topic name is illegal, it can't be longer than {MAX_NAME_LENGTH} characters, topic name: {name}"
        ));
    }
    if !name
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'-')
    {
        return Err(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Names that differ only in '.' against '_' collide in metric names, so Kafka refuses them.
fn collision_key(name: &str) -> String {
    name.replace('.', "_")
}

impl QuorumController {
    fn usable_brokers(&self) -> Vec<UsableBroker> {
        self.speculative
            .brokers()
            .values()
            .filter(|b| b.is_active())
            .map(|b| UsableBroker {
                id: b.id,
                rack: b.rack.clone(),
            })
            .collect()
    }

    /// Places `count` partitions of `rf` replicas over the usable brokers.
    fn place_partitions(
        &mut self,
        count: usize,
        rf: i16,
    ) -> std::result::Result<Vec<Vec<i32>>, ApiError> {
        let brokers = self.usable_brokers();
        place(&brokers, count, rf, &mut self.rng).map_err(|e| match e {
            PlacementError::NonPositiveReplicationFactor(_) => ApiError::new(
                ErrorCode::InvalidReplicationFactor,
                "Replication factor must be larger than 0, or -1 to use the default value.",
            ),
            PlacementError::TooFewBrokers {
                replication_factor,
                brokers,
            } => ApiError::new(
                ErrorCode::InvalidReplicationFactor,
                format!(
                    "Unable to replicate the partition {replication_factor} time(s): The target \
                     replication factor of {replication_factor} cannot be reached because only \
                     {brokers} broker(s) are registered."
                ),
            ),
        })
    }

    /// Checks an explicit assignment (one broker list per new partition): lists non-empty,
    /// without duplicates, of registered brokers, with at least one active broker each.
    fn check_assignment(
        &self,
        partition: i32,
        brokers: &[i32],
    ) -> std::result::Result<(), ApiError> {
        let invalid = |m: String| ApiError::new(ErrorCode::InvalidReplicaAssignment, m);
        if brokers.is_empty() {
            return Err(invalid(format!(
                "The manual partition assignment includes an empty replica list for partition {partition}."
            )));
        }
        let distinct: BTreeSet<i32> = brokers.iter().copied().collect();
        if distinct.len() != brokers.len() {
            return Err(invalid(format!(
                "The manual partition assignment includes the broker {} more than once.",
                brokers
                    .iter()
                    .find(|b| brokers.iter().filter(|x| x == b).count() > 1)
                    .copied()
                    .unwrap_or(-1)
            )));
        }
        if let Some(b) = brokers
            .iter()
            .find(|b| self.speculative.broker(**b).is_none())
        {
            return Err(invalid(format!(
                "The manual partition assignment includes broker {b}, but no such broker is registered."
            )));
        }
        if !brokers
            .iter()
            .any(|b| self.speculative.broker(*b).is_some_and(|r| r.is_active()))
        {
            return Err(invalid(format!(
                "All brokers specified in the manual partition assignment for partition {partition} are fenced or in controlled shutdown."
            )));
        }
        Ok(())
    }

    /// A new partition on `replicas`: the ISR is its active replicas, the leader the first.
    fn new_partition(&self, replicas: Vec<i32>) -> PartitionRegistration {
        let isr: Vec<i32> = replicas
            .iter()
            .copied()
            .filter(|b| self.speculative.broker(*b).is_some_and(|r| r.is_active()))
            .collect();
        PartitionRegistration {
            leader: isr.first().copied().unwrap_or(-1),
            directories: vec![Uuid::ZERO; replicas.len()],
            replicas,
            isr,
            removing_replicas: Vec::new(),
            adding_replicas: Vec::new(),
            leader_recovery_state: 0,
            leader_epoch: 0,
            partition_epoch: 0,
        }
    }

    /// CreateTopics. Config keys and values are checked by `validator`.
    pub fn create_topics(
        &mut self,
        request: &CreateTopicsRequest,
        validator: &dyn ConfigValidator,
    ) -> Result<ControllerResult<CreateTopicsResponse>> {
        let mut results = Vec::with_capacity(request.topics.len());
        let mut batch = Vec::new();
        let mut seen = BTreeSet::new();
        let duplicates: BTreeSet<&str> = request
            .topics
            .iter()
            .filter(|t| !seen.insert(t.name.as_str()))
            .map(|t| t.name.as_str())
            .collect();
        for topic in &request.topics {
            let mut result = CreatableTopicResult::default()
                .with_name(topic.name.clone())
                .with_num_partitions(-1)
                .with_replication_factor(-1);
            let outcome = if !self.active {
                Err(ApiError::code(ErrorCode::NotController))
            } else if duplicates.contains(topic.name.as_str()) {
                Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    "Found multiple entries for this topic.",
                ))
            } else {
                self.create_topic(topic, request.validate_only, validator)
            };
            match outcome {
                Ok((id, partitions, rf, records)) => {
                    for r in records {
                        self.emit(&mut batch, r)?;
                    }
                    result = result
                        .with_topic_id(id)
                        .with_num_partitions(partitions)
                        .with_replication_factor(rf);
                }
                Err(e) => {
                    result = result
                        .with_error_code(e.code.code())
                        .with_error_message(e.message);
                }
            }
            results.push(result);
        }
        let records = self.finish(batch);
        Ok(ControllerResult::new(
            CreateTopicsResponse::default().with_topics(results),
            records,
        ))
    }

    /// Creates `__consumer_offsets` with `offsets.topic.num.partitions` partitions and
    /// `offsets.topic.replication.factor` replicas capped at the active brokers, compacted.
    pub fn create_offsets_topic(&mut self) -> Result<ControllerResult<CreateTopicsResponse>> {
        let active = self.usable_brokers().len().max(1);
        let rf = (self.config.offsets_topic_replication_factor.max(1) as usize).min(active) as i16;
        let request = CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
            .with_name(OFFSETS_TOPIC.to_string())
            .with_num_partitions(self.config.offsets_topic_num_partitions)
            .with_replication_factor(rf)
            .with_configs(vec![CreatableTopicConfig::default()
                .with_name("cleanup.policy".into())
                .with_value(Some("compact".into()))])]);
        self.create_topics(&request, &super::AcceptAllConfigs)
    }

    /// One topic of CreateTopics: its id, partition count and replication factor.
    fn create_topic(
        &mut self,
        topic: &CreatableTopic,
        validate_only: bool,
        validator: &dyn ConfigValidator,
    ) -> std::result::Result<(Uuid, i32, i16, Vec<MetadataRecord>), ApiError> {
        let name = topic.name.as_str();
        validate_topic_name(name)
            .map_err(|m| ApiError::new(ErrorCode::InvalidTopicException, m))?;
        if self.speculative.topic_by_name(name).is_some() {
            return Err(ApiError::new(
                ErrorCode::TopicAlreadyExists,
                format!("Topic '{name}' already exists."),
            ));
        }
        let key = collision_key(name);
        if let Some(other) = self
            .speculative
            .topics()
            .find(|t| collision_key(&t.name) == key)
        {
            return Err(ApiError::new(
                ErrorCode::InvalidTopicException,
                format!(
                    "Topic '{name}' collides with existing topic: {}",
                    other.name
                ),
            ));
        }
        let assignments = if topic.assignments.is_empty() {
            let partitions = match topic.num_partitions {
                -1 => self.config.num_partitions,
                n => n,
            };
            if partitions <= 0 {
                return Err(ApiError::new(
                    ErrorCode::InvalidPartitions,
                    "Number of partitions was set to an invalid non-positive value.",
                ));
            }
            let rf = match topic.replication_factor {
                -1 => self.config.default_replication_factor,
                n => n,
            };
            self.place_partitions(partitions as usize, rf)?
        } else {
            if topic.num_partitions != -1 || topic.replication_factor != -1 {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    "Both numPartitions or replicationFactor and replicasAssignment were set. Both cannot be used at the same time.",
                ));
            }
            ordered_assignment(&topic.assignments)?
        };
        for (i, replicas) in assignments.iter().enumerate() {
            self.check_assignment(i as i32, replicas)?;
        }
        let resource = ConfigResource::topic(name);
        let mut keys = BTreeSet::new();
        for c in &topic.configs {
            if !keys.insert(c.name.as_str()) {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("Duplicate config key {}.", c.name),
                ));
            }
            let Some(value) = c.value.as_deref() else {
                return Err(ApiError::new(
                    ErrorCode::InvalidConfig,
                    format!("Null value not supported for topic configs: {}", c.name),
                ));
            };
            validator.validate(&resource, &c.name, Some(value))?;
        }
        let partitions = assignments.len() as i32;
        let rf = assignments.first().map_or(0, |r| r.len()) as i16;
        if validate_only {
            return Ok((Uuid::ZERO, partitions, rf, Vec::new()));
        }
        let id = self.fresh_uuid();
        let mut records: Vec<MetadataRecord> = vec![TopicRecord::default()
            .with_name(name.to_string())
            .with_topic_id(id)
            .into()];
        for c in &topic.configs {
            records.push(
                ConfigRecord::default()
                    .with_resource_type(ConfigResourceType::Topic.code())
                    .with_resource_name(name.to_string())
                    .with_name(c.name.clone())
                    .with_value(c.value.clone())
                    .into(),
            );
        }
        for (i, replicas) in assignments.into_iter().enumerate() {
            records.push(self.new_partition(replicas).to_record(id, i as i32).into());
        }
        Ok((id, partitions, rf, records))
    }

    /// CreatePartitions: adds partitions to existing topics, placed as at creation with the
    /// replication factor of the topic's first partition, or as assigned.
    pub fn create_partitions(
        &mut self,
        request: &CreatePartitionsRequest,
    ) -> Result<ControllerResult<CreatePartitionsResponse>> {
        let mut results = Vec::with_capacity(request.topics.len());
        let mut batch = Vec::new();
        let mut seen = BTreeSet::new();
        let duplicates: BTreeSet<&str> = request
            .topics
            .iter()
            .filter(|t| !seen.insert(t.name.as_str()))
            .map(|t| t.name.as_str())
            .collect();
        for topic in &request.topics {
            let outcome = if !self.active {
                Err(ApiError::code(ErrorCode::NotController))
            } else if duplicates.contains(topic.name.as_str()) {
                Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    "Duplicate topic name.",
                ))
            } else {
                self.create_partitions_of(
                    &topic.name,
                    topic.count,
                    // An empty list is treated as null: no assignment given.
                    topic
                        .assignments
                        .as_deref()
                        .filter(|a| !a.is_empty())
                        .map(|a| a.iter().map(|x| x.broker_ids.clone()).collect::<Vec<_>>()),
                    request.validate_only,
                )
            };
            let mut result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
            match outcome {
                Ok(records) => {
                    for r in records {
                        self.emit(&mut batch, r)?;
                    }
                }
                Err(e) => {
                    result = result
                        .with_error_code(e.code.code())
                        .with_error_message(e.message);
                }
            }
            results.push(result);
        }
        let records = self.finish(batch);
        Ok(ControllerResult::new(
            CreatePartitionsResponse::default().with_results(results),
            records,
        ))
    }

    fn create_partitions_of(
        &mut self,
        name: &str,
        count: i32,
        assignments: Option<Vec<Vec<i32>>>,
        validate_only: bool,
    ) -> std::result::Result<Vec<MetadataRecord>, ApiError> {
        let Some(topic) = self.speculative.topic_by_name(name) else {
            return Err(ApiError::new(
                ErrorCode::UnknownTopicOrPartition,
                "This server does not host this topic-partition.",
            ));
        };
        let id = topic.id;
        let current = topic.partitions.len() as i32;
        let rf = topic
            .partitions
            .values()
            .next()
            .map_or(1, |p| p.replicas.len()) as i16;
        if count < current {
            return Err(ApiError::new(
                ErrorCode::InvalidPartitions,
                format!(
                    "Topic currently has {current} partitions, which is higher than the requested {count}."
                ),
            ));
        }
        if count == current {
            return Err(ApiError::new(
                ErrorCode::InvalidPartitions,
                format!("Topic already has {current} partitions."),
            ));
        }
        let added = (count - current) as usize;
        let assignments = match assignments {
            Some(a) => {
                if a.len() != added {
                    return Err(ApiError::new(
                        ErrorCode::InvalidReplicaAssignment,
                        format!(
                            "Attempted to add {added} additional partition(s), but only {} assignment(s) were specified.",
                            a.len()
                        ),
                    ));
                }
                for (i, replicas) in a.iter().enumerate() {
                    self.check_assignment(current + i as i32, replicas)?;
                }
                a
            }
            None => self.place_partitions(added, rf)?,
        };
        if validate_only {
            return Ok(Vec::new());
        }
        Ok(assignments
            .into_iter()
            .enumerate()
            .map(|(i, replicas)| {
                self.new_partition(replicas)
                    .to_record(id, current + i as i32)
                    .into()
            })
            .collect())
    }

    /// DeleteTopics, by name (v0-5 `topic_names`, or v6+ `topics` naming one) or by id.
    pub fn delete_topics(
        &mut self,
        request: &DeleteTopicsRequest,
    ) -> Result<ControllerResult<DeleteTopicsResponse>> {
        let wanted: Vec<(Option<String>, Uuid)> = if request.topics.is_empty() {
            request
                .topic_names
                .iter()
                .map(|n| (Some(n.clone()), Uuid::ZERO))
                .collect()
        } else {
            request
                .topics
                .iter()
                .map(|t| (t.name.clone(), t.topic_id))
                .collect()
        };
        let mut results = Vec::with_capacity(wanted.len());
        let mut batch = Vec::new();
        let mut deleted = BTreeSet::new();
        for (name, id) in wanted {
            let mut result = DeletableTopicResult::default()
                .with_name(name.clone())
                .with_topic_id(id);
            let found = match (&name, id) {
                _ if !self.active => Err(ApiError::code(ErrorCode::NotController)),
                (Some(_), id) if id != Uuid::ZERO => Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    "Both topic name and topic id were set.",
                )),
                (Some(n), _) => self
                    .speculative
                    .topic_by_name(n)
                    .map(|t| (t.name.clone(), t.id))
                    .ok_or_else(|| {
                        ApiError::new(
                            ErrorCode::UnknownTopicOrPartition,
                            "This server does not host this topic-partition.",
                        )
                    }),
                (None, id) => self
                    .speculative
                    .topic_by_id(id)
                    .map(|t| (t.name.clone(), t.id))
                    .ok_or_else(|| {
                        ApiError::new(
                            ErrorCode::UnknownTopicId,
                            "This server does not host this topic ID.",
                        )
                    }),
            };
            let outcome = found.and_then(|(n, id)| {
                if !deleted.insert(id) {
                    return Err(ApiError::new(
                        ErrorCode::InvalidRequest,
                        "Duplicate topic name.",
                    ));
                }
                Ok((n, id))
            });
            match outcome {
                Ok((n, id)) => {
                    result = result.with_name(Some(n)).with_topic_id(id);
                    self.emit(
                        &mut batch,
                        RemoveTopicRecord::default().with_topic_id(id).into(),
                    )?;
                }
                Err(e) => {
                    result = result
                        .with_error_code(e.code.code())
                        .with_error_message(e.message);
                }
            }
            results.push(result);
        }
        let records = self.finish(batch);
        Ok(ControllerResult::new(
            DeleteTopicsResponse::default().with_responses(results),
            records,
        ))
    }
}

/// An explicit assignment in partition order; its indexes must be 0..n, each once.
fn ordered_assignment(
    assignments: &[CreatableReplicaAssignment],
) -> std::result::Result<Vec<Vec<i32>>, ApiError> {
    let mut sorted: Vec<&CreatableReplicaAssignment> = assignments.iter().collect();
    sorted.sort_by_key(|a| a.partition_index);
    for (i, a) in sorted.iter().enumerate() {
        if a.partition_index != i as i32 {
            return Err(ApiError::new(
                ErrorCode::InvalidReplicaAssignment,
                "Partitions should be a consecutive 0-based integer sequence",
            ));
        }
    }
    Ok(sorted.into_iter().map(|a| a.broker_ids.clone()).collect())
}

//! IncrementalAlterConfigs and AlterConfigs for topics, brokers and the cluster default, as
//! Kafka's `ConfigurationControlManager`. What a key means and which values it takes is the
//! broker's knowledge, asked through a [`ConfigValidator`].

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::{
    alter_configs_response, incremental_alter_configs_response, AlterConfigsRequest,
    AlterConfigsResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::ErrorCode;

use super::{ApiError, ConfigValidator, ControllerResult, QuorumController};
use crate::error::Result;
use crate::image::{ConfigResource, ConfigResourceType};
use crate::records::{ConfigRecord, MetadataRecord};

/// IncrementalAlterConfigs operations.
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

type Outcome = std::result::Result<Vec<MetadataRecord>, ApiError>;

impl QuorumController {
    /// Checks that `resource` can hold configs here: an existing topic, a broker id, or `""`.
    fn check_resource(
        &self,
        resource_type: i8,
        name: &str,
    ) -> std::result::Result<ConfigResource, ApiError> {
        let resource = ConfigResource {
            resource_type: ConfigResourceType::from_code(resource_type),
            name: name.to_string(),
        };
        match resource.resource_type {
            ConfigResourceType::Topic => {
                if self.speculative.topic_by_name(name).is_none() {
                    return Err(ApiError::new(
                        ErrorCode::UnknownTopicOrPartition,
                        format!("The topic '{name}' does not exist."),
                    ));
                }
            }
            ConfigResourceType::Broker => {
                if !name.is_empty() && name.parse::<i32>().map_or(true, |id| id < 0) {
                    return Err(ApiError::new(
                        ErrorCode::InvalidRequest,
                        format!("Illegal broker ID {name}"),
                    ));
                }
            }
            ConfigResourceType::Other(code) => {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("Unsupported resource type {code}"),
                ));
            }
        }
        Ok(resource)
    }

    /// Records taking `resource` from its current configs to `wanted` (only what changes).
    fn config_records(
        &self,
        resource: &ConfigResource,
        wanted: &BTreeMap<String, Option<String>>,
    ) -> Vec<MetadataRecord> {
        let current = self.speculative.configs(resource);
        wanted
            .iter()
            .filter(|(k, v)| current.and_then(|c| c.get(*k)) != v.as_ref())
            .map(|(k, v)| {
                ConfigRecord::default()
                    .with_resource_type(resource.resource_type.code())
                    .with_resource_name(resource.name.clone())
                    .with_name(k.clone())
                    .with_value(v.clone())
                    .into()
            })
            .collect()
    }

    /// IncrementalAlterConfigs: SET, DELETE, and APPEND/SUBTRACT on list keys.
    pub fn incremental_alter_configs(
        &mut self,
        request: &IncrementalAlterConfigsRequest,
        validator: &dyn ConfigValidator,
    ) -> Result<ControllerResult<IncrementalAlterConfigsResponse>> {
        let mut responses = Vec::with_capacity(request.resources.len());
        let mut batch = Vec::new();
        let mut seen = BTreeSet::new();
        let duplicates: BTreeSet<(i8, &str)> = request
            .resources
            .iter()
            .map(|r| (r.resource_type, r.resource_name.as_str()))
            .filter(|k| !seen.insert(*k))
            .collect();
        for r in &request.resources {
            let outcome: Outcome = if !self.active {
                Err(ApiError::code(ErrorCode::NotController))
            } else if duplicates.contains(&(r.resource_type, r.resource_name.as_str())) {
                Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    "Duplicate resource.",
                ))
            } else {
                self.check_resource(r.resource_type, &r.resource_name)
                    .and_then(|resource| {
                        let ops: Vec<(&str, i8, Option<&str>)> = r
                            .configs
                            .iter()
                            .map(|c| (c.name.as_str(), c.config_operation, c.value.as_deref()))
                            .collect();
                        self.incremental_changes(&resource, &ops, validator)
                    })
            };
            let mut response =
                incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name.clone());
            match outcome {
                Ok(records) if !request.validate_only => {
                    for rec in records {
                        self.emit(&mut batch, rec)?;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    response = response
                        .with_error_code(e.code.code())
                        .with_error_message(e.message);
                }
            }
            responses.push(response);
        }
        let records = self.finish(batch);
        Ok(ControllerResult::new(
            IncrementalAlterConfigsResponse::default().with_responses(responses),
            records,
        ))
    }

    fn incremental_changes(
        &self,
        resource: &ConfigResource,
        ops: &[(&str, i8, Option<&str>)],
        validator: &dyn ConfigValidator,
    ) -> Outcome {
        let current = self.speculative.configs(resource);
        let mut wanted: BTreeMap<String, Option<String>> = BTreeMap::new();
        for (name, op, value) in ops {
            if wanted.contains_key(*name) {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("Error due to duplicate config keys: {name}"),
                ));
            }
            let now = current.and_then(|c| c.get(*name)).map(String::as_str);
            let new = match *op {
                SET => Some(
                    value
                        .ok_or_else(|| {
                            ApiError::new(
                                ErrorCode::InvalidRequest,
                                format!("Null value not supported for : {name}"),
                            )
                        })?
                        .to_string(),
                ),
                DELETE => None,
                APPEND | SUBTRACT => {
                    if !validator.is_list(resource, name) {
                        return Err(ApiError::new(
                            ErrorCode::InvalidConfig,
                            format!(
                                "Can not {} to non-list config {name}.",
                                if *op == APPEND { "append" } else { "subtract" }
                            ),
                        ));
                    }
                    let mut items: Vec<&str> = now
                        .map(|v| v.split(',').filter(|s| !s.is_empty()).collect())
                        .unwrap_or_default();
                    let given: Vec<&str> = value
                        .unwrap_or("")
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .collect();
                    if *op == APPEND {
                        for g in given {
                            if !items.contains(&g) {
                                items.push(g);
                            }
                        }
                    } else {
                        items.retain(|i| !given.contains(i));
                    }
                    Some(items.join(","))
                }
                other => {
                    return Err(ApiError::new(
                        ErrorCode::InvalidRequest,
                        format!("Unknown config operation {other}"),
                    ))
                }
            };
            validator.validate(resource, name, new.as_deref())?;
            wanted.insert(name.to_string(), new);
        }
        Ok(self.config_records(resource, &wanted))
    }

    /// AlterConfigs (the legacy API): the given configs replace every config of the resource.
    pub fn alter_configs(
        &mut self,
        request: &AlterConfigsRequest,
        validator: &dyn ConfigValidator,
    ) -> Result<ControllerResult<AlterConfigsResponse>> {
        let mut responses = Vec::with_capacity(request.resources.len());
        let mut batch = Vec::new();
        for r in &request.resources {
            let outcome: Outcome = if !self.active {
                Err(ApiError::code(ErrorCode::NotController))
            } else {
                self.check_resource(r.resource_type, &r.resource_name)
                    .and_then(|resource| {
                        let mut wanted: BTreeMap<String, Option<String>> = self
                            .speculative
                            .configs(&resource)
                            .map(|c| c.keys().map(|k| (k.clone(), None)).collect())
                            .unwrap_or_default();
                        let mut given = BTreeSet::new();
                        for c in &r.configs {
                            if !given.insert(c.name.as_str()) {
                                return Err(ApiError::new(
                                    ErrorCode::InvalidRequest,
                                    format!("Error due to duplicate config keys: {}", c.name),
                                ));
                            }
                            let Some(v) = &c.value else {
                                return Err(ApiError::new(
                                    ErrorCode::InvalidRequest,
                                    format!("Null value not supported for : {}", c.name),
                                ));
                            };
                            wanted.insert(c.name.clone(), Some(v.clone()));
                        }
                        for (k, v) in &wanted {
                            validator.validate(&resource, k, v.as_deref())?;
                        }
                        Ok(self.config_records(&resource, &wanted))
                    })
            };
            let mut response = alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            match outcome {
                Ok(records) if !request.validate_only => {
                    for rec in records {
                        self.emit(&mut batch, rec)?;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    response = response
                        .with_error_code(e.code.code())
                        .with_error_message(e.message);
                }
            }
            responses.push(response);
        }
        let records = self.finish(batch);
        Ok(ControllerResult::new(
            AlterConfigsResponse::default().with_responses(responses),
            records,
        ))
    }
}

//! The admin client's call engine: one [`Call`] per `Admin` method, which builds that method's
//! requests, routes them (controller, group coordinator, partition leader, a broker's own
//! resources, least loaded broker), sends them over the shared [`NetworkClient`] and retries
//! what may succeed when tried again, within the call's deadline and retry budget.
//!
//! The facade in [`super`] owns the client and the deadlines; the functions here are the
//! bodies of its methods, and [`super::convert`] reads the answers.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Display;
use std::hash::Hash;
use std::time::{Duration, Instant};

use kafka_protocol::messages::alter_configs_request::{
    AlterConfigsRequest, AlterConfigsResource as LegacyResource, AlterableConfig as LegacyConfig,
};
use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsRequest, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_topics_request::{
    CreatableTopic, CreatableTopicConfig, CreateTopicsRequest,
};
use kafka_protocol::messages::delete_groups_request::DeleteGroupsRequest;
use kafka_protocol::messages::delete_topics_request::{DeleteTopicState, DeleteTopicsRequest};
use kafka_protocol::messages::describe_cluster_request::DescribeClusterRequest;
use kafka_protocol::messages::describe_configs_request::{
    DescribeConfigsRequest, DescribeConfigsResource,
};
use kafka_protocol::messages::describe_groups_request::DescribeGroupsRequest;
use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
};
use kafka_protocol::messages::list_groups_request::ListGroupsRequest;
use kafka_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use kafka_protocol::messages::metadata_response::MetadataResponse;
use kafka_protocol::messages::{RequestKind, ResponseKind};
use kafka_protocol::{ApiKey, ErrorCode};

use super::acl::{AclBinding, AclBindingFilter};
use super::convert;
use super::types::{
    AlterConfigOp, ClusterDescription, ConfigEntry, ConfigResource, GroupDescription, GroupListing,
    NewTopic, OffsetSpec, TopicDescription,
};
use crate::config::AdminConfig;
use crate::error::{Error, Result};
use crate::network_client::{backoff, NetworkClient};
use crate::types::{NodeId, TopicPartition};

/// Group coordinators in FindCoordinator (`key_type` 1 is transactional ids).
const COORDINATOR_KEY_TYPE_GROUP: i8 = 0;

/// The body of [`Admin::create_topics`](super::Admin::create_topics).
pub(super) fn create_topics(
    call: &mut Call<'_>,
    topics: &[NewTopic],
    validate_only: bool,
) -> Result<Vec<(String, Result<()>)>> {
    let mut by_name: HashMap<String, &NewTopic> = HashMap::new();
    for t in topics {
        by_name.entry(t.name.clone()).or_insert(t);
    }
    let names = unique(topics.iter().map(|t| t.name.clone()));
    Ok(call.drive(
        names,
        Call::route_to_controller,
        |call, node, pending| {
            let timeout_ms = call.request_timeout_ms();
            let resp = call.request(node, ApiKey::CreateTopics, None, |version| {
                let topics = pending
                    .iter()
                    .filter_map(|n| by_name.get(n))
                    .map(|t| creatable_topic(t, version))
                    .collect::<Result<Vec<_>>>()?;
                Ok(RequestKind::CreateTopics(
                    CreateTopicsRequest::default()
                        .with_topics(topics)
                        .with_timeout_ms(timeout_ms)
                        .with_validate_only(validate_only),
                ))
            })?;
            match resp {
                ResponseKind::CreateTopics(r) => Ok(convert::create_topics_results(&r)),
                other => Err(convert::unexpected("CreateTopics", &other)),
            }
        },
        retry_at_controller,
    ))
}

/// The body of [`Admin::delete_topics`](super::Admin::delete_topics).
pub(super) fn delete_topics(
    call: &mut Call<'_>,
    topics: &[&str],
) -> Result<Vec<(String, Result<()>)>> {
    let names = unique(topics.iter().map(|t| t.to_string()));
    Ok(call.drive(
        names,
        Call::route_to_controller,
        |call, node, pending| {
            let timeout_ms = call.request_timeout_ms();
            let resp = call.request(node, ApiKey::DeleteTopics, None, |version| {
                let mut r = DeleteTopicsRequest::default().with_timeout_ms(timeout_ms);
                // v6 names topics by name or id in one list; earlier versions by name.
                if version >= 6 {
                    r = r.with_topics(
                        pending
                            .iter()
                            .map(|n| DeleteTopicState::default().with_name(Some(n.clone())))
                            .collect(),
                    );
                } else {
                    r = r.with_topic_names(pending.to_vec());
                }
                Ok(RequestKind::DeleteTopics(r))
            })?;
            match resp {
                ResponseKind::DeleteTopics(r) => Ok(convert::delete_topics_results(&r)),
                other => Err(convert::unexpected("DeleteTopics", &other)),
            }
        },
        retry_at_controller,
    ))
}

/// The body of [`Admin::create_partitions`](super::Admin::create_partitions).
pub(super) fn create_partitions(
    call: &mut Call<'_>,
    partitions: &[(&str, i32)],
    validate_only: bool,
) -> Result<Vec<(String, Result<()>)>> {
    let mut counts: HashMap<String, i32> = HashMap::new();
    for (t, n) in partitions {
        counts.entry(t.to_string()).or_insert(*n);
    }
    let names = unique(partitions.iter().map(|(t, _)| t.to_string()));
    Ok(call.drive(
        names,
        Call::route_to_controller,
        |call, node, pending| {
            let timeout_ms = call.request_timeout_ms();
            let resp = call.request(node, ApiKey::CreatePartitions, None, |_| {
                let topics = pending
                    .iter()
                    .filter_map(|n| {
                        counts.get(n).map(|&count| {
                            CreatePartitionsTopic::default()
                                .with_name(n.clone())
                                .with_count(count)
                                .with_assignments(None)
                        })
                    })
                    .collect();
                Ok(RequestKind::CreatePartitions(
                    CreatePartitionsRequest::default()
                        .with_topics(topics)
                        .with_timeout_ms(timeout_ms)
                        .with_validate_only(validate_only),
                ))
            })?;
            match resp {
                ResponseKind::CreatePartitions(r) => Ok(convert::create_partitions_results(&r)),
                other => Err(convert::unexpected("CreatePartitions", &other)),
            }
        },
        retry_at_controller,
    ))
}

/// The body of [`Admin::describe_topics`](super::Admin::describe_topics).
pub(super) fn describe_topics(
    call: &mut Call<'_>,
    topics: &[&str],
) -> Result<Vec<TopicDescription>> {
    let names = unique(topics.iter().map(|t| t.to_string()));
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let m = call.fetch_metadata(Some(&names))?;
    convert::topic_descriptions(&m, &names)
}

/// The body of [`Admin::list_topics`](super::Admin::list_topics).
pub(super) fn list_topics(call: &mut Call<'_>, include_internal: bool) -> Result<Vec<String>> {
    let m = call.fetch_metadata(None)?;
    Ok(convert::topic_names(&m, include_internal))
}

/// The body of [`Admin::describe_cluster`](super::Admin::describe_cluster).
pub(super) fn describe_cluster(call: &mut Call<'_>) -> Result<ClusterDescription> {
    call.retrying(|call| {
        let node = call.any_node()?;
        let described = call.request(node, ApiKey::DescribeCluster, None, |_| {
            Ok(RequestKind::DescribeCluster(
                DescribeClusterRequest::default(),
            ))
        });
        match described {
            Ok(ResponseKind::DescribeCluster(r)) => convert::cluster_from_describe(&r),
            Ok(other) => Err(convert::unexpected("DescribeCluster", &other)),
            Err(Error::UnsupportedVersion(_)) => {
                let resp = call.request(node, ApiKey::Metadata, None, |_| {
                    Ok(RequestKind::Metadata(convert::metadata_request_no_topics()))
                })?;
                match resp {
                    ResponseKind::Metadata(m) => {
                        call.remember(&m);
                        Ok(convert::cluster_from_metadata(&m))
                    }
                    other => Err(convert::unexpected("Metadata", &other)),
                }
            }
            Err(e) => Err(e),
        }
    })
}

/// The body of [`Admin::describe_configs`](super::Admin::describe_configs).
pub(super) fn describe_configs(
    call: &mut Call<'_>,
    resources: &[ConfigResource],
) -> Result<Vec<(ConfigResource, Result<Vec<ConfigEntry>>)>> {
    let items = unique(resources.iter().cloned());
    Ok(call.drive(
        items,
        Call::route_config_resources,
        |call, node, pending| call.describe_configs_on(node, pending),
        |_| false,
    ))
}

/// The body of [`Admin::incremental_alter_configs`](super::Admin::incremental_alter_configs).
pub(super) fn incremental_alter_configs(
    call: &mut Call<'_>,
    changes: &[(ConfigResource, Vec<AlterConfigOp>)],
    validate_only: bool,
) -> Result<Vec<(ConfigResource, Result<()>)>> {
    let mut ops: HashMap<ConfigResource, Vec<AlterConfigOp>> = HashMap::new();
    for (res, list) in changes {
        ops.entry(res.clone())
            .or_default()
            .extend(list.iter().cloned());
    }
    let items = unique(changes.iter().map(|(r, _)| r.clone()));
    Ok(call.drive(
        items,
        Call::route_config_resources,
        |call, node, pending| {
            let resources: Vec<AlterConfigsResource> = pending
                .iter()
                .map(|res| {
                    let configs = ops
                        .get(res)
                        .map(|list| {
                            list.iter()
                                .map(|op| {
                                    AlterableConfig::default()
                                        .with_name(op.name.clone())
                                        .with_config_operation(op.op.code())
                                        .with_value(op.value.clone())
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    AlterConfigsResource::default()
                        .with_resource_type(res.kind.code())
                        .with_resource_name(res.name.clone())
                        .with_configs(configs)
                })
                .collect();
            let sent = call.request(node, ApiKey::IncrementalAlterConfigs, None, |_| {
                Ok(RequestKind::IncrementalAlterConfigs(
                    IncrementalAlterConfigsRequest::default()
                        .with_resources(resources)
                        .with_validate_only(validate_only),
                ))
            });
            match sent {
                Ok(ResponseKind::IncrementalAlterConfigs(r)) => {
                    Ok(convert::alter_results(r.responses.iter().map(|x| {
                        (
                            x.resource_type,
                            x.resource_name.as_str(),
                            x.error_code,
                            x.error_message.as_deref(),
                        )
                    })))
                }
                Ok(other) => Err(convert::unexpected("IncrementalAlterConfigs", &other)),
                Err(Error::UnsupportedVersion(_)) => {
                    call.legacy_alter_configs(node, pending, &ops, validate_only)
                }
                Err(e) => Err(e),
            }
        },
        |_| false,
    ))
}

/// The body of [`Admin::list_groups`](super::Admin::list_groups).
pub(super) fn list_groups(call: &mut Call<'_>) -> Result<Vec<GroupListing>> {
    call.ensure_metadata()?;
    let mut nodes: Vec<NodeId> = call
        .client
        .metadata()
        .cluster()
        .nodes
        .keys()
        .copied()
        .collect();
    nodes.sort_unstable();
    let mut groups: BTreeMap<String, GroupListing> = BTreeMap::new();
    for node in nodes {
        let listed = call.retrying(|call| {
            let resp = call.request(node, ApiKey::ListGroups, None, |_| {
                Ok(RequestKind::ListGroups(ListGroupsRequest::default()))
            })?;
            match resp {
                ResponseKind::ListGroups(r) => convert::group_listings(&r),
                other => Err(convert::unexpected("ListGroups", &other)),
            }
        })?;
        for g in listed {
            groups.entry(g.group_id.clone()).or_insert(g);
        }
    }
    Ok(groups.into_values().collect())
}

/// The body of [`Admin::describe_groups`](super::Admin::describe_groups).
pub(super) fn describe_groups(
    call: &mut Call<'_>,
    groups: &[&str],
) -> Result<Vec<GroupDescription>> {
    let ids = unique(groups.iter().map(|g| g.to_string()));
    call.drive(
        ids,
        Call::route_to_coordinators,
        |call, node, pending| {
            let resp = call.request(node, ApiKey::DescribeGroups, None, |_| {
                Ok(RequestKind::DescribeGroups(
                    DescribeGroupsRequest::default().with_groups(pending.to_vec()),
                ))
            })?;
            match resp {
                ResponseKind::DescribeGroups(r) => Ok(convert::group_descriptions(&r, node)),
                other => Err(convert::unexpected("DescribeGroups", &other)),
            }
        },
        retry_at_coordinator,
    )
    .into_iter()
    .map(|(_, r)| r)
    .collect()
}

/// The body of [`Admin::delete_groups`](super::Admin::delete_groups).
pub(super) fn delete_groups(
    call: &mut Call<'_>,
    groups: &[&str],
) -> Result<Vec<(String, Result<()>)>> {
    let ids = unique(groups.iter().map(|g| g.to_string()));
    Ok(call.drive(
        ids,
        Call::route_to_coordinators,
        |call, node, pending| {
            let resp = call.request(node, ApiKey::DeleteGroups, None, |_| {
                Ok(RequestKind::DeleteGroups(
                    DeleteGroupsRequest::default().with_groups_names(pending.to_vec()),
                ))
            })?;
            match resp {
                ResponseKind::DeleteGroups(r) => Ok(convert::delete_groups_results(&r)),
                other => Err(convert::unexpected("DeleteGroups", &other)),
            }
        },
        retry_at_coordinator,
    ))
}

/// The body of [`Admin::list_consumer_group_offsets`](super::Admin::list_consumer_group_offsets).
pub(super) fn list_consumer_group_offsets(
    call: &mut Call<'_>,
    group: &str,
) -> Result<BTreeMap<TopicPartition, i64>> {
    let results = call.drive(
        vec![group.to_string()],
        Call::route_to_coordinators,
        |call, node, _| {
            let resp = call.request(node, ApiKey::OffsetFetch, None, |version| {
                // Null topics ("all of them") exist from v2 on; v8+ batches groups.
                Ok(RequestKind::OffsetFetch(
                    crate::offsets::offset_fetch_request(group, None, version)?,
                ))
            })?;
            match resp {
                ResponseKind::OffsetFetch(r) => {
                    Ok([(group.to_string(), convert::committed_offsets(&r, group))]
                        .into_iter()
                        .collect())
                }
                other => Err(convert::unexpected("OffsetFetch", &other)),
            }
        },
        retry_at_coordinator,
    );
    results
        .into_iter()
        .next()
        .map_or_else(|| Ok(BTreeMap::new()), |(_, r)| r)
}

/// The body of
/// [`Admin::alter_consumer_group_offsets`](super::Admin::alter_consumer_group_offsets).
pub(super) fn alter_consumer_group_offsets(
    call: &mut Call<'_>,
    group: &str,
    offsets: &[(TopicPartition, i64)],
) -> Result<Vec<(TopicPartition, Result<()>)>> {
    let mut wanted: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    for (tp, offset) in offsets {
        wanted.entry(tp.clone()).or_insert(*offset);
    }
    let results = call.drive(
        vec![group.to_string()],
        Call::route_to_coordinators,
        |call, node, _| {
            let resp = call.request(node, ApiKey::OffsetCommit, None, |_| {
                Ok(RequestKind::OffsetCommit(convert::offset_commit_request(
                    group, &wanted,
                )))
            })?;
            match resp {
                ResponseKind::OffsetCommit(r) => Ok([(
                    group.to_string(),
                    convert::offset_commit_results(&r, retry_at_coordinator),
                )]
                .into_iter()
                .collect()),
                other => Err(convert::unexpected("OffsetCommit", &other)),
            }
        },
        retry_at_coordinator,
    );
    let mut answered = results
        .into_iter()
        .next()
        .map_or_else(|| Ok(HashMap::new()), |(_, r)| r)?;
    Ok(wanted
        .into_keys()
        .map(|tp| {
            let result = answered.remove(&tp).unwrap_or_else(|| {
                Err(Error::Other(format!(
                    "{tp}: missing from the OffsetCommit response"
                )))
            });
            (tp, result)
        })
        .collect())
}

/// The body of [`Admin::describe_acls`](super::Admin::describe_acls).
pub(super) fn describe_acls(
    call: &mut Call<'_>,
    filter: &AclBindingFilter,
) -> Result<Vec<AclBinding>> {
    call.retrying(|call| {
        let node = call.any_node()?;
        let resp = call.request(node, ApiKey::DescribeAcls, None, |_| {
            Ok(RequestKind::DescribeAcls(convert::describe_acls_request(
                filter,
            )))
        })?;
        match resp {
            ResponseKind::DescribeAcls(r) => convert::described_acls(&r),
            other => Err(convert::unexpected("DescribeAcls", &other)),
        }
    })
}

/// The body of [`Admin::create_acls`](super::Admin::create_acls).
pub(super) fn create_acls(
    call: &mut Call<'_>,
    acls: &[AclBinding],
) -> Result<Vec<(AclBinding, Result<()>)>> {
    let acls = unique(acls.iter().cloned());
    if acls.is_empty() {
        return Ok(Vec::new());
    }
    let results = call.retrying(|call| {
        let node = call.any_node()?;
        let resp = call.request(node, ApiKey::CreateAcls, None, |_| {
            Ok(RequestKind::CreateAcls(convert::create_acls_request(&acls)))
        })?;
        match resp {
            ResponseKind::CreateAcls(r) => Ok(r.results),
            other => Err(convert::unexpected("CreateAcls", &other)),
        }
    })?;
    Ok(convert::create_acls_results(acls, &results))
}

/// The body of [`Admin::delete_acls`](super::Admin::delete_acls).
pub(super) fn delete_acls(
    call: &mut Call<'_>,
    filters: &[AclBindingFilter],
) -> Result<Vec<(AclBindingFilter, Result<Vec<AclBinding>>)>> {
    let filters = unique(filters.iter().cloned());
    if filters.is_empty() {
        return Ok(Vec::new());
    }
    let results = call.retrying(|call| {
        let node = call.any_node()?;
        let resp = call.request(node, ApiKey::DeleteAcls, None, |_| {
            Ok(RequestKind::DeleteAcls(convert::delete_acls_request(
                &filters,
            )))
        })?;
        match resp {
            ResponseKind::DeleteAcls(r) => Ok(r.filter_results),
            other => Err(convert::unexpected("DeleteAcls", &other)),
        }
    })?;
    Ok(convert::delete_acls_results(filters, &results))
}

/// Per-partition errors of DeleteRecords that a leader lookup may cure.
fn retry_at_leader(e: &Error) -> bool {
    match e {
        Error::Kafka { code, .. } => matches!(
            code,
            ErrorCode::NotLeaderOrFollower
                | ErrorCode::LeaderNotAvailable
                | ErrorCode::FencedLeaderEpoch
                | ErrorCode::UnknownLeaderEpoch
                | ErrorCode::RequestTimedOut
        ),
        other => other.is_retriable(),
    }
}

/// The items of `iter` without repeats, first occurrence first.
fn unique<K: Clone + Eq + Hash>(iter: impl IntoIterator<Item = K>) -> Vec<K> {
    let mut seen = HashSet::new();
    iter.into_iter()
        .filter(|k| seen.insert(k.clone()))
        .collect()
}

/// Per-topic errors the controller asks to retry: it moved, or a quota holds the topic back.
fn retry_at_controller(e: &Error) -> bool {
    matches!(
        e.code(),
        Some(ErrorCode::NotController | ErrorCode::ThrottlingQuotaExceeded)
    )
}

/// Per-group errors that go away: a coordinator loading its state, or one that moved.
fn retry_at_coordinator(e: &Error) -> bool {
    matches!(
        e.code(),
        Some(
            ErrorCode::CoordinatorLoadInProgress
                | ErrorCode::CoordinatorNotAvailable
                | ErrorCode::NotCoordinator
        )
    )
}

/// Whether `e` means the client's view of the cluster is stale.
fn stale_metadata(e: &Error) -> bool {
    match e {
        Error::Disconnected { .. } => true,
        Error::Kafka { code, .. } => matches!(
            code,
            ErrorCode::NotController
                | ErrorCode::NotLeaderOrFollower
                | ErrorCode::LeaderNotAvailable
                | ErrorCode::UnknownTopicOrPartition
                | ErrorCode::FencedLeaderEpoch
                | ErrorCode::UnknownLeaderEpoch
        ),
        _ => false,
    }
}

fn creatable_topic(t: &NewTopic, version: i16) -> Result<CreatableTopic> {
    // -1 ("the broker's default") is understood from v4 on.
    if version < 4 && (t.num_partitions.is_none() || t.replication_factor.is_none()) {
        return Err(Error::UnsupportedVersion(format!(
            "topic '{}': the broker's default partitions or replication factor need \
             CreateTopics v4+, the broker speaks v{version}",
            t.name
        )));
    }
    Ok(CreatableTopic::default()
        .with_name(t.name.clone())
        .with_num_partitions(t.num_partitions.unwrap_or(-1))
        .with_replication_factor(t.replication_factor.unwrap_or(-1))
        .with_configs(
            t.configs
                .iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(k.clone())
                        .with_value(Some(v.clone()))
                })
                .collect(),
        ))
}

/// One admin call in progress: the client, the deadline and the retries used so far.
pub(super) struct Call<'a> {
    client: &'a mut NetworkClient,
    config: &'a AdminConfig,
    deadline: Instant,
    retries: u32,
    what: &'static str,
}

impl<'a> Call<'a> {
    /// A call with no retries used yet, ending at `deadline`; `what` names it in logs and
    /// timeout errors (Java's call names: `createTopics`, ...).
    pub(super) fn new(
        client: &'a mut NetworkClient,
        config: &'a AdminConfig,
        deadline: Instant,
        what: &'static str,
    ) -> Self {
        Call {
            client,
            config,
            deadline,
            retries: 0,
            what,
        }
    }

    /// The broker-side time limit of a request: what is left of the call, at most
    /// `request.timeout.ms`.
    fn request_timeout_ms(&self) -> i32 {
        let left = self
            .deadline
            .saturating_duration_since(Instant::now())
            .min(self.config.common.request_timeout);
        i32::try_from(left.as_millis()).unwrap_or(i32::MAX)
    }

    /// Polls once for at most `timeout`, dropping whatever answers arrive: the admin client
    /// waits for one request at a time, so anything else answers a request whose call gave
    /// up on it.
    fn poll_idle(&mut self, timeout: Duration) {
        for r in self.client.poll(timeout) {
            tracing::debug!(node = r.node, api = ?r.api_key, "dropping an answer no call waits for");
        }
    }

    /// Sends a request built for the newest version `node` and this client share (at most
    /// `max_version`) and waits for its answer.
    fn request(
        &mut self,
        node: NodeId,
        key: ApiKey,
        max_version: Option<i16>,
        build: impl FnOnce(i16) -> Result<RequestKind>,
    ) -> Result<ResponseKind> {
        self.await_node(node)?;
        let correlation =
            self.client
                .send_versioned(node, key, max_version, build, Instant::now())?;
        let answer = self.client.await_response(node, correlation, self.deadline);
        // One request at a time: anything else answers a request whose call gave up on it.
        self.poll_idle(Duration::ZERO);
        answer
    }

    /// Waits until a request can be sent to `node`. A failed connection attempt is an error
    /// (retriable) rather than a wait for the next one, so that the call backs off and may
    /// pick another broker.
    fn await_node(&mut self, node: NodeId) -> Result<()> {
        if self.client.node(node).is_none() && !self.client.is_connected(node) {
            self.client.metadata_mut().request_update();
            return Err(Error::Disconnected {
                node,
                reason: "not in the cluster metadata".into(),
            });
        }
        let mut attempted = false;
        loop {
            let now = Instant::now();
            if self.client.ready(node, now) {
                return Ok(());
            }
            if let Some(e) = self.client.authentication_error(node) {
                return Err(e);
            }
            if self.client.connection_failed(node) {
                if attempted {
                    return Err(Error::Disconnected {
                        node,
                        reason: "connection failed".into(),
                    });
                }
            } else {
                attempted = true;
            }
            if now >= self.deadline {
                return Err(Error::Timeout(format!("node {node} not ready")));
            }
            let wait = (self.deadline - now)
                .min(
                    self.client
                        .connection_delay(node, now)
                        .max(Duration::from_millis(5)),
                )
                .min(Duration::from_millis(100));
            self.poll_idle(wait);
        }
    }

    /// The least loaded broker, waiting while every broker waits out a reconnect backoff.
    fn any_node(&mut self) -> Result<NodeId> {
        loop {
            let now = Instant::now();
            if let Some(node) = self.client.least_loaded_node(now) {
                return Ok(node);
            }
            if now >= self.deadline {
                return Err(Error::Timeout("no broker available".into()));
            }
            self.poll_idle((self.deadline - now).min(Duration::from_millis(50)));
        }
    }

    /// Waits for the first metadata answer, which replaces the bootstrap servers by the
    /// cluster's brokers and names the controller.
    fn ensure_metadata(&mut self) -> Result<()> {
        if self.client.metadata().is_bootstrapped() {
            return Ok(());
        }
        let version = self.client.metadata().version();
        self.await_metadata(version, self.deadline)
    }

    /// Waits (at most `request.timeout.ms`) for metadata newer than now.
    fn refresh_metadata(&mut self) {
        let version = self.client.metadata().version();
        let bound = Instant::now()
            .checked_add(self.config.common.request_timeout)
            .map_or(self.deadline, |t| t.min(self.deadline));
        if let Err(e) = self.await_metadata(version, bound) {
            tracing::debug!(error = %e, "metadata refresh failed");
        }
    }

    /// Asks for a metadata update and waits until metadata is newer than `version`.
    fn await_metadata(&mut self, version: u64, until: Instant) -> Result<()> {
        self.client
            .await_metadata_update(version, until)
            .map_err(|_| Error::Timeout("no metadata from any broker in time".into()))
    }

    /// Keeps the brokers and controller of a Metadata answer this call got.
    fn remember(&mut self, m: &MetadataResponse) {
        self.client.metadata_mut().update(m, Instant::now());
    }

    /// After a retriable failure: waits the backoff and returns `None`, or returns the
    /// error the call ends with (retries used up: `last`; deadline passed: a timeout).
    fn backoff(&mut self, last: &Error) -> Option<Error> {
        let now = Instant::now();
        if now >= self.deadline {
            return Some(self.timed_out(last));
        }
        if self.retries >= self.config.retries {
            return Some(last.clone());
        }
        let common = &self.config.common;
        let wait = backoff(common.retry_backoff, common.retry_backoff_max, self.retries);
        self.retries += 1;
        tracing::debug!(call = self.what, error = %last, ?wait, "retrying");
        let until = now
            .checked_add(wait)
            .map_or(self.deadline, |t| t.min(self.deadline));
        loop {
            let now = Instant::now();
            if now >= until {
                break;
            }
            self.poll_idle(until - now);
        }
        if Instant::now() >= self.deadline {
            return Some(self.timed_out(last));
        }
        None
    }

    fn timed_out(&self, last: &Error) -> Error {
        Error::Timeout(format!(
            "{} did not complete in time; last error: {last}",
            self.what
        ))
    }

    /// Runs `op` until it succeeds, fails for good, or retries or time run out.
    fn retrying<T>(&mut self, mut op: impl FnMut(&mut Self) -> Result<T>) -> Result<T> {
        loop {
            let e = match op(self) {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if !e.is_retriable() {
                return Err(e);
            }
            if stale_metadata(&e) {
                self.refresh_metadata();
            }
            if let Some(last) = self.backoff(&e) {
                return Err(last);
            }
        }
    }

    /// Metadata of `topics` (`None`: all) from the least loaded broker; never creates a topic.
    fn fetch_metadata(&mut self, topics: Option<&[String]>) -> Result<MetadataResponse> {
        self.retrying(|call| {
            let node = call.any_node()?;
            let resp = call.request(node, ApiKey::Metadata, None, |version| {
                Ok(RequestKind::Metadata(convert::metadata_request(
                    topics, version,
                )))
            })?;
            match resp {
                ResponseKind::Metadata(m) => {
                    call.remember(&m);
                    Ok(m)
                }
                other => Err(convert::unexpected("Metadata", &other)),
            }
        })
    }

    /// Sends `items` in requests grouped by the node `route` assigns each to, until every
    /// item has a final result; returns them in the order of `items`.
    ///
    /// An item is tried again when routing it fails retriably, when its request fails
    /// retriably, or when its own answer is an error `retry_item` accepts; other errors are
    /// its final result.
    fn drive<K, T>(
        &mut self,
        items: Vec<K>,
        mut route: impl FnMut(&mut Self, &[K]) -> Vec<(K, Result<NodeId>)>,
        mut send: impl FnMut(&mut Self, NodeId, &[K]) -> Result<HashMap<K, Result<T>>>,
        retry_item: impl Fn(&Error) -> bool,
    ) -> Vec<(K, Result<T>)>
    where
        K: Clone + Eq + Hash + Display,
    {
        let mut done: HashMap<K, Result<T>> = HashMap::new();
        let mut pending = items.clone();
        while !pending.is_empty() {
            let mut again = Vec::new();
            let mut last: Option<Error> = None;
            let mut refresh = false;
            let mut note = |e: Error, refresh: &mut bool| {
                *refresh |= stale_metadata(&e);
                last = Some(e);
            };
            let mut by_node: BTreeMap<NodeId, Vec<K>> = BTreeMap::new();
            for (k, node) in route(self, &pending) {
                match node {
                    Ok(node) => by_node.entry(node).or_default().push(k),
                    Err(e) if e.is_retriable() => {
                        again.push(k);
                        note(e, &mut refresh);
                    }
                    Err(e) => {
                        done.insert(k, Err(e));
                    }
                }
            }
            for (node, keys) in by_node {
                match send(self, node, &keys) {
                    Ok(mut answers) => {
                        for k in keys {
                            match answers.remove(&k) {
                                Some(Err(e)) if retry_item(&e) => {
                                    again.push(k);
                                    note(e, &mut refresh);
                                }
                                Some(result) => {
                                    done.insert(k, result);
                                }
                                None => {
                                    let e =
                                        Error::Other(format!("node {node} did not answer for {k}"));
                                    done.insert(k, Err(e));
                                }
                            }
                        }
                    }
                    Err(e) if e.is_retriable() => {
                        again.extend(keys);
                        note(e, &mut refresh);
                    }
                    Err(e) => {
                        for k in keys {
                            done.insert(k, Err(e.clone()));
                        }
                    }
                }
            }
            pending = again;
            if pending.is_empty() {
                break;
            }
            let failure = last.unwrap_or_else(|| Error::Other("no answer".into()));
            if refresh {
                self.refresh_metadata();
            }
            if let Some(fin) = self.backoff(&failure) {
                for k in pending.drain(..) {
                    done.insert(k, Err(fin.clone()));
                }
            }
        }
        items
            .into_iter()
            .map(|k| {
                let result = done
                    .remove(&k)
                    .unwrap_or_else(|| Err(Error::Other(format!("no result for {k}"))));
                (k, result)
            })
            .collect()
    }

    /// Routes every item to the controller: the one metadata names, else any broker.
    fn route_to_controller<K: Clone>(&mut self, items: &[K]) -> Vec<(K, Result<NodeId>)> {
        let node = self.ensure_metadata().and_then(|()| {
            let cluster = self.client.metadata().cluster();
            match cluster.controller.filter(|c| cluster.nodes.contains_key(c)) {
                Some(c) => Ok(c),
                None => self.any_node(),
            }
        });
        items.iter().map(|k| (k.clone(), node.clone())).collect()
    }

    /// Routes broker resources to their broker, the others to the least loaded broker.
    fn route_config_resources(
        &mut self,
        items: &[ConfigResource],
    ) -> Vec<(ConfigResource, Result<NodeId>)> {
        let mut any: Option<Result<NodeId>> = None;
        let mut out = Vec::with_capacity(items.len());
        for res in items {
            let node = match res.target_broker() {
                Some(Ok(id)) => self.ensure_metadata().and_then(|()| {
                    if self.client.node(id).is_some() {
                        Ok(id)
                    } else {
                        Err(Error::kafka_with_message(
                            ErrorCode::BrokerNotAvailable,
                            Some(format!("{res}: broker {id} is not in the cluster")),
                        ))
                    }
                }),
                Some(Err(message)) => Err(Error::kafka_with_message(
                    ErrorCode::InvalidRequest,
                    Some(message),
                )),
                None => any.get_or_insert_with(|| self.any_node()).clone(),
            };
            out.push((res.clone(), node));
        }
        out
    }

    /// Finds each group's coordinator: one batched FindCoordinator (v4+) or one request per
    /// group from older brokers.
    fn route_to_coordinators(&mut self, groups: &[String]) -> Vec<(String, Result<NodeId>)> {
        let found = self.find_coordinators(groups);
        groups
            .iter()
            .map(|g| {
                let node = match &found {
                    Err(e) => Err(e.clone()),
                    Ok(map) => map.get(g).cloned().unwrap_or_else(|| {
                        Err(Error::kafka_with_message(
                            ErrorCode::CoordinatorNotAvailable,
                            Some(format!("group '{g}': no coordinator in the answer")),
                        ))
                    }),
                };
                // A coordinator metadata does not know yet cannot be connected to.
                let node = node.and_then(|id| {
                    if self.client.node(id).is_some() || self.client.is_connected(id) {
                        Ok(id)
                    } else {
                        self.client.metadata_mut().request_update();
                        Err(Error::Disconnected {
                            node: id,
                            reason: "coordinator not in the cluster metadata yet".into(),
                        })
                    }
                });
                (g.clone(), node)
            })
            .collect()
    }

    fn find_coordinators(&mut self, groups: &[String]) -> Result<HashMap<String, Result<NodeId>>> {
        // The answer names brokers by id; only metadata says where they are.
        self.ensure_metadata()?;
        let node = self.any_node()?;
        self.await_node(node)?;
        let batched = self
            .client
            .api_versions(node, ApiKey::FindCoordinator)
            .is_some_and(|r| r.max >= 4);
        if batched {
            let resp = self.request(node, ApiKey::FindCoordinator, None, |_| {
                Ok(RequestKind::FindCoordinator(
                    FindCoordinatorRequest::default()
                        .with_key_type(COORDINATOR_KEY_TYPE_GROUP)
                        .with_coordinator_keys(groups.to_vec()),
                ))
            })?;
            return match resp {
                ResponseKind::FindCoordinator(r) => Ok(convert::coordinators(&r, None)),
                other => Err(convert::unexpected("FindCoordinator", &other)),
            };
        }
        let mut out = HashMap::new();
        for g in groups {
            let resp = self.request(node, ApiKey::FindCoordinator, Some(3), |_| {
                Ok(RequestKind::FindCoordinator(
                    FindCoordinatorRequest::default()
                        .with_key(g.clone())
                        .with_key_type(COORDINATOR_KEY_TYPE_GROUP),
                ))
            })?;
            match resp {
                ResponseKind::FindCoordinator(r) => out.extend(convert::coordinators(&r, Some(g))),
                other => return Err(convert::unexpected("FindCoordinator", &other)),
            }
        }
        Ok(out)
    }

    /// DescribeConfigs of `resources` on `node`.
    fn describe_configs_on(
        &mut self,
        node: NodeId,
        resources: &[ConfigResource],
    ) -> Result<HashMap<ConfigResource, Result<Vec<ConfigEntry>>>> {
        let resp = self.request(node, ApiKey::DescribeConfigs, None, |_| {
            Ok(RequestKind::DescribeConfigs(
                DescribeConfigsRequest::default().with_resources(
                    resources
                        .iter()
                        .map(|r| {
                            DescribeConfigsResource::default()
                                .with_resource_type(r.kind.code())
                                .with_resource_name(r.name.clone())
                                .with_configuration_keys(None)
                        })
                        .collect(),
                ),
            ))
        })?;
        match resp {
            ResponseKind::DescribeConfigs(r) => Ok(convert::config_results(&r)),
            other => Err(convert::unexpected("DescribeConfigs", &other)),
        }
    }

    /// IncrementalAlterConfigs for brokers without it: reads each resource's overrides,
    /// applies `ops` to them and replaces them whole with AlterConfigs.
    fn legacy_alter_configs(
        &mut self,
        node: NodeId,
        resources: &[ConfigResource],
        ops: &HashMap<ConfigResource, Vec<AlterConfigOp>>,
        validate_only: bool,
    ) -> Result<HashMap<ConfigResource, Result<()>>> {
        let current = self.describe_configs_on(node, resources)?;
        let mut results = HashMap::new();
        let mut to_send = Vec::new();
        for res in resources {
            let changes = ops.get(res).map(Vec::as_slice).unwrap_or_default();
            match current.get(res) {
                Some(Ok(entries)) => match convert::apply_ops(res, entries, changes) {
                    Ok(next) => to_send.push(
                        LegacyResource::default()
                            .with_resource_type(res.kind.code())
                            .with_resource_name(res.name.clone())
                            .with_configs(
                                next.into_iter()
                                    .map(|(k, v)| {
                                        LegacyConfig::default().with_name(k).with_value(Some(v))
                                    })
                                    .collect(),
                            ),
                    ),
                    Err(e) => {
                        results.insert(res.clone(), Err(e));
                    }
                },
                Some(Err(e)) => {
                    results.insert(res.clone(), Err(e.clone()));
                }
                None => {
                    let e = Error::Other(format!("node {node} did not describe {res}"));
                    results.insert(res.clone(), Err(e));
                }
            }
        }
        if to_send.is_empty() {
            return Ok(results);
        }
        let resp = self.request(node, ApiKey::AlterConfigs, None, |_| {
            Ok(RequestKind::AlterConfigs(
                AlterConfigsRequest::default()
                    .with_resources(to_send)
                    .with_validate_only(validate_only),
            ))
        })?;
        match resp {
            ResponseKind::AlterConfigs(r) => {
                results.extend(convert::alter_results(r.responses.iter().map(|x| {
                    (
                        x.resource_type,
                        x.resource_name.as_str(),
                        x.error_code,
                        x.error_message.as_deref(),
                    )
                })));
                Ok(results)
            }
            other => Err(convert::unexpected("AlterConfigs", &other)),
        }
    }

    /// ListOffsets of each partition to its leader, looking leaders up again (fresh
    /// Metadata) for partitions whose leader moved or is not known yet.
    pub(super) fn list_offsets(
        &mut self,
        partitions: &[(TopicPartition, OffsetSpec)],
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        let mut pending: BTreeMap<TopicPartition, OffsetSpec> = BTreeMap::new();
        for (tp, spec) in partitions {
            pending.entry(tp.clone()).or_insert(*spec);
        }
        let mut done = BTreeMap::new();
        while !pending.is_empty() {
            let topics: Vec<String> = pending
                .keys()
                .map(|tp| tp.topic.to_string())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let meta = self.fetch_metadata(Some(&topics))?;
            let mut last: Option<Error> = None;
            let mut by_leader: BTreeMap<NodeId, Vec<(TopicPartition, OffsetSpec)>> =
                BTreeMap::new();
            for (tp, spec) in &pending {
                match convert::leader_of(&meta, tp) {
                    Ok(leader) => by_leader
                        .entry(leader)
                        .or_default()
                        .push((tp.clone(), *spec)),
                    Err(e) if e.is_retriable() => last = Some(e),
                    Err(e) => return Err(e),
                }
            }
            for (leader, parts) in by_leader {
                match self.list_offsets_on(leader, &parts) {
                    Ok(results) => {
                        for (tp, result) in results {
                            if !pending.contains_key(&tp) {
                                continue;
                            }
                            match result {
                                Ok(offset) => {
                                    pending.remove(&tp);
                                    done.insert(tp, offset);
                                }
                                Err(e) if e.is_retriable() => last = Some(e),
                                Err(e) => return Err(e),
                            }
                        }
                    }
                    Err(e) if e.is_retriable() => last = Some(e),
                    Err(e) => return Err(e),
                }
            }
            if pending.is_empty() {
                break;
            }
            let failure = last.unwrap_or_else(|| {
                Error::Other(format!(
                    "no offsets for {} partitions in the answers",
                    pending.len()
                ))
            });
            // The next round asks for metadata again, which is the refresh stale leaders need.
            if let Some(fin) = self.backoff(&failure) {
                return Err(fin);
            }
        }
        Ok(done)
    }

    /// DeleteRecords of each partition at its leader: the records before each offset
    /// (-1: the high watermark) are deleted; each answer is the new low watermark. Leaders
    /// are looked up again for partitions whose leader moved.
    pub(super) fn delete_records(
        &mut self,
        before: &[(TopicPartition, i64)],
    ) -> Result<BTreeMap<TopicPartition, Result<i64>>> {
        let mut pending: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        for (tp, offset) in before {
            pending.entry(tp.clone()).or_insert(*offset);
        }
        let mut done = BTreeMap::new();
        while !pending.is_empty() {
            let topics: Vec<String> = pending
                .keys()
                .map(|tp| tp.topic.to_string())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let meta = self.fetch_metadata(Some(&topics))?;
            let mut last: Option<Error> = None;
            let mut by_leader: BTreeMap<NodeId, Vec<(TopicPartition, i64)>> = BTreeMap::new();
            for (tp, offset) in &pending {
                match convert::leader_of(&meta, tp) {
                    Ok(leader) => by_leader
                        .entry(leader)
                        .or_default()
                        .push((tp.clone(), *offset)),
                    // Fresh metadata saying the partition does not exist is final, as in
                    // Java's deleteRecords; a missing leader is not.
                    Err(e) if retry_at_leader(&e) => last = Some(e),
                    Err(e) => {
                        done.insert(tp.clone(), Err(e));
                    }
                }
            }
            for tp in done.keys() {
                pending.remove(tp);
            }
            for (leader, parts) in by_leader {
                match self.delete_records_on(leader, &parts) {
                    Ok(results) => {
                        for (tp, result) in results {
                            if !pending.contains_key(&tp) {
                                continue;
                            }
                            match result {
                                Err(e) if retry_at_leader(&e) => last = Some(e),
                                result => {
                                    pending.remove(&tp);
                                    done.insert(tp, result);
                                }
                            }
                        }
                    }
                    Err(e) if e.is_retriable() => last = Some(e),
                    Err(e) => {
                        for (tp, _) in parts {
                            pending.remove(&tp);
                            done.insert(tp, Err(e.clone()));
                        }
                    }
                }
            }
            if pending.is_empty() {
                break;
            }
            let failure = last.unwrap_or_else(|| {
                Error::Other(format!(
                    "no low watermarks for {} partitions in the answers",
                    pending.len()
                ))
            });
            if let Some(fin) = self.backoff(&failure) {
                for (tp, _) in std::mem::take(&mut pending) {
                    done.insert(tp, Err(fin.clone()));
                }
            }
        }
        Ok(done)
    }

    fn delete_records_on(
        &mut self,
        leader: NodeId,
        parts: &[(TopicPartition, i64)],
    ) -> Result<Vec<(TopicPartition, Result<i64>)>> {
        let timeout_ms = self.request_timeout_ms();
        let resp = self.request(leader, ApiKey::DeleteRecords, None, |_| {
            Ok(RequestKind::DeleteRecords(convert::delete_records_request(
                parts, timeout_ms,
            )))
        })?;
        match resp {
            ResponseKind::DeleteRecords(r) => Ok(convert::delete_records_results(&r)),
            other => Err(convert::unexpected("DeleteRecords", &other)),
        }
    }

    fn list_offsets_on(
        &mut self,
        leader: NodeId,
        parts: &[(TopicPartition, OffsetSpec)],
    ) -> Result<Vec<(TopicPartition, Result<i64>)>> {
        let timeout_ms = self.request_timeout_ms();
        let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
        for (tp, spec) in parts {
            topics.entry(&tp.topic).or_default().push(
                ListOffsetsPartition::default()
                    .with_partition_index(tp.partition)
                    .with_timestamp(spec.wire_timestamp()),
            );
        }
        let topics: Vec<ListOffsetsTopic> = topics
            .into_iter()
            .map(|(name, partitions)| {
                ListOffsetsTopic::default()
                    .with_name(name.to_string())
                    .with_partitions(partitions)
            })
            .collect();
        let resp = self.request(leader, ApiKey::ListOffsets, None, |_| {
            Ok(RequestKind::ListOffsets(
                ListOffsetsRequest::default()
                    // -1: a client, not a follower replica.
                    .with_replica_id(-1)
                    .with_isolation_level(0)
                    .with_topics(topics)
                    .with_timeout_ms(timeout_ms),
            ))
        })?;
        match resp {
            ResponseKind::ListOffsets(r) => Ok(convert::list_offsets_results(&r)),
            other => Err(convert::unexpected("ListOffsets", &other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Properties;

    #[test]
    fn retry_classes() {
        let e = |c| Error::kafka(c);
        assert!(retry_at_controller(&e(ErrorCode::NotController)));
        assert!(!retry_at_controller(&e(ErrorCode::TopicAlreadyExists)));
        // Retriable in general but final for one topic, as in Java's admin client.
        assert!(!retry_at_controller(&e(ErrorCode::UnknownTopicOrPartition)));
        assert!(retry_at_coordinator(&e(
            ErrorCode::CoordinatorLoadInProgress
        )));
        assert!(!retry_at_coordinator(&e(ErrorCode::GroupIdNotFound)));
        assert!(stale_metadata(&Error::Disconnected {
            node: 1,
            reason: String::new()
        }));
        assert!(!stale_metadata(&Error::Timeout(String::new())));
    }

    #[test]
    fn creatable_topic_defaults_need_v4() {
        let t = NewTopic::with_defaults("t");
        assert!(matches!(
            creatable_topic(&t, 3),
            Err(Error::UnsupportedVersion(_))
        ));
        let c = creatable_topic(&t, 4).unwrap();
        assert_eq!((c.num_partitions, c.replication_factor), (-1, -1));
        let c = creatable_topic(&NewTopic::new("t", 3, 1).with_config("a", "b"), 2).unwrap();
        assert_eq!((c.num_partitions, c.replication_factor), (3, 1));
        assert_eq!(c.configs[0].value.as_deref(), Some("b"));
    }

    #[test]
    fn unique_keeps_first_occurrences_in_order() {
        assert_eq!(unique(["b", "a", "b", "c", "a"]), ["b", "a", "c"]);
    }

    /// A call on a client whose bootstrap server does not exist, with short waits, for
    /// driving `Call::drive` with scripted routes and answers.
    fn with_call<T>(retries: u32, f: impl FnOnce(&mut Call<'_>) -> T) -> T {
        let props = Properties::new()
            .with("bootstrap.servers", "127.0.0.1:1")
            .with("retry.backoff.ms", "1")
            .with("retry.backoff.max.ms", "2")
            .with("request.timeout.ms", "20")
            .with("admin.request.retries", retries.to_string());
        let config = AdminConfig::from_properties(&props).unwrap();
        let mut client = NetworkClient::new(&config.common).unwrap();
        let mut call = Call {
            client: &mut client,
            config: &config,
            deadline: Instant::now() + Duration::from_secs(10),
            retries: 0,
            what: "test",
        };
        f(&mut call)
    }

    fn route_all_to_1(_: &mut Call<'_>, items: &[String]) -> Vec<(String, Result<NodeId>)> {
        items.iter().map(|k| (k.clone(), Ok(1))).collect()
    }

    #[test]
    fn drive_retries_only_what_the_controller_asks_to_retry() {
        let mut sent: Vec<Vec<String>> = Vec::new();
        let results = with_call(5, |call| {
            call.drive(
                vec!["a".to_string(), "b".into(), "c".into(), "d".into()],
                route_all_to_1,
                |_, node, keys| {
                    assert_eq!(node, 1);
                    sent.push(keys.to_vec());
                    if sent.len() == 2 {
                        // A dropped connection: everything pending is sent again.
                        return Err(Error::Disconnected {
                            node,
                            reason: "test".into(),
                        });
                    }
                    let mut answers = HashMap::new();
                    for k in keys {
                        let r = match (k.as_str(), sent.len()) {
                            ("a", 1) => Err(Error::kafka(ErrorCode::NotController)),
                            ("b", _) => Err(Error::kafka(ErrorCode::TopicAlreadyExists)),
                            // Retriable in general, final for one topic.
                            ("d", _) => Err(Error::kafka(ErrorCode::UnknownTopicOrPartition)),
                            ("c", _) => continue,
                            _ => Ok(()),
                        };
                        answers.insert(k.clone(), r);
                    }
                    Ok(answers)
                },
                retry_at_controller,
            )
        });
        assert_eq!(sent, [vec!["a", "b", "c", "d"], vec!["a"], vec!["a"]]);
        let keys: Vec<&str> = results.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c", "d"]);
        assert!(results[0].1.is_ok());
        assert_eq!(
            results[1].1.as_ref().unwrap_err().code(),
            Some(ErrorCode::TopicAlreadyExists)
        );
        assert!(matches!(results[2].1, Err(Error::Other(_))));
        assert_eq!(
            results[3].1.as_ref().unwrap_err().code(),
            Some(ErrorCode::UnknownTopicOrPartition)
        );
    }

    #[test]
    fn drive_gives_up_after_the_configured_retries() {
        let mut attempts = 0;
        let results = with_call(2, |call| {
            call.drive(
                vec!["g".to_string()],
                route_all_to_1,
                |_, _, keys| {
                    attempts += 1;
                    Ok(keys
                        .iter()
                        .map(|k| {
                            (
                                k.clone(),
                                Err::<(), _>(Error::kafka(ErrorCode::NotCoordinator)),
                            )
                        })
                        .collect())
                },
                retry_at_coordinator,
            )
        });
        assert_eq!(attempts, 3);
        assert_eq!(
            results[0].1.as_ref().unwrap_err().code(),
            Some(ErrorCode::NotCoordinator)
        );
    }

    #[test]
    fn drive_fails_items_whose_routing_fails_for_good() {
        let results = with_call(5, |call| {
            call.drive(
                vec!["x".to_string()],
                |_, items| {
                    items
                        .iter()
                        .map(|k| {
                            (
                                k.clone(),
                                Err(Error::kafka(ErrorCode::GroupAuthorizationFailed)),
                            )
                        })
                        .collect()
                },
                |_, _, _| -> Result<HashMap<String, Result<()>>> { panic!("nothing to send") },
                retry_at_coordinator,
            )
        });
        assert_eq!(
            results[0].1.as_ref().unwrap_err().code(),
            Some(ErrorCode::GroupAuthorizationFailed)
        );
    }
}

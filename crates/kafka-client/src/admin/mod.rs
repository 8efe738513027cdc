//! The admin client: Kafka's `Admin` (`KafkaAdminClient`) as a synchronous API.
//!
//! Each call runs on the caller's thread. It takes the client's one [`NetworkClient`] (behind
//! a mutex, so one `Admin` serves many threads, whose calls take turns), sends its requests
//! and waits for the answers until the call's deadline: its `timeout`, or
//! `default.api.timeout.ms` when that is `None`.
//!
//! Requests go where Kafka's Java client sends them: topic creation, deletion and new
//! partitions to the controller (as metadata names it); group calls to the group's
//! coordinator (FindCoordinator); broker configurations to that broker; ListOffsets and
//! DeleteRecords to each partition's leader; everything else (ACLs too) to the least loaded
//! broker.
//!
//! What may succeed when tried again is tried again, waiting `retry.backoff.ms` (doubling up
//! to `retry.backoff.max.ms`) in between, at most `admin.request.retries` times and never past
//! the deadline: disconnections and request timeouts; NOT_CONTROLLER, after fresh metadata
//! names the new controller; COORDINATOR_LOAD_IN_PROGRESS at the same coordinator;
//! COORDINATOR_NOT_AVAILABLE and NOT_COORDINATOR after finding the coordinator again; a
//! partition without a leader. Other errors about one topic, group or resource are final for
//! that one, as Java completes that item's future exceptionally.
//!
//! Calls about many items answer for each (`Vec<(item, Result<..>)>`, in the order asked,
//! duplicates once); the outer `Result` fails only for the client as a whole (closed). Calls
//! that return one value (`describe_topics`, `describe_groups`, `list_offsets`) fail with the
//! first item's error, as Java's `all()` does.

mod acl;
mod calls;
mod convert;
mod types;

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::config::{AdminConfig, Properties};
use crate::error::{Error, Result};
use crate::network_client::NetworkClient;
use crate::types::TopicPartition;
use calls::Call;

pub use acl::{
    AclBinding, AclBindingFilter, AclOperation, AclPatternType, AclPermissionType, AclResourceType,
};
pub use types::{
    AlterConfigOp, AlterConfigOpType, ClusterDescription, ConfigEntry, ConfigResource,
    ConfigResourceType, ConfigSource, GroupDescription, GroupListing, MemberDescription, NewTopic,
    OffsetSpec, TopicDescription,
};

/// Kafka's admin client, synchronous: every call blocks until it has its answer or its
/// deadline passes. See the [module documentation](self) for routing and retries.
#[derive(Debug)]
pub struct Admin {
    config: AdminConfig,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: NetworkClient,
    closed: bool,
}

impl Admin {
    /// An admin client configured by `props` (`bootstrap.servers` and the common and admin
    /// keys). Nothing connects until the first call.
    pub fn new(props: &Properties) -> Result<Admin> {
        Admin::with_config(AdminConfig::from_properties(props)?)
    }

    /// An admin client for an already parsed configuration.
    pub fn with_config(config: AdminConfig) -> Result<Admin> {
        let mut client = NetworkClient::new(&config.common)?;
        // The admin client keeps metadata of brokers only; calls ask for the topics they need.
        client.metadata_mut().set_allow_auto_topic_creation(false);
        Ok(Admin {
            config,
            inner: Mutex::new(Inner {
                client,
                closed: false,
            }),
        })
    }

    /// Closes every connection; later calls fail with [`Error::Closed`].
    pub fn close(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if !inner.closed {
            inner.closed = true;
            inner.client.close();
        }
    }

    /// Runs `f` with the client, under a deadline of `timeout` or `default.api.timeout.ms`.
    fn run<T>(
        &self,
        what: &'static str,
        timeout: Option<Duration>,
        f: impl FnOnce(&mut Call<'_>) -> Result<T>,
    ) -> Result<T> {
        // A panic in another call leaves nothing half-done that matters: requests are
        // matched by correlation id, and stale answers are dropped.
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.closed {
            return Err(Error::Closed);
        }
        let now = Instant::now();
        let limit = timeout.unwrap_or(self.config.default_api_timeout);
        let deadline = now
            .checked_add(limit)
            .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 3600)))
            .unwrap_or(now);
        let mut call = Call::new(&mut inner.client, &self.config, deadline, what);
        f(&mut call)
    }

    /// Creates `topics` (CreateTopics to the controller). With `validate_only` the broker
    /// only checks that it could. TOPIC_ALREADY_EXISTS is that topic's error.
    pub fn create_topics(
        &self,
        topics: &[NewTopic],
        validate_only: bool,
        timeout: Option<Duration>,
    ) -> Result<Vec<(String, Result<()>)>> {
        self.run("createTopics", timeout, |call| {
            calls::create_topics(call, topics, validate_only)
        })
    }

    /// Deletes `topics` (DeleteTopics to the controller).
    pub fn delete_topics(
        &self,
        topics: &[&str],
        timeout: Option<Duration>,
    ) -> Result<Vec<(String, Result<()>)>> {
        self.run("deleteTopics", timeout, |call| {
            calls::delete_topics(call, topics)
        })
    }

    /// Raises each topic's partition count to the given total (CreatePartitions to the
    /// controller).
    pub fn create_partitions(
        &self,
        partitions: &[(&str, i32)],
        validate_only: bool,
        timeout: Option<Duration>,
    ) -> Result<Vec<(String, Result<()>)>> {
        self.run("createPartitions", timeout, |call| {
            calls::create_partitions(call, partitions, validate_only)
        })
    }

    /// Describes `topics` (a Metadata request for them that never creates one), in the order
    /// given. A topic that does not exist fails the call with UNKNOWN_TOPIC_OR_PARTITION.
    pub fn describe_topics(
        &self,
        topics: &[&str],
        timeout: Option<Duration>,
    ) -> Result<Vec<TopicDescription>> {
        self.run("describeTopics", timeout, |call| {
            calls::describe_topics(call, topics)
        })
    }

    /// The names of every topic, sorted; internal ones (`__consumer_offsets`) only with
    /// `include_internal`.
    pub fn list_topics(
        &self,
        include_internal: bool,
        timeout: Option<Duration>,
    ) -> Result<Vec<String>> {
        self.run("listTopics", timeout, |call| {
            calls::list_topics(call, include_internal)
        })
    }

    /// The cluster id, controller and brokers (DescribeCluster, or Metadata from brokers
    /// without it).
    pub fn describe_cluster(&self, timeout: Option<Duration>) -> Result<ClusterDescription> {
        self.run("describeCluster", timeout, |call| {
            calls::describe_cluster(call)
        })
    }

    /// The configuration of each resource (DescribeConfigs; a broker's own to that broker).
    pub fn describe_configs(
        &self,
        resources: &[ConfigResource],
        timeout: Option<Duration>,
    ) -> Result<Vec<(ConfigResource, Result<Vec<ConfigEntry>>)>> {
        self.run("describeConfigs", timeout, |call| {
            calls::describe_configs(call, resources)
        })
    }

    /// Changes configuration keys of each resource (IncrementalAlterConfigs; a broker's own
    /// to that broker). Against brokers without IncrementalAlterConfigs (before Kafka 2.3)
    /// the changes are applied to the resource's current overrides and sent whole with
    /// AlterConfigs. With `validate_only` the broker only checks them.
    pub fn incremental_alter_configs(
        &self,
        changes: &[(ConfigResource, Vec<AlterConfigOp>)],
        validate_only: bool,
        timeout: Option<Duration>,
    ) -> Result<Vec<(ConfigResource, Result<()>)>> {
        self.run("incrementalAlterConfigs", timeout, |call| {
            calls::incremental_alter_configs(call, changes, validate_only)
        })
    }

    /// Every group of every broker (ListGroups to each broker metadata knows), sorted by id.
    pub fn list_groups(&self, timeout: Option<Duration>) -> Result<Vec<GroupListing>> {
        self.run("listGroups", timeout, calls::list_groups)
    }

    /// Describes `groups` (DescribeGroups to each group's coordinator), in the order given.
    /// A group that does not exist is described as `Dead` with no members: that is what
    /// DescribeGroups up to v5, the newest this client speaks, answers for it.
    pub fn describe_groups(
        &self,
        groups: &[&str],
        timeout: Option<Duration>,
    ) -> Result<Vec<GroupDescription>> {
        self.run("describeGroups", timeout, |call| {
            calls::describe_groups(call, groups)
        })
    }

    /// Deletes `groups` (DeleteGroups to each group's coordinator); a group with members
    /// fails with NON_EMPTY_GROUP.
    pub fn delete_groups(
        &self,
        groups: &[&str],
        timeout: Option<Duration>,
    ) -> Result<Vec<(String, Result<()>)>> {
        self.run("deleteGroups", timeout, |call| {
            calls::delete_groups(call, groups)
        })
    }

    /// The offsets `group` has committed (OffsetFetch of all its partitions to its
    /// coordinator); partitions without a committed offset are left out.
    pub fn list_consumer_group_offsets(
        &self,
        group: &str,
        timeout: Option<Duration>,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        self.run("listConsumerGroupOffsets", timeout, |call| {
            calls::list_consumer_group_offsets(call, group)
        })
    }

    /// The offset of each partition that `spec` asks for (ListOffsets to each partition's
    /// leader). An empty partition's earliest and latest offsets are both its log start.
    pub fn list_offsets(
        &self,
        partitions: &[(TopicPartition, OffsetSpec)],
        timeout: Option<Duration>,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        self.run("listOffsets", timeout, |call| call.list_offsets(partitions))
    }

    /// Commits `offsets` for `group` from outside it (OffsetCommit with no member to its
    /// coordinator), as Java's `alterConsumerGroupOffsets`; the coordinator accepts it only
    /// while the group has no members (else UNKNOWN_MEMBER_ID for each partition). The outer
    /// error is the group's (coordinator not found, retries used up); the rest are per
    /// partition, sorted.
    pub fn alter_consumer_group_offsets(
        &self,
        group: &str,
        offsets: &[(TopicPartition, i64)],
        timeout: Option<Duration>,
    ) -> Result<Vec<(TopicPartition, Result<()>)>> {
        self.run("alterConsumerGroupOffsets", timeout, |call| {
            calls::alter_consumer_group_offsets(call, group, offsets)
        })
    }

    /// Deletes the records of each partition before the given offset (-1: its high
    /// watermark) with DeleteRecords to its leader; each result is the partition's new low
    /// watermark (log start offset).
    pub fn delete_records(
        &self,
        before: &[(TopicPartition, i64)],
        timeout: Option<Duration>,
    ) -> Result<BTreeMap<TopicPartition, Result<i64>>> {
        self.run("deleteRecords", timeout, |call| call.delete_records(before))
    }

    /// The ACLs `filter` matches (DescribeAcls). Brokers without an authorizer answer
    /// SECURITY_DISABLED.
    pub fn describe_acls(
        &self,
        filter: &AclBindingFilter,
        timeout: Option<Duration>,
    ) -> Result<Vec<AclBinding>> {
        self.run("describeAcls", timeout, |call| {
            calls::describe_acls(call, filter)
        })
    }

    /// Creates `acls` (CreateAcls), with a result for each in the order given.
    pub fn create_acls(
        &self,
        acls: &[AclBinding],
        timeout: Option<Duration>,
    ) -> Result<Vec<(AclBinding, Result<()>)>> {
        self.run("createAcls", timeout, |call| calls::create_acls(call, acls))
    }

    /// Deletes the ACLs each filter matches (DeleteAcls); each result lists those deleted.
    pub fn delete_acls(
        &self,
        filters: &[AclBindingFilter],
        timeout: Option<Duration>,
    ) -> Result<Vec<(AclBindingFilter, Result<Vec<AclBinding>>)>> {
        self.run("deleteAcls", timeout, |call| {
            calls::delete_acls(call, filters)
        })
    }
}

impl Drop for Admin {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_after_close_fail() {
        let props = Properties::new().with("bootstrap.servers", "127.0.0.1:1");
        let admin = Admin::new(&props).unwrap();
        admin.close();
        assert!(matches!(
            admin.list_topics(false, Some(Duration::from_millis(10))),
            Err(Error::Closed)
        ));
    }
}

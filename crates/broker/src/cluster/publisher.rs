//! What a new metadata image changes on this broker: logs for the partitions it hosts, their
//! topic configs, deleted topics' logs, and which `__consumer_offsets` partitions' groups it
//! coordinates (those it leads), as Kafka's `BrokerMetadataPublisher` does.

use std::collections::BTreeMap;

use kafka_metadata::{MetadataImage, TopicImage};
use kafka_storage::TopicPartition;

use crate::apis::{BrokerState, OFFSETS_TOPIC};

/// Applies the change from `before` to `after` to `state`'s logs and group coordinator.
pub(crate) fn publish(state: &BrokerState, before: &MetadataImage, after: &MetadataImage) {
    let node = state.meta.node_id;
    // Topics gone, or replaced by a new topic of the same name: their logs go.
    for old in before.topics() {
        let replaced = after
            .topic_by_name(&old.name)
            .is_none_or(|t| t.id != old.id);
        if replaced {
            for &p in old.partitions.keys() {
                let tp = TopicPartition {
                    topic: old.name.clone(),
                    partition: p,
                };
                if state.logs.get_log(&tp).is_some() {
                    if let Err(e) = state.logs.delete_log(&tp) {
                        tracing::error!(partition = %tp, error = %e, "deleting the log of a deleted topic failed");
                    }
                }
                // As Kafka on StopReplica(delete): fetches parked on the partition re-read it
                // and are answered UNKNOWN_TOPIC_OR_PARTITION now, not at their max wait.
                state.purgatory.notify(&tp);
            }
            state.fetch_sessions.forget_topic(&old.name);
            tracing::info!(topic = %old.name, "deleted topic");
        }
    }
    for topic in after.topics() {
        let configs = after
            .topic_configs(&topic.name)
            .cloned()
            .unwrap_or_default();
        let configs_changed = before
            .topic_by_name(&topic.name)
            .is_some_and(|t| t.id == topic.id)
            && before
                .topic_configs(&topic.name)
                .cloned()
                .unwrap_or_default()
                != configs;
        ensure_logs(state, node, topic, &configs);
        // Leadership moved: parked fetches re-read the partition and learn it.
        if let Some(old) = before
            .topic_by_name(&topic.name)
            .filter(|t| t.id == topic.id)
        {
            for (&p, reg) in &topic.partitions {
                let was = old.partitions.get(&p);
                if was.is_none_or(|w| w.leader != reg.leader || w.leader_epoch != reg.leader_epoch)
                {
                    state.purgatory.notify(&TopicPartition {
                        topic: topic.name.clone(),
                        partition: p,
                    });
                }
            }
        }
        if configs_changed {
            if let Err(e) = state.logs.update_config(&topic.name, configs) {
                tracing::error!(topic = %topic.name, error = %e, "applying topic configs failed");
            }
        }
    }
    coordinate_groups(state, node, after);
}

/// Creates the log of every partition of `topic` with a replica here.
fn ensure_logs(
    state: &BrokerState,
    node: i32,
    topic: &TopicImage,
    configs: &BTreeMap<String, String>,
) {
    for (&p, registration) in &topic.partitions {
        if !registration.replicas.contains(&node) {
            continue;
        }
        let tp = TopicPartition {
            topic: topic.name.clone(),
            partition: p,
        };
        if state.logs.get_log(&tp).is_some() {
            continue;
        }
        if let Err(e) = state
            .logs
            .create_log_with_topic_id(&tp, topic.id, configs.clone())
        {
            tracing::error!(partition = %tp, error = %e, "creating a partition's log failed");
        }
    }
}

/// Coordinates the groups of the `__consumer_offsets` partitions this broker leads, and stops
/// coordinating those it no longer leads.
fn coordinate_groups(state: &BrokerState, node: i32, image: &MetadataImage) {
    let Some(partitions) = image.partitions(OFFSETS_TOPIC) else {
        return;
    };
    state
        .groups
        .set_partition_count(i32::try_from(partitions.len()).unwrap_or(i32::MAX));
    for (&p, registration) in partitions {
        if registration.leader == node {
            if let Err(e) = state.groups.load(p) {
                tracing::error!(partition = p, error = %e, "loading a group partition failed");
            }
        } else if state.groups.is_loaded(p) {
            state.groups.unload(p);
        }
    }
}

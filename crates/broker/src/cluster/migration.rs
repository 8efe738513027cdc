//! Taking over a data directory written before the metadata log: its topic registry
//! (`topics.metadata`), its producer-id checkpoint and an unregistered `__consumer_offsets`
//! become the new log's first records, with the same topic ids, so every client and every log
//! carries on as before.

use std::path::Path;

use kafka_metadata::records::{ConfigRecord, PartitionRecord, ProducerIdsRecord, TopicRecord};
use kafka_metadata::MetadataRecord;
use kafka_storage::LogManager;

use crate::apis::{offsets_topic_configs, OFFSETS_TOPIC};
use crate::error::Result;
use crate::metadata::{random_uuid, TopicRegistry};

/// Kafka's `ConfigResource.Type.TOPIC`.
const TOPIC_RESOURCE: i8 = 2;

const REGISTRY: &str = "topics.metadata";
const PRODUCER_IDS: &str = "producer-ids.checkpoint";

/// The records that recreate, on broker `node`, what `dir` held before the metadata log.
/// Empty when there is nothing to take over.
pub(crate) fn migration_records(
    dir: &Path,
    logs: &LogManager,
    node: i32,
) -> Result<Vec<MetadataRecord>> {
    let mut records = Vec::new();
    if dir.join(REGISTRY).is_file() {
        let registry = TopicRegistry::load(dir)?;
        for t in registry.all() {
            push_topic(&mut records, &t.name, t.id, t.partitions, &t.configs, node);
        }
    }
    // Earlier versions kept every group in one unregistered `__consumer_offsets-0`.
    let offsets_registered = records
        .iter()
        .any(|r| matches!(r, MetadataRecord::Topic(t) if t.name == OFFSETS_TOPIC));
    if !offsets_registered {
        if let Some(parts) = logs.topics().get(OFFSETS_TOPIC) {
            let id = logs.topic_id(OFFSETS_TOPIC).unwrap_or_else(random_uuid);
            let count = i32::try_from(parts.len()).unwrap_or(i32::MAX);
            push_topic(
                &mut records,
                OFFSETS_TOPIC,
                id,
                count,
                &offsets_topic_configs(),
                node,
            );
        }
    }
    // Producer ids continue above the checkpoint, and above every id the logs hold producer
    // state for: a missing or garbled checkpoint must not hand a live producer's id to a new
    // one (it would be refused as out of order, or answered as a duplicate and never stored).
    let checkpoint = std::fs::read(dir.join(PRODUCER_IDS))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.trim().parse::<i64>().ok())
        .filter(|v| *v >= 0);
    let next = checkpoint.unwrap_or(0).max(producer_ids_in_use(logs));
    if next > 0 {
        records.push(
            ProducerIdsRecord::default()
                .with_broker_id(node)
                .with_broker_epoch(-1)
                .with_next_producer_id(next)
                .into(),
        );
    }
    Ok(records)
}

/// One more than the largest producer id any log holds state for.
fn producer_ids_in_use(logs: &LogManager) -> i64 {
    logs.all_logs()
        .iter()
        .filter_map(|(_, log)| log.producer_snapshot().keys().next_back().copied())
        .max()
        .map_or(0, |id| id.saturating_add(1))
}

fn push_topic(
    records: &mut Vec<MetadataRecord>,
    name: &str,
    id: kafka_protocol::Uuid,
    partitions: i32,
    configs: &std::collections::BTreeMap<String, String>,
    node: i32,
) {
    records.push(
        TopicRecord::default()
            .with_name(name.to_string())
            .with_topic_id(id)
            .into(),
    );
    for p in 0..partitions {
        records.push(
            PartitionRecord::default()
                .with_partition_id(p)
                .with_topic_id(id)
                .with_replicas(vec![node])
                .with_isr(vec![node])
                .with_leader(node)
                .with_leader_epoch(0)
                .with_partition_epoch(0)
                .into(),
        );
    }
    for (k, v) in configs {
        records.push(
            ConfigRecord::default()
                .with_resource_type(TOPIC_RESOURCE)
                .with_resource_name(name.to_string())
                .with_name(k.clone())
                .with_value(Some(v.clone()))
                .into(),
        );
    }
}

/// Once the metadata log holds what the old files held (every topic of `records` is in
/// `image`), they are renamed out of the way (kept for an operator who wants to look, never
/// read again).
pub(crate) fn finish_migration(
    dir: &Path,
    records: &[MetadataRecord],
    image: &kafka_metadata::MetadataImage,
) {
    let taken_over = records.iter().all(|r| match r {
        MetadataRecord::Topic(t) => image.topic_by_name(&t.name).is_some(),
        _ => true,
    });
    if !taken_over {
        return;
    }
    for name in [REGISTRY, PRODUCER_IDS] {
        let from = dir.join(name);
        if from.is_file() {
            let to = dir.join(format!("{name}.migrated"));
            match std::fs::rename(&from, &to) {
                Ok(()) => tracing::info!(file = %from.display(), "taken over by the metadata log"),
                Err(e) => {
                    tracing::warn!(file = %from.display(), error = %e, "cannot rename a migrated file")
                }
            }
        }
    }
}

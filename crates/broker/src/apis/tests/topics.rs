//! Topic administration: CreateTopics, CreatePartitions, DeleteTopics, DeleteRecords and the
//! topic configs, checked through Metadata, ListOffsets and Fetch as a client would.

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResourceResult;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::ErrorCode;

use super::{batch, create_topic, fetch, produce};
use crate::apis::testing::Harness;

/// Kafka's ConfigResource type for topics.
const TOPIC: i8 = 2;

fn create(h: &Harness, topic: CreatableTopic, validate_only: bool) -> CreatableTopicResult {
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_validate_only(validate_only)
        .with_topics(vec![topic]);
    let ResponseKind::CreateTopics(r) = h.respond(7, RequestKind::CreateTopics(req)) else {
        panic!("not a CreateTopics response");
    };
    r.topics[0].clone()
}

fn topic(name: &str, partitions: i32) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(name.into())
        .with_num_partitions(partitions)
        .with_replication_factor(1)
}

/// The topic's error code and partition count as Metadata v12 answers them.
fn metadata(h: &Harness, name: &str) -> (i16, usize) {
    let req = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name.into()))
        ]))
        .with_allow_auto_topic_creation(false);
    let ResponseKind::Metadata(r) = h.respond(12, RequestKind::Metadata(req)) else {
        panic!("not a Metadata response");
    };
    let t = &r.topics[0];
    (t.error_code, t.partitions.len())
}

fn earliest(h: &Harness, name: &str) -> i64 {
    let req = ListOffsetsRequest::default()
        .with_replica_id(-1)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(name.into())
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-2)])]);
    let ResponseKind::ListOffsets(r) = h.respond(7, RequestKind::ListOffsets(req)) else {
        panic!("not a ListOffsets response");
    };
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, 0, "{p:?}");
    p.offset
}

fn describe(h: &Harness, name: &str, key: &str) -> DescribeConfigsResourceResult {
    let req =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(TOPIC)
            .with_resource_name(name.into())
            .with_configuration_keys(Some(vec![key.into()]))]);
    let ResponseKind::DescribeConfigs(r) = h.respond(4, RequestKind::DescribeConfigs(req)) else {
        panic!("not a DescribeConfigs response");
    };
    let res = &r.results[0];
    assert_eq!(res.error_code, 0, "{res:?}");
    assert_eq!(res.configs.len(), 1, "{res:?}");
    res.configs[0].clone()
}

fn alter(h: &Harness, name: &str, key: &str, op: i8, value: Option<&str>) -> i16 {
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(TOPIC)
            .with_resource_name(name.into())
            .with_configs(vec![AlterableConfig::default()
                .with_name(key.into())
                .with_config_operation(op)
                .with_value(value.map(Into::into))]),
    ]);
    let ResponseKind::IncrementalAlterConfigs(r) =
        h.respond(1, RequestKind::IncrementalAlterConfigs(req))
    else {
        panic!("not an IncrementalAlterConfigs response");
    };
    r.responses[0].error_code
}

#[test]
fn create_topics_refusals_and_validate_only() {
    let h = Harness::new(&[]);
    let made = create(&h, topic("made", 2), false);
    assert_eq!((made.error_code, made.num_partitions), (0, 2));
    assert_eq!(metadata(&h, "made"), (0, 2));

    let again = create(&h, topic("made", 2), false);
    assert_eq!(again.error_code, ErrorCode::TopicAlreadyExists.code());
    for bad in ["bad/name", "..", "", &"x".repeat(250)] {
        let r = create(&h, topic(bad, 1), false);
        assert_eq!(
            r.error_code,
            ErrorCode::InvalidTopicException.code(),
            "{bad:?}"
        );
    }
    let r = create(&h, topic("nothing", 0), false);
    assert_eq!(r.error_code, ErrorCode::InvalidPartitions.code());

    let dry = create(&h, topic("dry", 3), true);
    assert_eq!((dry.error_code, dry.num_partitions), (0, 3));
    assert_eq!(
        metadata(&h, "dry").0,
        ErrorCode::UnknownTopicOrPartition.code(),
        "validate_only creates nothing"
    );
    let bad_config = create(
        &h,
        topic("configured", 1).with_configs(vec![CreatableTopicConfig::default()
            .with_name("retention.ms".into())
            .with_value(Some("soon".into()))]),
        false,
    );
    assert_eq!(bad_config.error_code, ErrorCode::InvalidConfig.code());
    assert_eq!(
        metadata(&h, "configured").0,
        ErrorCode::UnknownTopicOrPartition.code()
    );
}

#[test]
fn create_partitions_grows_a_topic_only() {
    let h = Harness::new(&[]);
    create_topic(&h, "grow", 1);
    let grow = |count: i32, validate_only: bool| {
        let req = CreatePartitionsRequest::default()
            .with_timeout_ms(5000)
            .with_validate_only(validate_only)
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name("grow".into())
                .with_count(count)]);
        let ResponseKind::CreatePartitions(r) = h.respond(3, RequestKind::CreatePartitions(req))
        else {
            panic!("not a CreatePartitions response");
        };
        r.results[0].error_code
    };
    assert_eq!(grow(3, true), 0);
    assert_eq!(
        metadata(&h, "grow"),
        (0, 1),
        "validate_only changes nothing"
    );
    assert_eq!(grow(3, false), 0);
    assert_eq!(metadata(&h, "grow"), (0, 3));
    let ResponseKind::Produce(r) = h.respond(9, produce("grow", 2, 1, batch(&[1]))) else {
        panic!("not a Produce response");
    };
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    assert_eq!(grow(2, false), ErrorCode::InvalidPartitions.code());
    assert_eq!(grow(3, false), ErrorCode::InvalidPartitions.code());
    assert_eq!(metadata(&h, "grow"), (0, 3));
}

#[test]
fn delete_topics_by_name_and_id() {
    let h = Harness::new(&[]);
    create_topic(&h, "gone", 1);
    create_topic(&h, "gone-too", 1);
    let id = h.state.topics.get("gone-too").unwrap().id;
    let delete = |state: DeleteTopicState| {
        let req = DeleteTopicsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![state]);
        let ResponseKind::DeleteTopics(r) = h.respond(6, RequestKind::DeleteTopics(req)) else {
            panic!("not a DeleteTopics response");
        };
        r.responses[0].clone()
    };
    let r = delete(DeleteTopicState::default().with_name(Some("gone".into())));
    assert_eq!(r.error_code, 0, "{r:?}");
    assert_eq!(
        metadata(&h, "gone").0,
        ErrorCode::UnknownTopicOrPartition.code()
    );
    let r = delete(DeleteTopicState::default().with_name(Some("gone".into())));
    assert_eq!(r.error_code, ErrorCode::UnknownTopicOrPartition.code());

    let r = delete(DeleteTopicState::default().with_topic_id(id));
    assert_eq!((r.error_code, r.name.as_deref()), (0, Some("gone-too")));
    let r = delete(DeleteTopicState::default().with_topic_id(id));
    assert_eq!(r.error_code, ErrorCode::UnknownTopicId.code());
    // The name can be used again, for a topic with a new id.
    create_topic(&h, "gone-too", 1);
    assert_ne!(h.state.topics.get("gone-too").unwrap().id, id);
}

#[test]
fn delete_records_moves_the_log_start_offset() {
    let h = Harness::new(&[]);
    create_topic(&h, "trim", 1);
    h.respond(9, produce("trim", 0, 1, batch(&[1, 2])));
    h.respond(9, produce("trim", 0, 1, batch(&[3, 4, 5])));
    let delete_before = |offset: i64| {
        let req = DeleteRecordsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![DeleteRecordsTopic::default()
                .with_name("trim".into())
                .with_partitions(vec![DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(offset)])]);
        let ResponseKind::DeleteRecords(r) = h.respond(2, RequestKind::DeleteRecords(req)) else {
            panic!("not a DeleteRecords response");
        };
        let p = &r.topics[0].partitions[0];
        (p.error_code, p.low_watermark)
    };
    assert_eq!(delete_before(3), (0, 3));
    assert_eq!(earliest(&h, "trim"), 3);
    let ResponseKind::Fetch(f) = h.respond(12, fetch("trim", 1, 0)) else {
        panic!("not a Fetch response");
    };
    let p = &f.responses[0].partitions[0];
    assert_eq!(p.error_code, ErrorCode::OffsetOutOfRange.code());
    assert_eq!(p.log_start_offset, 3);
    // Beyond the high watermark is out of range; -1 means the high watermark.
    assert_eq!(delete_before(6).0, ErrorCode::OffsetOutOfRange.code());
    assert_eq!(delete_before(-1), (0, 5));
    assert_eq!(earliest(&h, "trim"), 5);
    // The log start never moves back.
    assert_eq!(delete_before(1), (0, 5));
}

#[test]
fn topic_configs_described_and_altered() {
    let h = Harness::new(&[]);
    create_topic(&h, "conf", 1);
    let c = describe(&h, "conf", "retention.ms");
    assert_eq!(c.name, "retention.ms");
    assert_eq!(c.value.as_deref(), Some("604800000"));
    assert!(c.is_default || c.config_source != 1, "{c:?}");

    assert_eq!(alter(&h, "conf", "retention.ms", 0, Some("1000")), 0);
    let c = describe(&h, "conf", "retention.ms");
    assert_eq!(c.value.as_deref(), Some("1000"));
    assert_eq!(c.config_source, 1, "DYNAMIC_TOPIC_CONFIG");
    assert!(!c.is_default);

    assert_eq!(
        alter(&h, "conf", "retention.ms", 0, Some("soon")),
        ErrorCode::InvalidConfig.code()
    );
    assert_eq!(
        describe(&h, "conf", "retention.ms").value.as_deref(),
        Some("1000")
    );
    assert_eq!(
        alter(&h, "missing", "retention.ms", 0, Some("1")),
        ErrorCode::UnknownTopicOrPartition.code()
    );

    // DELETE returns the key to its default.
    assert_eq!(alter(&h, "conf", "retention.ms", 1, None), 0);
    let c = describe(&h, "conf", "retention.ms");
    assert_eq!(c.value.as_deref(), Some("604800000"));
    assert_ne!(c.config_source, 1);
}

/// Topics live in the metadata log: a restart replays them with the same ids, partitions and
/// configs.
#[test]
fn topics_survive_a_restart_through_the_metadata_log() {
    let h = Harness::new(&[]);
    let created = create(
        &h,
        topic("kept", 3).with_configs(vec![CreatableTopicConfig::default()
            .with_name("retention.ms".into())
            .with_value(Some("60000".into()))]),
        false,
    );
    assert_eq!(created.error_code, 0);
    let h = h.restart(&[]);
    let info = h.state.topics.get("kept").expect("replayed");
    assert_eq!(info.id, created.topic_id);
    assert_eq!(info.partitions, 3);
    assert_eq!(
        info.configs.get("retention.ms").map(String::as_str),
        Some("60000")
    );
    assert_eq!(metadata(&h, "kept"), (0, 3));
}

/// A data directory from before the metadata log (topics in `topics.metadata`, producer ids in
/// `producer-ids.checkpoint`) is taken over at start-up: same topic ids, partitions and configs,
/// producer ids above those handed out, and the old files renamed out of the way.
#[test]
fn a_data_directory_from_before_the_metadata_log_is_migrated() {
    let h = Harness::new(&[]);
    let dir = h.dir().to_path_buf();
    let legacy_id = crate::metadata::random_uuid();
    let h = h.restart_with(&[], || {
        std::fs::remove_dir_all(dir.join("__cluster_metadata-0")).unwrap();
        let registry = crate::metadata::TopicRegistry::load(&dir).unwrap();
        registry
            .update(|topics| {
                topics.insert(
                    "legacy".into(),
                    crate::metadata::TopicInfo {
                        name: "legacy".into(),
                        id: legacy_id,
                        partitions: 2,
                        configs: [("cleanup.policy".to_string(), "compact".to_string())].into(),
                    },
                );
                Ok(())
            })
            .unwrap();
        std::fs::write(dir.join("producer-ids.checkpoint"), "5000").unwrap();
    });
    let info = h.state.topics.get("legacy").expect("migrated");
    assert_eq!((info.id, info.partitions), (legacy_id, 2));
    assert_eq!(
        info.configs.get("cleanup.policy").map(String::as_str),
        Some("compact")
    );
    assert!(dir.join("topics.metadata.migrated").is_file());
    assert!(!dir.join("topics.metadata").exists());
    assert!(!dir.join("producer-ids.checkpoint").exists());
    let ResponseKind::InitProducerId(r) = h.respond(
        4,
        RequestKind::InitProducerId(
            InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(-1)
                .with_producer_epoch(-1),
        ),
    ) else {
        panic!("not an InitProducerId response");
    };
    assert_eq!(r.error_code, 0);
    assert!(r.producer_id >= 5000, "{}", r.producer_id);
    // The migrated topic is served like any other.
    assert_eq!(metadata(&h, "legacy"), (0, 2));
}

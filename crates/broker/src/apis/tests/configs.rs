//! Topic config validation and dynamic broker configs through the dispatch.

use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::incremental_alter_configs_request as inc;
use kafka_protocol::messages::*;
use kafka_protocol::ErrorCode;

use super::super::testing::Harness;

fn create(h: &Harness, name: &str, configs: &[(&str, &str)], validate_only: bool) -> (i16, String) {
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_validate_only(validate_only)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name.into())
            .with_num_partitions(2)
            .with_replication_factor(1)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(k.to_string())
                            .with_value(Some(v.to_string()))
                    })
                    .collect(),
            )]);
    let ResponseKind::CreateTopics(r) = h.respond(7, RequestKind::CreateTopics(req)) else {
        panic!("not a CreateTopics response");
    };
    let t = &r.topics[0];
    (t.error_code, t.error_message.clone().unwrap_or_default())
}

fn describe_broker(h: &Harness, name: &str, keys: &[&str]) -> DescribeConfigsResult {
    let req = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(name.into())
            .with_configuration_keys(
                (!keys.is_empty()).then(|| keys.iter().map(|k| k.to_string()).collect()),
            )]);
    let ResponseKind::DescribeConfigs(r) = h.respond(4, RequestKind::DescribeConfigs(req)) else {
        panic!("not a DescribeConfigs response");
    };
    r.results.into_iter().next().unwrap()
}

fn incremental(h: &Harness, name: &str, ops: &[(&str, i8, Option<&str>)]) -> (i16, String) {
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        inc::AlterConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(name.into())
            .with_configs(
                ops.iter()
                    .map(|(k, op, v)| {
                        inc::AlterableConfig::default()
                            .with_name(k.to_string())
                            .with_config_operation(*op)
                            .with_value(v.map(String::from))
                    })
                    .collect(),
            ),
    ]);
    let ResponseKind::IncrementalAlterConfigs(r) =
        h.respond(1, RequestKind::IncrementalAlterConfigs(req))
    else {
        panic!("not an IncrementalAlterConfigs response");
    };
    let r = &r.responses[0];
    (r.error_code, r.error_message.clone().unwrap_or_default())
}

#[test]
fn create_topics_refuses_invalid_configs_naming_the_key_and_validate_only_creates_nothing() {
    let h = Harness::new(&[]);
    for (k, v) in [
        ("no.such.config", "1"),
        ("retention.ms", "soon"),
        ("segment.bytes", "1"),
        ("min.insync.replicas", "0"),
    ] {
        let (code, msg) = create(&h, "bad", &[(k, v)], false);
        assert_eq!(code, ErrorCode::InvalidConfig.code(), "{k}={v}");
        assert!(msg.contains(k), "{k}: {msg}");
        let (code, _) = create(&h, "bad", &[(k, v)], true);
        assert_eq!(
            code,
            ErrorCode::InvalidConfig.code(),
            "{k}={v} validate_only"
        );
    }
    assert!(h.state.topics.get("bad").is_none());
    assert_eq!(create(&h, "ok", &[("retention.ms", "1000")], true).0, 0);
    assert!(
        h.state.topics.get("ok").is_none(),
        "validate_only creates nothing"
    );
    assert!(h
        .state
        .logs
        .get_log(&kafka_storage::TopicPartition::new("ok", 0))
        .is_none());
    assert_eq!(create(&h, "ok", &[("retention.ms", "1000")], false).0, 0);
    assert_eq!(
        create(&h, "ok", &[], true).0,
        ErrorCode::TopicAlreadyExists.code()
    );
}

#[test]
fn a_dynamic_log_default_reaches_topics_without_overrides_and_shows_its_source() {
    let h = Harness::new(&[("log.retention.hours", "100")]);
    super::create_topic(&h, "plain", 1);
    let tp = kafka_storage::TopicPartition::new("plain", 0);
    assert_eq!(
        h.state.logs.get_log(&tp).unwrap().config().retention_ms,
        Some(100 * 3_600_000)
    );
    assert_eq!(
        incremental(&h, "", &[("log.retention.ms", 0, Some("5000"))]).0,
        0
    );
    assert_eq!(
        h.state.logs.get_log(&tp).unwrap().config().retention_ms,
        Some(5000)
    );
    assert_eq!(
        incremental(&h, "1", &[("log.retention.ms", 0, Some("7000"))]).0,
        0
    );
    let r = describe_broker(&h, "1", &["log.retention.ms", "log.dirs"]);
    assert_eq!(r.error_code, 0);
    let by_name = |n: &str| r.configs.iter().find(|c| c.name == n).unwrap();
    let e = by_name("log.retention.ms");
    assert_eq!(e.value.as_deref(), Some("7000"));
    assert_eq!(e.config_source, 2, "DYNAMIC_BROKER_CONFIG");
    assert!(!e.read_only);
    let sources: Vec<(String, i8)> = e
        .synonyms
        .iter()
        .map(|s| (s.name.clone(), s.source))
        .collect();
    assert_eq!(
        sources,
        vec![
            ("log.retention.ms".into(), 2),
            ("log.retention.ms".into(), 3),
            ("log.retention.hours".into(), 4),
        ]
    );
    assert!(by_name("log.dirs").read_only, "log.dirs is read-only");
    let d = describe_broker(&h, "", &[]);
    assert_eq!(d.configs.len(), 1);
    assert_eq!(
        d.configs[0].config_source, 3,
        "DYNAMIC_DEFAULT_BROKER_CONFIG"
    );

    // DELETE falls back to the cluster default.
    assert_eq!(incremental(&h, "1", &[("log.retention.ms", 1, None)]).0, 0);
    assert_eq!(
        h.state.logs.get_log(&tp).unwrap().config().retention_ms,
        Some(5000)
    );
}

#[test]
fn broker_config_changes_kafka_refuses_are_refused() {
    let h = Harness::new(&[]);
    let (code, msg) = incremental(&h, "1", &[("num.io.threads", 0, Some("2"))]);
    assert_eq!(code, ErrorCode::InvalidConfig.code());
    assert!(msg.contains("num.io.threads"), "{msg}");
    let (code, _) = incremental(&h, "9", &[("max.connections", 0, Some("2"))]);
    assert_eq!(code, ErrorCode::InvalidRequest.code());
    let (code, msg) = incremental(&h, "", &[("max.connections", 0, Some("lots"))]);
    assert_eq!(code, ErrorCode::InvalidConfig.code());
    assert!(msg.contains("max.connections"), "{msg}");
    // AlterConfigs validate_only: checked, not applied.
    let req = AlterConfigsRequest::default()
        .with_validate_only(true)
        .with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name("1".into())
            .with_configs(vec![AlterableConfig::default()
                .with_name("max.connections".into())
                .with_value(Some("5".into()))])]);
    let ResponseKind::AlterConfigs(r) = h.respond(2, RequestKind::AlterConfigs(req)) else {
        panic!("not an AlterConfigs response");
    };
    assert_eq!(r.responses[0].error_code, 0);
    assert_eq!(
        h.state.dynamic.current().get("max.connections"),
        Some("2147483647")
    );
}

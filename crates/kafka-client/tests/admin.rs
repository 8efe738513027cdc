//! The admin client against this project's `broker` binary: topics, partitions, configs,
//! groups, offsets and the cluster, each test on a broker of its own (free port, temporary
//! data directory, killed when the test ends). The binary is built first if it is missing.
//! Every call has a timeout, so a broken broker fails a test instead of hanging it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::broker::Broker;

use kafka_client::admin::{AlterConfigOp, ConfigResource, ConfigSource, NewTopic, OffsetSpec};
use kafka_client::config::Properties;
use kafka_client::{Admin, Error, TopicPartition};
use kafka_protocol::{ErrorCode, Uuid};

/// Bound of every admin call in these tests.
const CALL: Option<Duration> = Some(Duration::from_secs(15));

fn code<T: std::fmt::Debug>(r: &Result<T, Error>) -> Option<ErrorCode> {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.code(),
    }
}

#[test]
fn topic_lifecycle() {
    let broker = Broker::start();
    let admin = broker.admin();

    let created = admin
        .create_topics(&[NewTopic::new("orders", 3, 1)], false, CALL)
        .unwrap();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].0, "orders");
    created[0].1.as_ref().unwrap();

    // Creating it again fails for that topic only.
    let again = admin
        .create_topics(
            &[
                NewTopic::new("orders", 3, 1),
                NewTopic::with_defaults("payments"),
            ],
            false,
            CALL,
        )
        .unwrap();
    assert_eq!(again[0].0, "orders");
    assert_eq!(code(&again[0].1), Some(ErrorCode::TopicAlreadyExists));
    assert_eq!(again[1].0, "payments");
    again[1].1.as_ref().unwrap();

    // Validation alone creates nothing.
    let checked = admin
        .create_topics(&[NewTopic::new("ghost", 1, 1)], true, CALL)
        .unwrap();
    checked[0].1.as_ref().unwrap();

    let described = admin.describe_topics(&["orders"], CALL).unwrap();
    assert_eq!(described.len(), 1);
    let orders = &described[0];
    assert_eq!(orders.name, "orders");
    assert!(!orders.internal);
    assert_ne!(orders.id, Uuid::ZERO);
    let indexes: Vec<i32> = orders.partitions.iter().map(|p| p.partition).collect();
    assert_eq!(indexes, [0, 1, 2]);
    assert!(orders.partitions.iter().all(|p| p.leader.is_some()));

    let topics = admin.list_topics(false, CALL).unwrap();
    assert!(topics.contains(&"orders".to_string()), "{topics:?}");
    assert!(topics.contains(&"payments".to_string()), "{topics:?}");
    assert!(!topics.contains(&"ghost".to_string()), "{topics:?}");
    assert!(!topics.iter().any(|t| t.starts_with("__")), "{topics:?}");
    let all = admin.list_topics(true, CALL).unwrap();
    assert!(all.len() >= topics.len());

    let grown = admin
        .create_partitions(&[("orders", 5)], false, CALL)
        .unwrap();
    grown[0].1.as_ref().unwrap();
    let described = admin.describe_topics(&["orders"], CALL).unwrap();
    assert_eq!(described[0].partitions.len(), 5);
    let shrunk = admin
        .create_partitions(&[("orders", 2)], false, CALL)
        .unwrap();
    assert_eq!(code(&shrunk[0].1), Some(ErrorCode::InvalidPartitions));

    let deleted = admin.delete_topics(&["orders"], CALL).unwrap();
    deleted[0].1.as_ref().unwrap();
    let gone = admin.describe_topics(&["orders"], CALL);
    assert_eq!(code(&gone), Some(ErrorCode::UnknownTopicOrPartition));
    let gone = admin.delete_topics(&["orders"], CALL).unwrap();
    assert_eq!(code(&gone[0].1), Some(ErrorCode::UnknownTopicOrPartition));
    // The other topic is untouched.
    assert_eq!(admin.describe_topics(&["payments"], CALL).unwrap().len(), 1);
    admin.close();
}

#[test]
fn configs() {
    let broker = Broker::start();
    let admin = broker.admin();
    admin
        .create_topics(&[NewTopic::new("conf", 1, 1)], false, CALL)
        .unwrap()[0]
        .1
        .as_ref()
        .unwrap();

    let topic = ConfigResource::topic("conf");
    let described = admin
        .describe_configs(&[topic.clone(), ConfigResource::broker(1)], CALL)
        .unwrap();
    assert_eq!(described[0].0, topic);
    let entries = described[0].1.as_ref().unwrap();
    let retention = entries.iter().find(|e| e.name == "retention.ms").unwrap();
    assert!(retention.is_default, "{retention:?}");
    let broker_entries = described[1].1.as_ref().unwrap();
    assert!(broker_entries.iter().any(|e| e.name == "num.partitions"));

    let altered = admin
        .incremental_alter_configs(
            &[(
                topic.clone(),
                vec![AlterConfigOp::set("retention.ms", "12345")],
            )],
            false,
            CALL,
        )
        .unwrap();
    altered[0].1.as_ref().unwrap();
    let described = admin
        .describe_configs(std::slice::from_ref(&topic), CALL)
        .unwrap();
    let entries = described[0].1.as_ref().unwrap();
    let retention = entries.iter().find(|e| e.name == "retention.ms").unwrap();
    assert_eq!(retention.value.as_deref(), Some("12345"));
    assert_eq!(retention.source, ConfigSource::DynamicTopicConfig);
    assert!(!retention.is_default);

    let reset = admin
        .incremental_alter_configs(
            &[(topic.clone(), vec![AlterConfigOp::delete("retention.ms")])],
            false,
            CALL,
        )
        .unwrap();
    reset[0].1.as_ref().unwrap();
    let described = admin.describe_configs(&[topic], CALL).unwrap();
    let entries = described[0].1.as_ref().unwrap();
    assert!(
        entries
            .iter()
            .find(|e| e.name == "retention.ms")
            .unwrap()
            .is_default
    );

    // Errors stay with their resource.
    let missing = admin
        .describe_configs(&[ConfigResource::topic("no-such-topic")], CALL)
        .unwrap();
    assert_eq!(
        code(&missing[0].1),
        Some(ErrorCode::UnknownTopicOrPartition)
    );
    let not_a_broker = admin
        .describe_configs(
            &[ConfigResource {
                kind: kafka_client::admin::ConfigResourceType::Broker,
                name: "x".into(),
            }],
            CALL,
        )
        .unwrap();
    assert_eq!(code(&not_a_broker[0].1), Some(ErrorCode::InvalidRequest));
}

#[test]
fn groups_on_an_empty_cluster() {
    let broker = Broker::start();
    let admin = broker.admin();
    assert_eq!(admin.list_groups(CALL).unwrap(), []);
    let described = admin.describe_groups(&["nobody"], CALL).unwrap();
    assert_eq!(described.len(), 1);
    assert_eq!(described[0].group_id, "nobody");
    assert_eq!(described[0].state, "Dead");
    assert!(described[0].members.is_empty());
    assert!(admin
        .list_consumer_group_offsets("nobody", CALL)
        .unwrap()
        .is_empty());
    let deleted = admin.delete_groups(&["nobody"], CALL).unwrap();
    assert_eq!(deleted[0].0, "nobody");
    assert!(deleted[0].1.is_err(), "{deleted:?}");
}

#[test]
fn offsets_and_cluster() {
    let broker = Broker::start();
    let admin = broker.admin();
    admin
        .create_topics(&[NewTopic::new("empty", 2, 1)], false, CALL)
        .unwrap()[0]
        .1
        .as_ref()
        .unwrap();
    let p0 = TopicPartition::new("empty", 0);
    let p1 = TopicPartition::new("empty", 1);
    let offsets = admin
        .list_offsets(
            &[
                (p0.clone(), OffsetSpec::Earliest),
                (p1.clone(), OffsetSpec::Latest),
            ],
            CALL,
        )
        .unwrap();
    assert_eq!(offsets.get(&p0), Some(&0));
    assert_eq!(offsets.get(&p1), Some(&0));

    let unknown = admin.list_offsets(
        &[(TopicPartition::new("no-such-topic", 0), OffsetSpec::Latest)],
        Some(Duration::from_secs(5)),
    );
    assert!(unknown.is_err(), "{unknown:?}");

    let cluster = admin.describe_cluster(CALL).unwrap();
    assert!(cluster.cluster_id.is_some_and(|id| !id.is_empty()));
    assert_eq!(cluster.nodes.len(), 1);
    assert_eq!(cluster.nodes[0].port, broker.port);
    assert_eq!(cluster.controller.map(|n| n.id), Some(cluster.nodes[0].id));
}

#[test]
fn calls_from_several_threads_share_one_client() {
    let broker = Broker::start();
    let admin = Arc::new(broker.admin());
    let threads: Vec<_> = (0..3)
        .map(|i| {
            let admin = Arc::clone(&admin);
            std::thread::spawn(move || {
                let name = format!("shared-{i}");
                admin
                    .create_topics(&[NewTopic::new(name.clone(), 1, 1)], false, CALL)
                    .unwrap()[0]
                    .1
                    .as_ref()
                    .unwrap();
                admin.describe_cluster(CALL).unwrap();
                admin.describe_topics(&[&name], CALL).unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let topics = admin.list_topics(false, CALL).unwrap();
    assert_eq!(topics, ["shared-0", "shared-1", "shared-2"]);
}

#[test]
fn an_unreachable_cluster_times_out() {
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let props = Properties::new().with("bootstrap.servers", format!("127.0.0.1:{port}"));
    let admin = Admin::new(&props).unwrap();
    let start = Instant::now();
    let r = admin.list_topics(false, Some(Duration::from_millis(800)));
    assert!(r.is_err(), "{r:?}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let r = admin.create_topics(
        &[NewTopic::new("t", 1, 1)],
        false,
        Some(Duration::from_millis(500)),
    );
    // The client is fine; the topic's own result says what went wrong.
    let r = r.unwrap();
    assert!(r[0].1.is_err());
}

//! Producer failure behaviour against a fake broker that accepts Produce requests and never
//! answers them: request timeouts, delivery timeouts and `buffer.memory` exhaustion.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::FakeBroker;
use kafka_client::config::Properties;
use kafka_client::producer::{Producer, ProducerRecord};
use kafka_client::Error;

fn props(broker: &FakeBroker) -> Properties {
    Properties::new()
        .with("bootstrap.servers", broker.bootstrap())
        .with("request.timeout.ms", "400")
        .with("delivery.timeout.ms", "1500")
        .with("linger.ms", "0")
        .with("retry.backoff.ms", "50")
}

#[test]
fn unanswered_produce_times_out_after_delivery_timeout() {
    let broker = FakeBroker::start("t", 1);
    let producer = Producer::new(&props(&broker)).unwrap();
    let start = Instant::now();
    let future = producer.send(ProducerRecord::new("t").value("v")).unwrap();
    let result = future
        .wait_timeout(Duration::from_secs(10))
        .expect("no outcome within 10 s");
    let elapsed = start.elapsed();
    match result {
        Err(Error::Timeout(msg)) => assert!(msg.contains("delivery.timeout.ms"), "{msg}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    // Each attempt waited request.timeout.ms, and retries stopped at delivery.timeout.ms.
    assert!(elapsed >= Duration::from_millis(1400), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert!(
        broker.produce_count() >= 2,
        "the request was retried after its timeout"
    );
    producer.close();
}

#[test]
fn full_buffer_memory_blocks_then_fails_after_max_block() {
    let broker = FakeBroker::start("t", 1);
    let props = props(&broker)
        .with("buffer.memory", "65536")
        .with("batch.size", "16384")
        .with("max.block.ms", "600")
        .with("delivery.timeout.ms", "60000")
        .with("request.timeout.ms", "30000");
    let producer = Producer::new(&props).unwrap();
    let value = vec![b'x'; 8000];
    let mut accepted = 0;
    let mut blocked_for = None;
    for _ in 0..100 {
        let start = Instant::now();
        match producer.send(ProducerRecord::new("t").value(value.clone())) {
            Ok(_) => accepted += 1,
            Err(Error::Timeout(msg)) => {
                blocked_for = Some(start.elapsed());
                assert!(msg.contains("max.block.ms"), "{msg}");
                break;
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    let blocked_for = blocked_for.expect("send never blocked on a full buffer");
    assert!(accepted >= 4, "only {accepted} records fit in 64 KiB");
    assert!(blocked_for >= Duration::from_millis(550), "{blocked_for:?}");
    assert!(blocked_for < Duration::from_secs(3), "{blocked_for:?}");
    producer.close_timeout(Some(Duration::from_millis(100)));
}

#[test]
fn unknown_topic_fails_after_max_block() {
    let broker = FakeBroker::start("t", 1);
    let producer = Producer::new(&props(&broker).with("max.block.ms", "500")).unwrap();
    let start = Instant::now();
    match producer.send(ProducerRecord::new("missing").value("v")) {
        Err(Error::Timeout(msg)) => assert!(msg.contains("not present in metadata"), "{msg}"),
        other => panic!("expected a metadata timeout, got {other:?}"),
    }
    assert!(start.elapsed() >= Duration::from_millis(450));
    producer.close();
}

#[test]
fn unreachable_bootstrap_is_a_timeout_not_a_hang() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let props = Properties::new()
        .with("bootstrap.servers", format!("127.0.0.1:{port}"))
        .with("max.block.ms", "700");
    let producer = Producer::new(&props).unwrap();
    let start = Instant::now();
    assert!(matches!(
        producer.send(ProducerRecord::new("t").value("v")),
        Err(Error::Timeout(_))
    ));
    assert!(start.elapsed() < Duration::from_secs(3));
    producer.close();
}

#[test]
fn batches_go_to_each_partitions_leader_and_follow_a_leader_move() {
    use common::FakeCluster;
    use kafka_client::producer::partition_for_key;

    let cluster = FakeCluster::start(3, "t", vec![0, 1, 2, 0, 1, 2], true);
    let props = Properties::new()
        .with("bootstrap.servers", cluster.bootstrap())
        .with("linger.ms", "1")
        .with("retry.backoff.ms", "20")
        .with("metadata.max.age.ms", "60000");
    let producer = Producer::new(&props).unwrap();
    let keys: Vec<String> = (0..300).map(|i| format!("key-{i}")).collect();
    let futures: Vec<_> = keys
        .iter()
        .map(|k| {
            producer
                .send(ProducerRecord::new("t").key(k.clone()).value("v"))
                .unwrap()
        })
        .collect();
    for (k, f) in keys.iter().zip(futures) {
        let m = f.wait().unwrap();
        assert_eq!(
            m.topic_partition.partition,
            partition_for_key(k.as_bytes(), 6)
        );
    }
    {
        let state = cluster.state.lock().unwrap();
        for (partition, writes) in &state.written {
            let leader = state.leaders[*partition as usize];
            assert!(
                writes.iter().all(|(node, _)| *node == leader),
                "{partition}: {writes:?}"
            );
        }
        assert_eq!(
            state.produce_requests.len(),
            3,
            "every broker got its partitions' batches"
        );
        assert!(state.not_leader_answers.is_empty());
    }
    // Partition 0 moves from node 0 to node 2: the producer is told NOT_LEADER_OR_FOLLOWER,
    // refreshes metadata and resends there.
    cluster.state.lock().unwrap().leaders[0] = 2;
    let m = producer
        .send(ProducerRecord::new("t").partition(0).value("moved"))
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(m.topic_partition.partition, 0);
    let state = cluster.state.lock().unwrap();
    assert!(state.not_leader_answers.get(&0).copied().unwrap_or(0) >= 1);
    assert_eq!(state.written[&0].last().map(|(node, _)| *node), Some(2));
    drop(state);
    producer.close();
}

#[test]
fn a_lost_sequence_bumps_the_epoch_instead_of_poisoning_the_partition() {
    use common::FakeCluster;

    // First the broker swallows Produce: the record expires after delivery.timeout.ms with
    // its sequence (0) never written.
    let cluster = FakeCluster::start(1, "t", vec![0], false);
    let props = Properties::new()
        .with("bootstrap.servers", cluster.bootstrap())
        .with("request.timeout.ms", "300")
        .with("delivery.timeout.ms", "1000")
        .with("linger.ms", "0")
        .with("retry.backoff.ms", "20");
    let producer = Producer::new(&props).unwrap();
    let lost = producer
        .send(ProducerRecord::new("t").value("lost"))
        .unwrap();
    assert!(matches!(lost.wait(), Err(Error::Timeout(_))));
    // Now it answers and checks sequences like a real broker: the next record would carry
    // sequence 1 under epoch 0, which can never be accepted. The producer bumps the epoch.
    {
        let mut state = cluster.state.lock().unwrap();
        state.answer_produce = true;
        state.check_sequences = true;
    }
    for i in 0..3 {
        let m = producer
            .send(ProducerRecord::new("t").value(format!("after-{i}")))
            .unwrap()
            .wait()
            .unwrap();
        assert_eq!(m.offset, i);
    }
    let state = cluster.state.lock().unwrap();
    assert_eq!(state.init_requests, vec![(-1, -1), (1000, 0)]);
    assert!(
        state.batches.iter().all(|(_, epoch, _, _)| *epoch == 1),
        "{:?}",
        state.batches
    );
    assert_eq!(state.batches.first().map(|b| b.2), Some(0));
    drop(state);
    producer.close();
}

//! The consumer against this project's broker: the heartbeat thread keeps a member in its
//! group while the caller is busy between polls, and a caller that stops polling for longer
//! than `max.poll.interval.ms` is taken out of the group and rejoins on its next poll.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::broker::Broker;
use kafka_client::admin::NewTopic;
use kafka_client::config::Properties;
use kafka_client::consumer::Consumer;

fn consumer(broker: &Broker, group: &str, max_poll_interval_ms: u64) -> Consumer {
    let props = Properties::new()
        .with("bootstrap.servers", broker.bootstrap())
        .with("group.id", group)
        .with("session.timeout.ms", "6000")
        .with("heartbeat.interval.ms", "500")
        .with("max.poll.interval.ms", max_poll_interval_ms.to_string())
        .with("auto.offset.reset", "earliest");
    Consumer::new(&props).unwrap()
}

fn joined(c: &mut Consumer) -> (String, i32, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        c.poll(Duration::from_millis(100)).unwrap();
        let (group, generation, member) = c.group_metadata().unwrap();
        if !c.assignment().is_empty() && generation >= 0 {
            return (group, generation, member);
        }
        assert!(Instant::now() < deadline, "no assignment within 30 s");
    }
}

fn setup(broker: &Broker, topic: &str) {
    let admin = broker.admin();
    let results = admin
        .create_topics(&[NewTopic::new(topic, 2, 1)], false, None)
        .unwrap();
    assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");
}

#[test]
fn heartbeats_continue_while_the_caller_is_busy() {
    let broker = Broker::start();
    setup(&broker, "busy");
    let mut c = consumer(&broker, "busy-group", 60_000);
    c.subscribe(&["busy"]).unwrap();
    let before = joined(&mut c);
    // Longer than session.timeout.ms: without heartbeats the coordinator would expire us.
    std::thread::sleep(Duration::from_secs(8));
    c.poll(Duration::from_millis(200)).unwrap();
    let after = c.group_metadata().unwrap();
    assert_eq!(before, after, "the member was expired and rejoined");
    assert_eq!(c.assignment().len(), 2);
    c.close().unwrap();
}

#[test]
fn exceeding_max_poll_interval_leaves_the_group_and_the_next_poll_rejoins() {
    let broker = Broker::start();
    setup(&broker, "slow");
    let mut c = consumer(&broker, "slow-group", 2_000);
    c.subscribe(&["slow"]).unwrap();
    let (_, generation, member) = joined(&mut c);
    std::thread::sleep(Duration::from_secs(4));
    let (_, generation_after, member_after) = joined(&mut c);
    assert!(
        generation_after > generation,
        "{generation} -> {generation_after}"
    );
    assert_ne!(
        member, member_after,
        "a member that left joins with a new id"
    );
    c.close().unwrap();
}

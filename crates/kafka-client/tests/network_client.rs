//! `NetworkClient` against a fake broker and a dead address: version negotiation, request
//! timeouts, and no busy loop while nothing can be reached.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::FakeBroker;
use kafka_client::config::{CommonConfig, Properties};
use kafka_client::{Error, NetworkClient};
use kafka_protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use kafka_protocol::messages::RequestKind;
use kafka_protocol::ApiKey;

fn client(bootstrap: &str, extra: &[(&str, &str)]) -> NetworkClient {
    let mut props = Properties::new().with("bootstrap.servers", bootstrap);
    for (k, v) in extra {
        props.set(*k, *v);
    }
    NetworkClient::new(&CommonConfig::from_properties(&props).unwrap()).unwrap()
}

#[test]
fn negotiates_versions_and_times_out_unanswered_requests() {
    let broker = FakeBroker::start("t", 1);
    let mut client = client(&broker.bootstrap(), &[("request.timeout.ms", "300")]);
    let deadline = Instant::now() + Duration::from_secs(10);
    client.await_ready(-1, deadline).unwrap();
    let produce = client.api_version(-1, ApiKey::Produce).unwrap();
    assert_eq!(produce, ApiKey::Produce.valid_versions().max);
    let request = RequestKind::Produce(
        ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(1000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name("t".into())
                .with_partition_data(
                    vec![PartitionProduceData::default().with_index(0)],
                )]),
    );
    let sent = Instant::now();
    let correlation = client.send(-1, &request, produce, true, 42, sent).unwrap();
    let response = loop {
        let mut responses = client.poll(Duration::from_millis(100));
        if let Some(r) = responses.pop() {
            break r;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "no timeout reported"
        );
    };
    assert_eq!((response.correlation_id, response.tag), (correlation, 42));
    assert!(
        matches!(response.result, Err(Error::Timeout(_))),
        "{:?}",
        response.result
    );
    assert!(sent.elapsed() >= Duration::from_millis(290));
    // The connection was closed with the timed-out request; it comes back after the backoff.
    client
        .await_ready(-1, Instant::now() + Duration::from_secs(10))
        .unwrap();
}

#[test]
fn polling_an_unreachable_cluster_does_not_spin() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut client = client(
        &format!("127.0.0.1:{port}"),
        &[("reconnect.backoff.ms", "50")],
    );
    let start = Instant::now();
    let mut polls = 0;
    while start.elapsed() < Duration::from_millis(500) {
        client.poll(Duration::from_millis(50));
        polls += 1;
    }
    // A busy loop makes hundreds of thousands of calls; waiting for backoffs makes tens.
    assert!(polls < 200, "{polls} polls in 500 ms");
}

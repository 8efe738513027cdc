//! The controller driven through a simulated quorum: every proposal commits at the next
//! offset unless a test says otherwise, time is simulated.

use kafka_protocol::messages::broker_registration_request::{Feature, Listener};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    BrokerHeartbeatRequest, BrokerHeartbeatResponse, BrokerRegistrationRequest,
    CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    IncrementalAlterConfigsRequest, UnregisterBrokerRequest,
};
use kafka_protocol::{ErrorCode, Uuid};

use super::*;
use crate::image::{ConfigResource, MetadataImage, Provenance};
use crate::records::{decode_batch, encode_batch, MetadataRecord};

const CLUSTER: &str = "test-cluster";

struct Harness {
    controller: QuorumController,
    now: i64,
    offset: i64,
    epochs: HashMap<i32, i64>,
    /// Every committed batch, as a follower would replay it.
    log: Vec<Vec<MetadataRecord>>,
}

impl Harness {
    fn new() -> Self {
        Self::with_config(ControllerConfig::default())
    }

    fn with_config(config: ControllerConfig) -> Self {
        let mut controller = QuorumController::new(config, CLUSTER, 7);
        controller.on_became_leader(0);
        let mut h = Harness {
            controller,
            now: 0,
            offset: 0,
            epochs: HashMap::new(),
            log: Vec::new(),
        };
        let boot = h.controller.bootstrap_records().unwrap(); // invariant: cfg(test) only, no network or config input
        h.commit(boot);
        h
    }

    /// Commits a batch through the wire format, as the quorum would.
    fn commit(&mut self, records: Vec<MetadataRecord>) {
        if records.is_empty() {
            return;
        }
        let bytes = encode_batch(&records).unwrap(); // invariant: cfg(test) only, no network or config input
        let decoded = decode_batch(&bytes).unwrap(); // invariant: cfg(test) only, no network or config input
        assert_eq!(decoded, records);
        self.offset += 1;
        self.controller
            .replay_committed(
                Provenance {
                    offset: self.offset,
                    epoch: 1,
                },
                &decoded,
            )
            .unwrap(); // invariant: cfg(test) only, no network or config input
        self.log.push(decoded);
    }

    fn image(&self) -> &MetadataImage {
        self.controller.committed()
    }

    fn register(&mut self, id: i32, rack: Option<&str>) -> i64 {
        let request = BrokerRegistrationRequest::default()
            .with_broker_id(id)
            .with_cluster_id(CLUSTER.into())
            .with_incarnation_id(Uuid::from_u64_pair(id as u64, 1))
            .with_rack(rack.map(str::to_string))
            .with_listeners(vec![Listener::default()
                .with_name("PLAINTEXT".into())
                .with_host("localhost".into())
                .with_port(9090 + id as u16)])
            .with_features(vec![Feature::default()
                .with_name("metadata.version".into())
                .with_min_supported_version(1)
                .with_max_supported_version(DEFAULT_METADATA_VERSION)]);
        let r = self.controller.register_broker(self.now, &request).unwrap(); // invariant: cfg(test) only, no network or config input
        assert_eq!(r.response.error_code, 0, "{:?}", r.response);
        self.commit(r.records);
        self.epochs.insert(id, r.response.broker_epoch);
        r.response.broker_epoch
    }

    fn heartbeat_with(
        &mut self,
        id: i32,
        f: impl FnOnce(BrokerHeartbeatRequest) -> BrokerHeartbeatRequest,
    ) -> BrokerHeartbeatResponse {
        let request = f(BrokerHeartbeatRequest::default()
            .with_broker_id(id)
            .with_broker_epoch(self.epochs[&id])
            .with_current_metadata_offset(self.offset));
        let r = self.controller.heartbeat(self.now, &request).unwrap();
        self.commit(r.records);
        r.response
    }

    fn heartbeat(&mut self, id: i32) -> BrokerHeartbeatResponse {
        self.heartbeat_with(id, |r| r)
    }

    /// Registers and unfences brokers `ids`.
    fn brokers(&mut self, ids: &[i32]) {
        for id in ids {
            self.register(*id, None);
            assert!(!self.heartbeat(*id).is_fenced);
        }
    }

    fn create(&mut self, name: &str, partitions: i32, rf: i16) -> CreatableTopicResult {
        let request = CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
            .with_name(name.into())
            .with_num_partitions(partitions)
            .with_replication_factor(rf)]);
        let r = self
            .controller
            .create_topics(&request, &AcceptAllConfigs)
            .unwrap();
        self.commit(r.records);
        r.response.topics.into_iter().next().unwrap()
    }

    /// Advances time, heartbeating `alive` every second, ticking after each step.
    fn advance(&mut self, ms: i64, alive: &[i32]) {
        let end = self.now + ms;
        while self.now < end {
            self.now = (self.now + 1000).min(end);
            for id in alive {
                self.heartbeat(*id);
            }
            let records = self.controller.tick(self.now).unwrap();
            self.commit(records);
        }
    }

    fn leaders(&self, topic: &str) -> Vec<i32> {
        self.image()
            .partitions(topic)
            .unwrap()
            .values()
            .map(|p| p.leader)
            .collect()
    }
}

use kafka_protocol::messages::create_topics_response::CreatableTopicResult;

#[test]
fn registration_then_heartbeat_unfences_once_caught_up() {
    let mut h = Harness::new();
    let epoch = h.register(1, None);
    let b = h.image().broker(1).unwrap();
    assert!(b.fenced);
    assert_eq!(b.epoch, epoch);
    // Behind its registration: stays fenced.
    let behind = h.heartbeat_with(1, |r| r.with_current_metadata_offset(0));
    assert!(behind.is_fenced && !behind.is_caught_up);
    let caught_up = h.heartbeat(1);
    assert!(!caught_up.is_fenced && caught_up.is_caught_up);
    assert!(!h.image().broker(1).unwrap().fenced);
    assert_eq!(h.image().live_brokers().count(), 1);
}

#[test]
fn stale_epochs_and_unknown_brokers_are_refused() {
    let mut h = Harness::new();
    h.brokers(&[1]);
    let r = h.heartbeat_with(1, |r| r.with_broker_epoch(12345));
    assert_eq!(r.error_code, ErrorCode::StaleBrokerEpoch.code());
    let r = h.heartbeat_with(1, |r| r.with_broker_id(9));
    assert_eq!(r.error_code, ErrorCode::StaleBrokerEpoch.code());
    let block = h.controller.allocate_producer_ids(1, 999).unwrap();
    assert_eq!(block.response.error, ErrorCode::StaleBrokerEpoch);
    assert!(block.records.is_empty());
}

#[test]
fn epochs_grow_across_registrations() {
    let mut h = Harness::new();
    let a = h.register(1, None);
    let b = h.register(2, None);
    // The same incarnation registering again (a retry) gets a newer epoch.
    let c = h.register(1, None);
    assert!(a < b && b < c, "{a} {b} {c}");
}

#[test]
fn a_second_incarnation_with_a_live_session_is_a_duplicate() {
    let mut h = Harness::new();
    h.brokers(&[1]);
    let request = BrokerRegistrationRequest::default()
        .with_broker_id(1)
        .with_cluster_id(CLUSTER.into())
        .with_incarnation_id(Uuid::from_u64_pair(99, 99))
        .with_features(vec![Feature::default()
            .with_name("metadata.version".into())
            .with_min_supported_version(1)
            .with_max_supported_version(DEFAULT_METADATA_VERSION)]);
    let r = h.controller.register_broker(h.now, &request).unwrap();
    assert_eq!(
        r.response.error_code,
        ErrorCode::DuplicateBrokerRegistration.code()
    );
    let wrong_cluster = request.clone().with_cluster_id("other".into());
    let r = h.controller.register_broker(h.now, &wrong_cluster).unwrap();
    assert_eq!(
        r.response.error_code,
        ErrorCode::InconsistentClusterId.code()
    );
    let no_mv = request.clone().with_features(Vec::new());
    let r = h.controller.register_broker(h.now, &no_mv).unwrap();
    assert_eq!(r.response.error_code, ErrorCode::UnsupportedVersion.code());
    // A clean restart names the epoch it had: the registered broker is itself, not a rival.
    let registered = h.controller.committed().broker(1).unwrap().epoch;
    let wrong_epoch = request.clone().with_previous_broker_epoch(registered + 7);
    let r = h.controller.register_broker(h.now, &wrong_epoch).unwrap();
    assert_eq!(
        r.response.error_code,
        ErrorCode::DuplicateBrokerRegistration.code()
    );
    let restart = request.clone().with_previous_broker_epoch(registered);
    let r = h.controller.register_broker(h.now, &restart).unwrap();
    assert_eq!(r.response.error_code, 0);
    h.controller.on_leadership_lost();
    h.controller.on_became_leader(h.now);
    // Once the old session expired, the new incarnation takes over.
    h.now += 10_000;
    let r = h.controller.register_broker(h.now, &request).unwrap();
    assert_eq!(r.response.error_code, 0);
}

#[test]
fn twelve_partitions_rf3_spread_over_three_brokers() {
    let mut h = Harness::new();
    h.brokers(&[1, 2, 3]);
    let result = h.create("orders", 12, 3);
    assert_eq!(result.error_code, 0, "{result:?}");
    assert_eq!((result.num_partitions, result.replication_factor), (12, 3));
    let topic = h.image().topic_by_name("orders").unwrap();
    assert_eq!(topic.id, result.topic_id);
    let mut leaders = HashMap::new();
    let mut replicas = HashMap::new();
    for p in topic.partitions.values() {
        *leaders.entry(p.leader).or_insert(0) += 1;
        for r in &p.replicas {
            *replicas.entry(*r).or_insert(0) += 1;
        }
        assert_eq!(p.isr.len(), 3);
        assert_eq!(p.leader, p.replicas[0]);
        assert_eq!((p.leader_epoch, p.partition_epoch), (0, 0));
    }
    assert_eq!(leaders.values().copied().collect::<Vec<_>>(), vec![4, 4, 4]);
    assert!(replicas.values().all(|&n| n == 12));
}

#[test]
fn rack_aware_placement_spans_every_rack() {
    let mut h = Harness::new();
    for (id, rack) in [(1, "a"), (2, "a"), (3, "b"), (4, "b"), (5, "c"), (6, "c")] {
        h.register(id, Some(rack));
        h.heartbeat(id);
    }
    assert_eq!(h.create("racked", 12, 3).error_code, 0);
    for p in h.image().partitions("racked").unwrap().values() {
        let mut racks: Vec<_> = p
            .replicas
            .iter()
            .map(|b| h.image().broker(*b).unwrap().rack.clone())
            .collect();
        racks.sort();
        racks.dedup();
        assert_eq!(racks.len(), 3, "{:?}", p.replicas);
    }
}

#[test]
fn create_topics_errors_as_kafka() {
    let mut h = Harness::new();
    h.brokers(&[1, 2]);
    assert_eq!(h.create("t", 1, 1).error_code, 0);
    assert_eq!(
        h.create("t", 1, 1).error_code,
        ErrorCode::TopicAlreadyExists.code()
    );
    assert_eq!(
        h.create("bad name", 1, 1).error_code,
        ErrorCode::InvalidTopicException.code()
    );
    assert_eq!(h.create("a.b", 1, 1).error_code, 0);
    assert_eq!(
        h.create("a_b", 1, 1).error_code,
        ErrorCode::InvalidTopicException.code(),
        "collides with a.b"
    );
    assert_eq!(
        h.create("zero", 0, 1).error_code,
        ErrorCode::InvalidPartitions.code()
    );
    let too_many = h.create("wide", 1, 3);
    assert_eq!(
        too_many.error_code,
        ErrorCode::InvalidReplicationFactor.code()
    );
    assert!(too_many.error_message.unwrap().contains("only 2 broker(s)"));
    // Defaults from the config.
    let d = h.create("defaults", -1, -1);
    assert_eq!((d.num_partitions, d.replication_factor), (1, 1));
    // validate_only: answered, nothing proposed.
    let request = CreateTopicsRequest::default()
        .with_validate_only(true)
        .with_topics(vec![CreatableTopic::default()
            .with_name("dry".into())
            .with_num_partitions(3)
            .with_replication_factor(2)]);
    let r = h
        .controller
        .create_topics(&request, &AcceptAllConfigs)
        .unwrap();
    assert!(r.records.is_empty());
    assert_eq!(r.response.topics[0].num_partitions, 3);
    assert!(h.controller.speculative().topic_by_name("dry").is_none());
}

#[test]
fn explicit_assignments_and_configs() {
    let mut h = Harness::new();
    h.brokers(&[1, 2, 3]);
    let topic = CreatableTopic::default()
        .with_name("manual".into())
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_assignments(vec![
            CreatableReplicaAssignment::default()
                .with_partition_index(1)
                .with_broker_ids(vec![3, 1]),
            CreatableReplicaAssignment::default()
                .with_partition_index(0)
                .with_broker_ids(vec![2, 3]),
        ])
        .with_configs(vec![CreatableTopicConfig::default()
            .with_name("retention.ms".into())
            .with_value(Some("1000".into()))]);
    let r = h
        .controller
        .create_topics(
            &CreateTopicsRequest::default().with_topics(vec![topic.clone()]),
            &AcceptAllConfigs,
        )
        .unwrap();
    assert_eq!(r.response.topics[0].error_code, 0);
    h.commit(r.records);
    assert_eq!(
        h.image().partition("manual", 0).unwrap().replicas,
        vec![2, 3]
    );
    assert_eq!(h.image().partition("manual", 1).unwrap().leader, 3);
    assert_eq!(
        h.image()
            .topic_configs("manual")
            .unwrap()
            .get("retention.ms"),
        Some(&"1000".to_string())
    );
    // Unknown broker, gaps and a refusing validator.
    let bad = |assignments: Vec<(i32, Vec<i32>)>| {
        topic.clone().with_name("x".into()).with_assignments(
            assignments
                .into_iter()
                .map(|(i, b)| {
                    CreatableReplicaAssignment::default()
                        .with_partition_index(i)
                        .with_broker_ids(b)
                })
                .collect(),
        )
    };
    for t in [
        bad(vec![(0, vec![9])]),
        bad(vec![(1, vec![1])]),
        bad(vec![(0, vec![1, 1])]),
    ] {
        let r = h
            .controller
            .create_topics(
                &CreateTopicsRequest::default().with_topics(vec![t]),
                &AcceptAllConfigs,
            )
            .unwrap();
        assert_eq!(
            r.response.topics[0].error_code,
            ErrorCode::InvalidReplicaAssignment.code()
        );
    }
    let refuse = |_: &ConfigResource, name: &str, _: Option<&str>| {
        Err::<(), _>(ApiError::new(
            ErrorCode::InvalidConfig,
            format!("no {name}"),
        ))
    };
    struct Refuse<F>(F);
    impl<F: Fn(&ConfigResource, &str, Option<&str>) -> std::result::Result<(), ApiError>>
        ConfigValidator for Refuse<F>
    {
        fn validate(
            &self,
            r: &ConfigResource,
            n: &str,
            v: Option<&str>,
        ) -> std::result::Result<(), ApiError> {
            (self.0)(r, n, v)
        }
    }
    let r = h
        .controller
        .create_topics(
            &CreateTopicsRequest::default().with_topics(vec![bad(vec![(0, vec![1])])]),
            &Refuse(refuse),
        )
        .unwrap();
    assert_eq!(
        r.response.topics[0].error_code,
        ErrorCode::InvalidConfig.code()
    );
    assert_eq!(
        r.response.topics[0].error_message.as_deref(),
        Some("no retention.ms")
    );
}

#[test]
fn fencing_after_session_timeout_elects_from_the_isr_only() {
    let mut h = Harness::new();
    h.brokers(&[1, 2, 3]);
    h.create("rf3", 12, 3);
    h.create("rf2", 6, 2);
    let before = h.image().clone();
    // Broker 1 stops heartbeating.
    h.advance(8000, &[1, 2, 3]);
    assert!(!h.image().broker(1).unwrap().fenced);
    h.advance(10_000, &[2, 3]);
    assert!(h.image().broker(1).unwrap().fenced);
    assert_eq!(h.image().live_brokers().count(), 2);
    for topic in ["rf3", "rf2"] {
        for (i, p) in h.image().partitions(topic).unwrap() {
            let old = &before.partitions(topic).unwrap()[i];
            assert!(!p.isr.contains(&1) || old.isr == vec![1], "{topic}-{i}");
            assert!(p.leader != 1);
            if p.leader >= 0 {
                assert!(old.isr.contains(&p.leader), "new leader from the old ISR");
            }
            if old.leader == 1 {
                assert_eq!(p.leader_epoch, old.leader_epoch + 1);
                assert!(p.leader >= 0, "rf >= 2 keeps a leader");
            } else {
                assert_eq!(p.leader_epoch, old.leader_epoch);
            }
            if old.isr.contains(&1) {
                assert_eq!(p.partition_epoch, old.partition_epoch + 1);
            }
        }
    }
}

#[test]
fn rf1_partition_goes_offline_and_comes_back_with_its_broker() {
    let mut h = Harness::new();
    h.brokers(&[1, 2]);
    h.create("single", 4, 1);
    let on_1: Vec<i32> = h
        .image()
        .partitions("single")
        .unwrap()
        .iter()
        .filter(|(_, p)| p.leader == 1)
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(on_1.len(), 2);
    h.advance(12_000, &[2]);
    for i in &on_1 {
        let p = h.image().partition("single", *i).unwrap();
        assert_eq!(p.leader, -1, "offline");
        assert_eq!(p.isr, vec![1], "the last ISR member stays");
        assert_eq!(p.leader_epoch, 1);
    }
    // Broker 1 comes back: re-registers (fenced), catches up, unfences, leads again.
    h.register(1, None);
    assert_eq!(h.leaders("single").iter().filter(|l| **l == -1).count(), 2);
    assert!(!h.heartbeat(1).is_fenced);
    for i in &on_1 {
        let p = h.image().partition("single", *i).unwrap();
        assert_eq!(p.leader, 1);
        assert_eq!(p.leader_epoch, 2);
    }
}

#[test]
fn controlled_shutdown_moves_leaders_away_then_says_shut_down() {
    let mut h = Harness::new();
    h.brokers(&[1, 2, 3]);
    h.create("t", 12, 2);
    assert!(h.leaders("t").contains(&2));
    let r = h.heartbeat_with(2, |r| r.with_want_shut_down(true));
    assert!(!r.should_shut_down, "still led partitions when asked");
    assert!(h.image().broker(2).unwrap().in_controlled_shutdown);
    assert!(!h.leaders("t").contains(&2));
    for p in h.image().partitions("t").unwrap().values() {
        assert!(!p.isr.contains(&2) || p.isr == vec![2]);
        assert!(p.leader >= 0, "rf 2: another replica took over");
    }
    // It has replayed the changes: now it may stop.
    let r = h.heartbeat_with(2, |r| r.with_want_shut_down(true));
    assert!(r.should_shut_down);
    // A broker behind the log must wait.
    h.brokers(&[4]);
    h.heartbeat_with(4, |r| r.with_want_shut_down(true));
    let r = h.heartbeat_with(4, |r| {
        r.with_want_shut_down(true).with_current_metadata_offset(0)
    });
    assert!(!r.should_shut_down);
    // A broker in controlled shutdown is never elected.
    assert_eq!(h.create("after", 6, 2).error_code, 0);
    for p in h.image().partitions("after").unwrap().values() {
        assert!(!p.replicas.contains(&2) && !p.replicas.contains(&4));
    }
}

#[test]
fn speculative_state_is_discarded_on_leadership_loss() {
    let mut h = Harness::new();
    h.brokers(&[1]);
    let request = CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
        .with_name("pending".into())
        .with_num_partitions(1)
        .with_replication_factor(1)]);
    let r = h
        .controller
        .create_topics(&request, &AcceptAllConfigs)
        .unwrap();
    assert!(!r.records.is_empty());
    // A second create sees the first before it commits.
    let again = h
        .controller
        .create_topics(&request, &AcceptAllConfigs)
        .unwrap();
    assert_eq!(
        again.response.topics[0].error_code,
        ErrorCode::TopicAlreadyExists.code()
    );
    assert!(h
        .controller
        .speculative()
        .topic_by_name("pending")
        .is_some());
    assert!(h.image().topic_by_name("pending").is_none());
    assert_eq!(h.controller.pending_batches(), 1);
    h.controller.on_leadership_lost();
    assert!(h
        .controller
        .speculative()
        .topic_by_name("pending")
        .is_none());
    assert_eq!(h.controller.pending_batches(), 0);
    let refused = h
        .controller
        .create_topics(&request, &AcceptAllConfigs)
        .unwrap();
    assert_eq!(
        refused.response.topics[0].error_code,
        ErrorCode::NotController.code()
    );
    assert!(refused.records.is_empty());
    // Regaining leadership: the topic can be created (it never committed).
    h.controller.on_became_leader(h.now);
    let r = h
        .controller
        .create_topics(&request, &AcceptAllConfigs)
        .unwrap();
    assert_eq!(r.response.topics[0].error_code, 0);
    h.commit(r.records);
    assert!(h.image().topic_by_name("pending").is_some());
}

#[test]
fn a_batch_committed_by_an_earlier_leader_rebuilds_the_speculation() {
    let mut h = Harness::new();
    h.brokers(&[1]);
    let mk = |name: &str| {
        CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
            .with_name(name.into())
            .with_num_partitions(1)
            .with_replication_factor(1)])
    };
    let mine = h
        .controller
        .create_topics(&mk("mine"), &AcceptAllConfigs)
        .unwrap();
    // Another controller's entry commits first (built on a copy of the committed state).
    let mut other = QuorumController::new(ControllerConfig::default(), CLUSTER, 99);
    other.load_snapshot(h.image().clone());
    other.on_became_leader(h.now);
    let theirs = other
        .create_topics(&mk("theirs"), &AcceptAllConfigs)
        .unwrap();
    h.commit(theirs.records);
    assert!(h.controller.speculative().topic_by_name("theirs").is_some());
    assert!(h.controller.speculative().topic_by_name("mine").is_some());
    h.commit(mine.records);
    assert_eq!(h.controller.pending_batches(), 0);
    assert_eq!(h.controller.speculative(), h.image());
}

#[test]
fn producer_id_blocks_never_overlap_across_replays() {
    let mut h = Harness::new();
    h.brokers(&[1, 2]);
    let mut blocks = Vec::new();
    for i in 0..6 {
        let broker = 1 + (i % 2);
        let r = h
            .controller
            .allocate_producer_ids(broker, h.epochs[&broker])
            .unwrap();
        assert_eq!(r.response.error, ErrorCode::None);
        blocks.push((r.response.first_producer_id, r.response.size));
        // Half are committed at once, half wait: speculation must not hand a block out twice.
        if i % 2 == 1 {
            h.commit(r.records);
        } else {
            let pending = r.records;
            let again = h
                .controller
                .allocate_producer_ids(broker, h.epochs[&broker])
                .unwrap();
            blocks.push((again.response.first_producer_id, again.response.size));
            h.commit(pending);
            h.commit(again.records);
        }
    }
    blocks.sort();
    for w in blocks.windows(2) {
        assert!(w[0].0 + w[0].1 <= w[1].0, "{blocks:?}");
    }
    // A new controller replaying the log (or its snapshot) continues after the last block.
    let replayed =
        MetadataImage::from_records(CLUSTER, h.image().provenance(), &h.log.concat()).unwrap();
    let mut next = QuorumController::new(ControllerConfig::default(), CLUSTER, 1);
    next.load_snapshot(
        MetadataImage::from_records(CLUSTER, replayed.provenance(), &replayed.to_records())
            .unwrap(),
    );
    next.on_became_leader(0);
    let r = next.allocate_producer_ids(1, h.epochs[&1]).unwrap();
    let last = blocks.last().unwrap();
    assert_eq!(r.response.first_producer_id, last.0 + last.1);
}

#[test]
fn create_partitions_and_delete_topics() {
    let mut h = Harness::new();
    h.brokers(&[1, 2, 3]);
    h.create("grow", 3, 2);
    let r = h
        .controller
        .create_partitions(&CreatePartitionsRequest::default().with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name("grow".into())
                .with_count(6),
            CreatePartitionsTopic::default()
                .with_name("missing".into())
                .with_count(6),
            CreatePartitionsTopic::default()
                .with_name("grow2".into())
                .with_count(1),
        ]))
        .unwrap();
    let codes: Vec<i16> = r.response.results.iter().map(|x| x.error_code).collect();
    assert_eq!(
        codes,
        vec![
            0,
            ErrorCode::UnknownTopicOrPartition.code(),
            ErrorCode::UnknownTopicOrPartition.code()
        ]
    );
    h.commit(r.records);
    let parts = h.image().partitions("grow").unwrap();
    assert_eq!(parts.len(), 6);
    assert!(parts.values().all(|p| p.replicas.len() == 2));
    let shrink = h
        .controller
        .create_partitions(&CreatePartitionsRequest::default().with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name("grow".into())
                .with_count(6),
        ]))
        .unwrap();
    assert_eq!(
        shrink.response.results[0].error_code,
        ErrorCode::InvalidPartitions.code()
    );

    let id = h.image().topic_by_name("grow").unwrap().id;
    let altered = h
        .controller
        .incremental_alter_configs(
            &IncrementalAlterConfigsRequest::default().with_resources(vec![
                AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name("grow".into())
                    .with_configs(vec![AlterableConfig::default()
                        .with_name("retention.ms".into())
                        .with_value(Some("5".into()))]),
            ]),
            &AcceptAllConfigs,
        )
        .unwrap();
    h.commit(altered.records);
    assert!(h.image().topic_configs("grow").is_some());
    let r = h
        .controller
        .delete_topics(&DeleteTopicsRequest::default().with_topics(vec![
            DeleteTopicState::default().with_topic_id(id),
            DeleteTopicState::default().with_name(Some("nope".into())),
            DeleteTopicState::default().with_topic_id(Uuid::from_u64_pair(5, 5)),
        ]))
        .unwrap();
    let codes: Vec<i16> = r.response.responses.iter().map(|x| x.error_code).collect();
    assert_eq!(
        codes,
        vec![
            0,
            ErrorCode::UnknownTopicOrPartition.code(),
            ErrorCode::UnknownTopicId.code()
        ]
    );
    assert_eq!(r.response.responses[0].name.as_deref(), Some("grow"));
    h.commit(r.records);
    assert!(h.image().topic_by_name("grow").is_none());
    assert!(
        h.image().topic_configs("grow").is_none(),
        "configs go with the topic"
    );
    // By name (v0-5).
    h.create("old", 1, 1);
    let r = h
        .controller
        .delete_topics(&DeleteTopicsRequest::default().with_topic_names(vec!["old".into()]))
        .unwrap();
    assert_eq!(r.response.responses[0].error_code, 0);
    h.commit(r.records);
    assert_eq!(h.image().topic_count(), 0);
}

#[test]
fn incremental_and_legacy_alter_configs() {
    struct Lists;
    impl ConfigValidator for Lists {
        fn validate(
            &self,
            _: &ConfigResource,
            name: &str,
            _: Option<&str>,
        ) -> std::result::Result<(), ApiError> {
            if name == "forbidden" {
                Err(ApiError::new(ErrorCode::InvalidConfig, "forbidden"))
            } else {
                Ok(())
            }
        }
        fn is_list(&self, _: &ConfigResource, name: &str) -> bool {
            name == "list"
        }
    }
    let mut h = Harness::new();
    h.brokers(&[1]);
    let alter = |h: &mut Harness, kind: i8, name: &str, ops: Vec<(&str, i8, Option<&str>)>| {
        let r = h
            .controller
            .incremental_alter_configs(
                &IncrementalAlterConfigsRequest::default().with_resources(vec![
                    AlterConfigsResource::default()
                        .with_resource_type(kind)
                        .with_resource_name(name.into())
                        .with_configs(
                            ops.into_iter()
                                .map(|(k, op, v)| {
                                    AlterableConfig::default()
                                        .with_name(k.into())
                                        .with_config_operation(op)
                                        .with_value(v.map(str::to_string))
                                })
                                .collect(),
                        ),
                ]),
                &Lists,
            )
            .unwrap();
        let code = r.response.responses[0].error_code;
        h.commit(r.records);
        code
    };
    assert_eq!(
        alter(&mut h, 4, "", vec![("log.retention.ms", 0, Some("7"))]),
        0
    );
    assert_eq!(alter(&mut h, 4, "1", vec![("list", 2, Some("a,b"))]), 0);
    assert_eq!(alter(&mut h, 4, "1", vec![("list", 2, Some("b,c"))]), 0);
    assert_eq!(alter(&mut h, 4, "1", vec![("list", 3, Some("a"))]), 0);
    let broker1 = h.image().configs(&ConfigResource::broker(1)).unwrap();
    assert_eq!(broker1.get("list").map(String::as_str), Some("b,c"));
    assert_eq!(
        h.image()
            .configs(&ConfigResource::cluster_default())
            .unwrap()
            .get("log.retention.ms")
            .map(String::as_str),
        Some("7")
    );
    assert_eq!(
        alter(&mut h, 4, "1", vec![("plain", 2, Some("x"))]),
        ErrorCode::InvalidConfig.code()
    );
    assert_eq!(
        alter(&mut h, 4, "1", vec![("forbidden", 0, Some("x"))]),
        ErrorCode::InvalidConfig.code()
    );
    assert_eq!(
        alter(&mut h, 2, "nope", vec![("a", 0, Some("x"))]),
        ErrorCode::UnknownTopicOrPartition.code()
    );
    assert_eq!(
        alter(&mut h, 4, "x", vec![("a", 0, Some("x"))]),
        ErrorCode::InvalidRequest.code()
    );
    assert_eq!(alter(&mut h, 4, "1", vec![("list", 1, None)]), 0);
    assert_eq!(
        h.image()
            .configs(&ConfigResource::broker(1))
            .map(|c| c.contains_key("list")),
        None,
        "the last key of a resource deleted"
    );
    // Legacy AlterConfigs replaces the whole set.
    use kafka_protocol::messages::alter_configs_request as legacy;
    h.create("t", 1, 1);
    alter(
        &mut h,
        2,
        "t",
        vec![("a", 0, Some("1")), ("b", 0, Some("2"))],
    );
    let r = h
        .controller
        .alter_configs(
            &kafka_protocol::messages::AlterConfigsRequest::default().with_resources(vec![
                legacy::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name("t".into())
                    .with_configs(vec![legacy::AlterableConfig::default()
                        .with_name("b".into())
                        .with_value(Some("3".into()))]),
            ]),
            &Lists,
        )
        .unwrap();
    assert_eq!(r.response.responses[0].error_code, 0);
    h.commit(r.records);
    let t = h.image().topic_configs("t").unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t.get("b").map(String::as_str), Some("3"));
}

#[test]
fn unregister_moves_leaders_and_removes_the_broker() {
    let mut h = Harness::new();
    h.brokers(&[1, 2]);
    h.create("t", 4, 2);
    let r = h
        .controller
        .unregister_broker(&UnregisterBrokerRequest::default().with_broker_id(1))
        .unwrap();
    assert_eq!(r.response.error_code, 0);
    h.commit(r.records);
    assert!(h.image().broker(1).is_none());
    assert!(h.leaders("t").iter().all(|l| *l == 2));
    let r = h
        .controller
        .unregister_broker(&UnregisterBrokerRequest::default().with_broker_id(1))
        .unwrap();
    assert_eq!(
        r.response.error_code,
        ErrorCode::BrokerIdNotRegistered.code()
    );
}

#[test]
fn offsets_topic_replication_is_capped_at_live_brokers() {
    let mut h = Harness::new();
    h.brokers(&[1, 2]);
    let r = h.controller.create_offsets_topic().unwrap();
    let t = &r.response.topics[0];
    assert_eq!(t.error_code, 0);
    assert_eq!((t.num_partitions, t.replication_factor), (50, 2));
    h.commit(r.records);
    assert_eq!(
        h.image()
            .topic_configs(OFFSETS_TOPIC)
            .unwrap()
            .get("cleanup.policy")
            .map(String::as_str),
        Some("compact")
    );
}

#[test]
fn a_new_leader_restarts_sessions_and_poll_timeout_tracks_them() {
    let mut h = Harness::new();
    h.brokers(&[1]);
    assert_eq!(
        h.controller.poll_timeout(),
        Some(h.now + ControllerConfig::default().session_timeout_ms + 1)
    );
    h.controller.on_leadership_lost();
    assert_eq!(h.controller.poll_timeout(), None);
    assert!(h.controller.tick(100_000).unwrap().is_empty());
    h.controller.on_became_leader(100_000);
    assert!(h.controller.tick(105_000).unwrap().is_empty());
    assert!(!h.controller.tick(110_000).unwrap().is_empty());
}

#[test]
fn an_unclean_restart_gives_up_leaderships_at_registration() {
    let mut h = Harness::new();
    h.brokers(&[1, 2]);
    h.create("t", 4, 2);
    // Broker 1 restarts (same incarnation id here is fine: its session is still alive but the
    // registration is a retry of the same process) without being fenced first.
    h.register(1, None);
    assert!(h.image().broker(1).unwrap().fenced);
    assert!(h.leaders("t").iter().all(|l| *l == 2));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Register(i32),
        Heartbeat(i32),
        ShutDown(i32),
        Advance(i64),
        Create(u8, i32, i16),
        Delete(u8),
        Grow(u8, i32),
        ProducerIds(i32),
        LoseAndRegainLeadership,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1..5i32).prop_map(Op::Register),
            (1..5i32).prop_map(Op::Heartbeat),
            (1..5i32).prop_map(Op::Heartbeat),
            (1..5i32).prop_map(Op::ShutDown),
            (500..12_000i64).prop_map(Op::Advance),
            (0..4u8, 1..8i32, 1..4i16).prop_map(|(t, p, r)| Op::Create(t, p, r)),
            (0..4u8).prop_map(Op::Delete),
            (0..4u8, 1..12i32).prop_map(|(t, p)| Op::Grow(t, p)),
            (1..5i32).prop_map(Op::ProducerIds),
            Just(Op::LoseAndRegainLeadership),
        ]
    }

    fn check_invariants(h: &Harness, blocks: &[(i64, i64)]) -> Result<(), TestCaseError> {
        let image = h.image();
        for t in image.topics() {
            for (i, p) in &t.partitions {
                prop_assert!(!p.isr.is_empty(), "{}-{i} has an empty ISR", t.name);
                prop_assert!(p.isr.iter().all(|b| p.replicas.contains(b)));
                if p.leader >= 0 {
                    prop_assert!(p.isr.contains(&p.leader), "{}-{i}: {p:?}", t.name);
                    let b = image.broker(p.leader);
                    prop_assert!(
                        b.is_some_and(|b| !b.fenced),
                        "{}-{i} led by a fenced broker",
                        t.name
                    );
                }
            }
        }
        let snapshot =
            MetadataImage::from_records(CLUSTER, image.provenance(), &image.to_records())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&snapshot, image);
        let replayed = MetadataImage::from_records(CLUSTER, image.provenance(), &h.log.concat())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&replayed, image);
        let mut sorted = blocks.to_vec();
        sorted.sort();
        for w in sorted.windows(2) {
            prop_assert!(w[0].0 + w[0].1 <= w[1].0);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn random_operations_keep_the_image_consistent(ops in proptest::collection::vec(op(), 1..40)) {
            let mut h = Harness::new();
            let mut blocks = Vec::new();
            for op in ops {
                match op {
                    Op::Register(id) => {
                        let request = BrokerRegistrationRequest::default()
                            .with_broker_id(id)
                            .with_cluster_id(CLUSTER.into())
                            .with_incarnation_id(Uuid::from_u64_pair(id as u64, h.now as u64))
                            .with_features(vec![Feature::default()
                                .with_name("metadata.version".into())
                                .with_min_supported_version(1)
                                .with_max_supported_version(DEFAULT_METADATA_VERSION)]);
                        let r = h.controller.register_broker(h.now, &request).unwrap();
                        if r.response.error_code == 0 {
                            h.epochs.insert(id, r.response.broker_epoch);
                        }
                        h.commit(r.records);
                    }
                    Op::Heartbeat(id) if h.epochs.contains_key(&id) => {
                        h.heartbeat(id);
                    }
                    Op::ShutDown(id) if h.epochs.contains_key(&id) => {
                        h.heartbeat_with(id, |r| r.with_want_shut_down(true));
                    }
                    Op::Advance(ms) => {
                        h.now += ms;
                        let records = h.controller.tick(h.now).unwrap();
                        h.commit(records);
                    }
                    Op::Create(t, p, rf) => {
                        h.create(&format!("t{t}"), p, rf);
                    }
                    Op::Delete(t) => {
                        let r = h.controller.delete_topics(&DeleteTopicsRequest::default()
                            .with_topic_names(vec![format!("t{t}")])).unwrap();
                        h.commit(r.records);
                    }
                    Op::Grow(t, count) => {
                        let r = h.controller.create_partitions(&CreatePartitionsRequest::default()
                            .with_topics(vec![CreatePartitionsTopic::default()
                                .with_name(format!("t{t}"))
                                .with_count(count)])).unwrap();
                        h.commit(r.records);
                    }
                    Op::ProducerIds(id) if h.epochs.contains_key(&id) => {
                        let r = h.controller.allocate_producer_ids(id, h.epochs[&id]).unwrap();
                        if r.response.error == ErrorCode::None {
                            blocks.push((r.response.first_producer_id, r.response.size));
                        }
                        h.commit(r.records);
                    }
                    Op::LoseAndRegainLeadership => {
                        h.controller.on_leadership_lost();
                        h.controller.on_became_leader(h.now);
                    }
                    _ => {}
                }
                check_invariants(&h, &blocks)?;
                prop_assert_eq!(h.controller.pending_batches(), 0);
                prop_assert_eq!(h.controller.speculative(), h.image());
            }
        }
    }
}

#[test]
fn a_follower_replays_the_log_and_takes_over() {
    let mut h = Harness::new();
    h.brokers(&[1, 2]);
    h.create("t", 4, 2);
    let mut follower = QuorumController::new(ControllerConfig::default(), CLUSTER, 3);
    for (i, batch) in h.log.iter().enumerate() {
        follower
            .replay_committed(
                Provenance {
                    offset: i as i64 + 1,
                    epoch: 1,
                },
                batch,
            )
            .unwrap();
    }
    assert_eq!(follower.committed(), h.image());
    assert_eq!(follower.speculative(), h.image());
    follower.on_became_leader(h.now);
    let request = BrokerRegistrationRequest::default()
        .with_broker_id(3)
        .with_cluster_id(CLUSTER.into())
        .with_features(vec![Feature::default()
            .with_name("metadata.version".into())
            .with_min_supported_version(1)
            .with_max_supported_version(DEFAULT_METADATA_VERSION)]);
    let r = follower.register_broker(h.now, &request).unwrap();
    let previous = h.epochs.values().copied().max().unwrap();
    assert!(r.response.broker_epoch > previous);
}

#[test]
fn every_operation_refuses_on_a_non_leader() {
    let mut c = QuorumController::new(ControllerConfig::default(), CLUSTER, 1);
    let not_controller = ErrorCode::NotController.code();
    let r = c
        .register_broker(0, &BrokerRegistrationRequest::default())
        .unwrap();
    assert_eq!(r.response.error_code, not_controller);
    let r = c.heartbeat(0, &BrokerHeartbeatRequest::default()).unwrap();
    assert_eq!(r.response.error_code, not_controller);
    let r = c
        .unregister_broker(&UnregisterBrokerRequest::default())
        .unwrap();
    assert_eq!(r.response.error_code, not_controller);
    let r = c
        .create_topics(
            &CreateTopicsRequest::default()
                .with_topics(vec![CreatableTopic::default().with_name("t".into())]),
            &AcceptAllConfigs,
        )
        .unwrap();
    assert_eq!(r.response.topics[0].error_code, not_controller);
    let r = c
        .delete_topics(&DeleteTopicsRequest::default().with_topic_names(vec!["t".into()]))
        .unwrap();
    assert_eq!(r.response.responses[0].error_code, not_controller);
    let r = c
        .create_partitions(
            &CreatePartitionsRequest::default()
                .with_topics(vec![CreatePartitionsTopic::default().with_name("t".into())]),
        )
        .unwrap();
    assert_eq!(r.response.results[0].error_code, not_controller);
    let r = c
        .incremental_alter_configs(
            &IncrementalAlterConfigsRequest::default()
                .with_resources(vec![AlterConfigsResource::default().with_resource_type(4)]),
            &AcceptAllConfigs,
        )
        .unwrap();
    assert_eq!(r.response.responses[0].error_code, not_controller);
    assert_eq!(
        c.allocate_producer_ids(1, 1).unwrap().response.error,
        ErrorCode::NotController
    );
    assert!(c.tick(1_000_000).unwrap().is_empty());
    assert!(c.bootstrap_records().unwrap().is_empty());
}

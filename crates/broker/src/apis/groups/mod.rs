//! Consumer groups: FindCoordinator and the group APIs, served by the pure-logic
//! `kafka-coordinator` behind one lock (group traffic is light and not on the data path).
//!
//! JoinGroup and SyncGroup that wait for a rebalance are parked by token (only their
//! `Responder`) and answered when the coordinator says so, from whichever thread moved the
//! group on (another member's request or the timer thread), without holding a handler thread.
//! Every state change the coordinator wants to survive a restart is appended, before any
//! response that depends on it is sent, to the internal log `__consumer_offsets-0`, and
//! replayed from it at start-up. An append that fails (a full or failing disk, a batch over
//! `max.message.bytes`) is reported to the coordinator, which undoes what it changed; the
//! responses that depended on it answer the mapped error, never success.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

use kafka_coordinator::{
    offsets_partition_for, ClientInfo, CoordinatorConfig, GroupCoordinator, Reply, ResponseToken,
};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{
    FindCoordinatorRequest, FindCoordinatorResponse, JoinGroupRequest, ResponseKind,
    SyncGroupRequest,
};
use kafka_protocol::ErrorCode;
use kafka_server::{RequestContext, Responder};
use kafka_storage::{LogManager, TopicPartition};

use super::{now_ms, BrokerState};

pub(super) mod delete_groups;
pub(super) mod describe_groups;
pub(super) mod heartbeat;
pub(super) mod join_group;
pub(super) mod leave_group;
pub(super) mod list_groups;
pub(super) mod offset_commit;
pub(super) mod offset_delete;
pub(super) mod offset_fetch;
mod shard;
pub(super) mod sync_group;
use crate::config::BrokerConfig;
use crate::error::Result;
use shard::GroupShard;

/// The internal topic holding the coordinator's records.
pub(crate) const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Partitions `topic` has (0 if it does not exist), for the group APIs that answer
/// UNKNOWN_TOPIC_OR_PARTITION for partitions that do not exist.
pub(crate) fn partition_count(state: &BrokerState, topic: &str) -> i32 {
    state.topics.get(topic).map_or(0, |t| t.partitions)
}

/// Wakes the timer thread when a request changed a coordinator's deadlines. The flag keeps a
/// wake-up sent while the thread was busy from being lost.
#[derive(Debug, Default)]
pub(super) struct Wakeup {
    dirty: Mutex<bool>,
    cond: Condvar,
}

impl Wakeup {
    pub(super) fn notify(&self) {
        *self.dirty.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cond.notify_one();
    }

    fn wait(&self, timeout: Duration) {
        let mut dirty = self.dirty.lock().unwrap_or_else(|e| e.into_inner());
        if !*dirty {
            dirty = match self.cond.wait_timeout(dirty, timeout) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        *dirty = false;
    }
}

/// The group coordinator of this broker: one shard (`GroupShard`) per `__consumer_offsets`
/// partition it leads, a group served by the shard of the partition its id hashes to (Kafka's
/// `partitionFor`), every other group refused with NOT_COORDINATOR so that its client finds
/// the right broker.
#[derive(Debug)]
pub struct GroupService {
    config: CoordinatorConfig,
    logs: Arc<LogManager>,
    shards: RwLock<BTreeMap<i32, Arc<GroupShard>>>,
    /// Partitions of `__consumer_offsets`; 0 while the topic does not exist.
    partitions: AtomicI32,
    /// Answers for groups this broker does not coordinate.
    refusing: Mutex<GroupCoordinator>,
    /// Held while a partition loads, so two requests racing to load it replay it once.
    loading: Mutex<()>,

    wakeup: Arc<Wakeup>,
    stop: AtomicBool,
    appends: std::sync::OnceLock<Arc<super::FetchPurgatory>>,
}

/// Where a group's requests go.
enum Route {
    Shard(Arc<GroupShard>),
    Refused,
}

fn coordinator_config(config: &BrokerConfig) -> CoordinatorConfig {
    let int = |k: &str, d: i64| {
        config
            .get(k)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(d)
    };
    let mut seed = [0u8; 8];
    let _ = getrandom::getrandom(&mut seed);
    CoordinatorConfig {
        group_min_session_timeout_ms: int("group.min.session.timeout.ms", 6000) as i32,
        group_max_session_timeout_ms: int("group.max.session.timeout.ms", 1_800_000) as i32,
        group_initial_rebalance_delay_ms: int("group.initial.rebalance.delay.ms", 3000) as i32,
        offsets_retention_minutes: int("offsets.retention.minutes", 10080),
        member_id_seed: u64::from_le_bytes(seed) ^ now_ms() as u64,
        ..CoordinatorConfig::default()
    }
}

impl GroupService {
    /// A service that coordinates nothing until partitions are loaded.
    pub fn new(config: &BrokerConfig, logs: Arc<LogManager>) -> Self {
        let config = coordinator_config(config);
        let refusing =
            GroupCoordinator::refusing(config.clone(), now_ms() as u64, ErrorCode::NotCoordinator);
        GroupService {
            config,
            logs,
            shards: RwLock::new(BTreeMap::new()),
            partitions: AtomicI32::new(0),
            refusing: Mutex::new(refusing),
            loading: Mutex::new(()),

            wakeup: Arc::default(),
            stop: AtomicBool::new(false),
            appends: std::sync::OnceLock::new(),
        }
    }

    /// Wakes fetches parked on the group log after each of its appends (set before loading).
    pub fn notify_appends_to(&self, purgatory: Arc<super::FetchPurgatory>) {
        let _ = self.appends.set(purgatory);
    }

    /// Partitions of `__consumer_offsets` (0: the topic does not exist yet).
    pub fn partition_count(&self) -> i32 {
        self.partitions.load(Ordering::Acquire)
    }

    /// Sets the partition count from the topic's metadata. Kafka keeps using the count of an
    /// existing topic whatever `offsets.topic.num.partitions` says now, since changing it
    /// would move groups away from their committed offsets.
    pub fn set_partition_count(&self, partitions: i32) {
        self.partitions.store(partitions.max(0), Ordering::Release);
    }

    /// The `__consumer_offsets` partition of `group_id`, once the topic exists.
    pub fn partition_for(&self, group_id: &str) -> Option<i32> {
        match self.partition_count() {
            0 => None,
            n => Some(offsets_partition_for(group_id, n)),
        }
    }

    /// Becomes the coordinator of `partition`'s groups: replays its log (created if missing).
    pub fn load(&self, partition: i32) -> Result<()> {
        let _one_at_a_time = self.loading.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_loaded(partition) {
            return Ok(());
        }
        let tp = TopicPartition {
            topic: OFFSETS_TOPIC.to_string(),
            partition,
        };
        let log = match self.logs.get_log(&tp) {
            Some(l) => l,
            None => self.logs.create_log(&tp, offsets_topic_configs())?,
        };
        let shard = GroupShard::load(
            self.config.clone(),
            log,
            Arc::clone(&self.wakeup),
            self.appends.get().cloned(),
        )?;
        self.shards
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(partition, Arc::new(shard));
        self.wakeup.notify();
        Ok(())
    }

    /// Stops coordinating `partition`'s groups (another broker leads it now).
    pub fn unload(&self, partition: i32) {
        let shard = self
            .shards
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&partition);
        if let Some(shard) = shard {
            shard.unload();
        }
    }

    /// Whether this broker coordinates `partition`'s groups.
    pub fn is_loaded(&self, partition: i32) -> bool {
        self.shards
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&partition)
    }

    fn route(&self, group_id: &str) -> Route {
        let Some(partition) = self.partition_for(group_id) else {
            return Route::Refused;
        };
        match self
            .shards
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&partition)
        {
            Some(s) => Route::Shard(Arc::clone(s)),
            None => Route::Refused,
        }
    }

    fn loaded_shards(&self) -> Vec<Arc<GroupShard>> {
        self.shards
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    fn refused<R>(&self, f: impl FnOnce(&mut GroupCoordinator, u64) -> R) -> R {
        let mut c = self.refusing.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut c, now_ms() as u64)
    }

    /// JoinGroup: answered now, or parked (only its responder) until the rebalance moves on.
    pub(crate) fn join_group(
        &self,
        context: &RequestContext,
        req: &JoinGroupRequest,
        responder: Responder,
    ) {
        let client = ClientInfo::new(
            context.header.client_id.clone().unwrap_or_default(),
            context
                .client_address
                .map(|a| format!("/{}", a.ip()))
                .unwrap_or_default(),
        );
        let version = responder.api_version();
        let join = |coordinator: &mut GroupCoordinator, now, token| match coordinator
            .join_group(now, token, &client, version, req)
        {
            Reply::Now(r) => Reply::Now(ResponseKind::JoinGroup(r)),
            Reply::Later => Reply::Later,
        };
        match self.route(&req.group_id) {
            Route::Shard(shard) => shard.maybe_park(responder, join),
            Route::Refused => self.refused(|c, now| match join(c, now, ResponseToken(0)) {
                Reply::Now(body) => responder.respond(body),
                // invariant: a refusing coordinator answers at once.
                Reply::Later => responder.close(),
            }),
        }
    }

    /// SyncGroup: answered now, or parked until the leader's assignment arrives.
    pub(crate) fn sync_group(&self, req: &SyncGroupRequest, responder: Responder) {
        let version = responder.api_version();
        let sync = |coordinator: &mut GroupCoordinator, now, token| match coordinator
            .sync_group(now, token, version, req)
        {
            Reply::Now(r) => Reply::Now(ResponseKind::SyncGroup(r)),
            Reply::Later => Reply::Later,
        };
        match self.route(&req.group_id) {
            Route::Shard(shard) => shard.maybe_park(responder, sync),
            Route::Refused => self.refused(|c, now| match sync(c, now, ResponseToken(0)) {
                Reply::Now(body) => responder.respond(body),
                // invariant: a refusing coordinator answers at once.
                Reply::Later => responder.close(),
            }),
        }
    }

    /// A group API that never parks, for one group: computed by the group's shard, its
    /// records persisted, then answered (NOT_COORDINATOR when another broker coordinates it).
    pub(crate) fn serve<R>(
        &self,
        group_id: &str,
        responder: Responder,
        f: impl FnOnce(&mut GroupCoordinator, u64, i16) -> R,
        into_response: impl FnOnce(R) -> ResponseKind,
    ) {
        let body = self.compute(group_id, responder.api_version(), f, into_response);
        responder.respond(body);
    }

    /// [`GroupService::serve`] without the answering, for APIs that ask about several groups
    /// and merge the answers.
    pub(crate) fn compute<R>(
        &self,
        group_id: &str,
        version: i16,
        f: impl FnOnce(&mut GroupCoordinator, u64, i16) -> R,
        into_response: impl FnOnce(R) -> ResponseKind,
    ) -> ResponseKind {
        match self.route(group_id) {
            Route::Shard(shard) => shard.compute(|c, now| f(c, now, version), into_response),
            Route::Refused => into_response(self.refused(|c, now| f(c, now, version))),
        }
    }

    /// Runs `f` on every coordinator this broker runs (ListGroups).
    pub(crate) fn each_loaded<R>(&self, mut f: impl FnMut(&mut GroupCoordinator) -> R) -> Vec<R> {
        self.loaded_shards()
            .iter()
            .map(|s| f(&mut s.lock().coordinator))
            .collect()
    }

    /// The timer loop: runs every shard's deadlines (session and rebalance timeouts,
    /// initial delays, offset expiry) until [`GroupService::shutdown`].
    pub fn run_timers(&self) {
        while !self.stop.load(Ordering::Acquire) {
            let now = now_ms() as u64;
            let next = self
                .loaded_shards()
                .iter()
                .filter_map(|s| s.poll(now))
                .min();
            let wait = next.map_or(Duration::from_millis(1000), |d| {
                Duration::from_millis(d.saturating_sub(now).clamp(1, 1000))
            });
            self.wakeup.wait(wait);
        }
    }

    /// Stops the timer loop.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Release);
        self.wakeup.notify();
    }
}

/// Topic configs of `__consumer_offsets`, as Kafka creates it: compacted, 100 MiB segments.
pub(crate) fn offsets_topic_configs() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("cleanup.policy".to_string(), "compact".to_string()),
        ("segment.bytes".to_string(), "104857600".to_string()),
        ("compression.type".to_string(), "producer".to_string()),
    ])
}

/// The Kafka error code of a failed coordinator append: storage errors as a produce would
/// get them; anything else (a record that does not encode) is the broker's own fault.
fn append_error_code(e: &crate::Error) -> ErrorCode {
    match e {
        crate::Error::Storage(e) => super::errors::storage_error_code(e),
        crate::Error::Io(_) => ErrorCode::KafkaStorageError,
        _ => ErrorCode::UnknownServerError,
    }
}

/// Asks the active controller for `__consumer_offsets` on the first FindCoordinator for a
/// group, as Kafka's `AutoTopicCreationManager` does: `offsets.topic.num.partitions`
/// partitions, `offsets.topic.replication.factor` replicas capped at the live brokers,
/// compacted. Waits a little for it, so a single node answers the first lookup at once.
fn ensure_offsets_topic(state: &BrokerState) {
    if state
        .metadata
        .image()
        .topic_by_name(OFFSETS_TOPIC)
        .is_some()
    {
        return;
    }
    use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
    let live = state.metadata.image().live_brokers().count().max(1);
    let replication = usize::try_from(state.cluster.controller.offsets_topic_replication_factor)
        .unwrap_or(1)
        .clamp(1, live);
    let request = kafka_protocol::messages::CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(OFFSETS_TOPIC.to_string())
            .with_num_partitions(state.cluster.controller.offsets_topic_num_partitions)
            .with_replication_factor(i16::try_from(replication).unwrap_or(1))
            .with_configs(
                offsets_topic_configs()
                    .into_iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(k)
                            .with_value(Some(v))
                    })
                    .collect(),
            )]);
    match state.controller.call(
        kafka_protocol::messages::RequestKind::CreateTopics(request),
        Duration::from_secs(5),
    ) {
        Ok(ResponseKind::CreateTopics(r)) => {
            if let Some(t) = r.topics.first().filter(|t| {
                t.error_code != 0 && t.error_code != ErrorCode::TopicAlreadyExists.code()
            }) {
                tracing::warn!(code = t.error_code, message = ?t.error_message, "creating {OFFSETS_TOPIC} failed");
            }
        }
        Ok(_) => {}
        Err(code) => tracing::info!(?code, "{OFFSETS_TOPIC} not created yet"),
    }
}

/// FindCoordinator: the leader of the group's `__consumer_offsets` partition, once it has
/// loaded the partition's groups; transactions are not served.
pub(crate) fn find_coordinator(
    state: &BrokerState,
    request: &RequestContext,
    req: &FindCoordinatorRequest,
) -> ResponseKind {
    if req.key_type == 0 {
        ensure_offsets_topic(state);
    }
    let image = state.metadata.image();
    let partitions = image.partitions(OFFSETS_TOPIC);
    let answer = |key: &str| -> Coordinator {
        let c = Coordinator::default().with_key(key.to_string());
        let coordinator = partitions.filter(|_| req.key_type == 0).and_then(|parts| {
            let count = i32::try_from(parts.len()).ok()?;
            let p = offsets_partition_for(key, count);
            let leader = parts.get(&p)?.leader;
            // This broker answers for itself only once the groups are loaded.
            if leader == state.meta.node_id && !state.groups.is_loaded(p) {
                return None;
            }
            let broker = image.broker(leader).filter(|b| !b.fenced)?;
            let endpoint = broker
                .endpoint(&request.listener)
                .or_else(|| broker.endpoints.first())?;
            Some((leader, endpoint.host.clone(), i32::from(endpoint.port)))
        });
        match coordinator {
            Some((node, host, port)) => c.with_node_id(node).with_host(host).with_port(port),
            None => c
                .with_node_id(-1)
                .with_port(-1)
                .with_error_code(ErrorCode::CoordinatorNotAvailable.code())
                .with_error_message(Some("The coordinator is not available.".into())),
        }
    };
    if request.api_version >= 4 {
        let coordinators = req.coordinator_keys.iter().map(|k| answer(k)).collect();
        ResponseKind::FindCoordinator(
            FindCoordinatorResponse::default().with_coordinators(coordinators),
        )
    } else {
        let c = answer(&req.key);
        ResponseKind::FindCoordinator(
            FindCoordinatorResponse::default()
                .with_error_code(c.error_code)
                .with_error_message(if c.error_code == 0 {
                    None
                } else {
                    c.error_message
                })
                .with_node_id(c.node_id)
                .with_host(c.host)
                .with_port(c.port),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::{OffsetCommitRequest, OffsetFetchRequest};

    use super::*;

    struct TempDir(PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn open(dir: &TempDir) -> (GroupService, Arc<LogManager>) {
        let mut values = BTreeMap::new();
        values.insert("log.dirs".to_owned(), dir.0.display().to_string());
        let config = BrokerConfig::new(values).unwrap();
        let logs =
            Arc::new(LogManager::open(&config.log_dirs(), config.log_config().unwrap()).unwrap());
        let svc = GroupService::new(&config, Arc::clone(&logs));
        svc.set_partition_count(1);
        svc.load(0).unwrap();
        (svc, logs)
    }

    fn commit(svc: &GroupService, offset: i64, metadata: &str) -> Vec<i16> {
        let partitions = (0..300)
            .map(|p| {
                OffsetCommitRequestPartition::default()
                    .with_partition_index(p)
                    .with_committed_offset(offset)
                    .with_committed_metadata(Some(metadata.to_owned()))
            })
            .collect();
        let req = OffsetCommitRequest::default()
            .with_group_id("g".to_owned())
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name("t".to_owned())
                .with_partitions(partitions)]);
        match svc.compute(
            "g",
            8,
            |c, now, v| c.offset_commit(now, v, &req),
            ResponseKind::OffsetCommit,
        ) {
            ResponseKind::OffsetCommit(r) => r
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
                .collect(),
            other => panic!("unexpected answer {other:?}"),
        }
    }

    fn committed(svc: &GroupService) -> Vec<i64> {
        let req = OffsetFetchRequest::default()
            .with_group_id("g".to_owned())
            .with_topics(None);
        match svc.compute(
            "g",
            7,
            |c, _, v| c.offset_fetch(v, &req),
            ResponseKind::OffsetFetch,
        ) {
            ResponseKind::OffsetFetch(r) => r
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.committed_offset))
                .collect(),
            other => panic!("unexpected answer {other:?}"),
        }
    }

    /// A commit whose records the group log refuses (together larger than
    /// `max.message.bytes`) answers Kafka's INVALID_COMMIT_OFFSET_SIZE on every partition,
    /// and neither OffsetFetch nor a restart shows it.
    #[test]
    fn commit_the_log_refuses_is_not_acknowledged() {
        let dir = TempDir(std::env::temp_dir().join(format!(
            "broker-groups-{}-{}",
            std::process::id(),
            now_ms()
        )));
        std::fs::create_dir_all(&dir.0).unwrap();
        {
            let (svc, _logs) = open(&dir);
            assert_eq!(commit(&svc, 5, "m"), vec![0; 300]);
            assert_eq!(
                commit(&svc, 9, &"x".repeat(4000)),
                vec![ErrorCode::InvalidCommitOffsetSize.code(); 300]
            );
            assert_eq!(committed(&svc), vec![5; 300]);
        }
        let (svc, _logs) = open(&dir);
        assert_eq!(committed(&svc), vec![5; 300], "after a restart");
    }
}

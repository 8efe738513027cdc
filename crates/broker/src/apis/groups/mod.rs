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

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use kafka_coordinator::{
    ClientInfo, CoordinatorConfig, CoordinatorRecord, DelayedResponse, GroupCoordinator, Reply,
    ResponseToken, WriteFailure,
};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{
    FindCoordinatorRequest, FindCoordinatorResponse, JoinGroupRequest, ResponseKind,
    SyncGroupRequest,
};
use kafka_protocol::records::{RecordBatchBuilder, RecordBatches};
use kafka_protocol::ErrorCode;
use kafka_server::{RequestContext, Responder};
use kafka_storage::{Log, LogManager, TopicPartition};

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
pub(super) mod sync_group;
use crate::config::BrokerConfig;
use crate::error::Result;

/// Bytes of `__consumer_offsets` read per step when loading (Kafka's default
/// `offsets.load.buffer.size`).
const LOAD_BUFFER_SIZE: usize = 5 << 20;

/// The internal topic holding the coordinator's records.
pub(crate) const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Partitions `topic` has here (0 if it does not exist), for the group APIs that answer
/// UNKNOWN_TOPIC_OR_PARTITION for partitions that do not exist. The internal topic has one.
pub(crate) fn partition_count(state: &BrokerState, topic: &str) -> i32 {
    if topic == OFFSETS_TOPIC {
        return 1;
    }
    state.topics.get(topic).map_or(0, |t| t.partitions)
}

#[derive(Debug)]
struct Inner {
    coordinator: GroupCoordinator,
    /// Parked JoinGroup and SyncGroup requests: only their responders.
    pending: HashMap<u64, Responder>,
    next_token: u64,
}

/// The group coordinator of this broker.
#[derive(Debug)]
pub struct GroupService {
    inner: Mutex<Inner>,
    wakeup: Condvar,
    log: Arc<Log>,
    stop: AtomicBool,
    /// Told of each append to the group log, so fetches parked on `__consumer_offsets`
    /// (consumers of the internal topic) wake as on any other partition.
    appends: std::sync::OnceLock<Arc<super::FetchPurgatory>>,
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
    /// Opens (creating if needed) the internal log and replays it.
    pub fn load(config: &BrokerConfig, logs: &LogManager) -> Result<Self> {
        let tp = TopicPartition {
            topic: OFFSETS_TOPIC.to_string(),
            partition: 0,
        };
        let log = match logs.get_log(&tp) {
            Some(l) => l,
            None => logs.create_log(&tp, Default::default())?,
        };
        let now = now_ms() as u64;
        let mut coordinator = GroupCoordinator::new(coordinator_config(config), now);
        coordinator.begin_loading();
        let mut offset = log.log_start_offset();
        let mut replayed = 0usize;
        while offset < log.log_end_offset() {
            let buf = match log.read_records(offset, LOAD_BUFFER_SIZE, None) {
                Ok((_, buf)) => buf,
                // Kafka's loader grows its buffer to a batch larger than
                // `offsets.load.buffer.size`; the size is that of a batch in our own log,
                // checked by recovery, so read that one batch whole.
                Err(kafka_storage::Error::MessageTooLarge { size, .. }) => {
                    tracing::warn!(
                        offset,
                        size,
                        "a group metadata batch is larger than the load buffer"
                    );
                    log.read_records(offset, size, None)?.1
                }
                Err(e) => return Err(e.into()),
            };
            if buf.is_empty() {
                break;
            }
            let mut next = offset;
            for batch in RecordBatches::new(buf) {
                let batch = batch.map_err(kafka_storage::Error::CorruptRecord)?;
                next = batch.last_offset() + 1;
                for record in batch
                    .records()
                    .map_err(kafka_storage::Error::CorruptRecord)?
                {
                    let record = record.map_err(kafka_storage::Error::CorruptRecord)?;
                    if record.offset < offset {
                        continue;
                    }
                    let Some(value) = record.value else { continue };
                    match CoordinatorRecord::decode(&value) {
                        Ok(r) => {
                            coordinator.replay(r);
                            replayed += 1;
                        }
                        Err(e) => {
                            tracing::warn!(offset = record.offset, error = %e, "skipping an unreadable coordinator record")
                        }
                    }
                }
            }
            if next <= offset {
                break;
            }
            offset = next;
        }
        coordinator.finish_loading(now_ms() as u64);
        tracing::info!(
            records = replayed,
            groups = coordinator.group_ids().len(),
            "group coordinator loaded"
        );
        Ok(GroupService {
            inner: Mutex::new(Inner {
                coordinator,
                pending: HashMap::new(),
                next_token: 1,
            }),
            wakeup: Condvar::new(),
            log,
            stop: AtomicBool::new(false),
            appends: std::sync::OnceLock::new(),
        })
    }

    /// Wakes fetches parked on the group log after each of its appends.
    pub fn notify_appends_to(&self, purgatory: Arc<super::FetchPurgatory>) {
        let _ = self.appends.set(purgatory);
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends the coordinator's new records and flushes them, reports the outcome to the
    /// coordinator (which undoes a failed write), then answers parked requests the
    /// coordinator released. Called with the lock held so records stay in order. Returns how
    /// a failed write rewrites the immediate response of the call that made it.
    fn settle(&self, inner: &mut Inner) -> Option<WriteFailure> {
        let mut failure = None;
        if let Some(write) = inner.coordinator.take_records() {
            match self.persist(write.records()) {
                Ok(()) => inner.coordinator.write_completed(write),
                Err(e) => {
                    let code = append_error_code(&e);
                    tracing::error!(error = %e, ?code, "persisting coordinator records failed; answering with an error");
                    failure = Some(inner.coordinator.write_failed(write, code, now_ms() as u64));
                }
            }
        }
        for (token, response) in inner.coordinator.take_ready() {
            let Some(responder) = inner.pending.remove(&token.0) else {
                continue;
            };
            responder.respond(match response {
                DelayedResponse::JoinGroup(r) => ResponseKind::JoinGroup(r),
                DelayedResponse::SyncGroup(r) => ResponseKind::SyncGroup(r),
            });
        }
        failure
    }

    fn persist(&self, records: &[CoordinatorRecord]) -> Result<()> {
        let now = now_ms();
        let mut builder = RecordBatchBuilder::new();
        for r in records {
            let value = r
                .encode()
                .map_err(|e| crate::Error::Config(format!("coordinator record: {e}")))?;
            let key = r.key();
            builder
                .append(now, Some(&key), Some(&value))
                .map_err(kafka_storage::Error::CorruptRecord)?;
        }
        let batch = builder
            .build()
            .map_err(kafka_storage::Error::CorruptRecord)?;
        let info = self.log.append(batch, now, 0, true)?;
        self.log.flush_up_to(info.last_offset + 1)?;
        if let Some(purgatory) = self.appends.get() {
            purgatory.notify(self.log.topic_partition());
        }
        Ok(())
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
        self.maybe_park(responder, |coordinator, now, token| {
            match coordinator.join_group(now, token, &client, version, req) {
                Reply::Now(r) => Reply::Now(ResponseKind::JoinGroup(r)),
                Reply::Later => Reply::Later,
            }
        });
    }

    /// SyncGroup: answered now, or parked until the leader's assignment arrives.
    pub(crate) fn sync_group(&self, req: &SyncGroupRequest, responder: Responder) {
        let version = responder.api_version();
        self.maybe_park(responder, |coordinator, now, token| {
            match coordinator.sync_group(now, token, version, req) {
                Reply::Now(r) => Reply::Now(ResponseKind::SyncGroup(r)),
                Reply::Later => Reply::Later,
            }
        });
    }

    fn maybe_park(
        &self,
        mut responder: Responder,
        f: impl FnOnce(&mut GroupCoordinator, u64, ResponseToken) -> Reply<ResponseKind>,
    ) {
        let now = now_ms() as u64;
        let mut inner = self.lock();
        let token = inner.next_token;
        inner.next_token += 1;
        let reply = f(&mut inner.coordinator, now, ResponseToken(token));
        let answer = match reply {
            Reply::Now(body) => Some((body, responder)),
            Reply::Later => {
                responder.park();
                inner.pending.insert(token, responder);
                None
            }
        };
        let failure = self.settle(&mut inner);
        drop(inner);
        self.wakeup.notify_one();
        if let Some((mut body, responder)) = answer {
            if let Some(f) = failure {
                f.fail_response(&mut body);
            }
            responder.respond(body);
        }
    }

    /// Any other group API: computed under the lock, its records persisted, then answered.
    pub(crate) fn serve(
        &self,
        responder: Responder,
        f: impl FnOnce(&mut GroupCoordinator, u64, i16) -> ResponseKind,
    ) {
        let body = self.compute(responder.api_version(), f);
        responder.respond(body);
    }

    /// [`Self::serve`]'s answer, for a handler that completes it before responding.
    pub(crate) fn compute_for(
        &self,
        version: i16,
        f: impl FnOnce(&mut GroupCoordinator, u64, i16) -> ResponseKind,
    ) -> ResponseKind {
        self.compute(version, f)
    }

    /// The answer of a group API that never parks: a write that fails to persist turns what
    /// it would have acknowledged into errors.
    fn compute(
        &self,
        version: i16,
        f: impl FnOnce(&mut GroupCoordinator, u64, i16) -> ResponseKind,
    ) -> ResponseKind {
        let now = now_ms() as u64;
        let mut inner = self.lock();
        let mut body = f(&mut inner.coordinator, now, version);
        let failure = self.settle(&mut inner);
        drop(inner);
        self.wakeup.notify_one();
        if let Some(f) = failure {
            f.fail_response(&mut body);
        }
        body
    }

    /// The timer loop: runs the coordinator's deadlines (session and rebalance timeouts,
    /// initial delays, offset expiry) until [`GroupService::shutdown`].
    pub fn run_timers(&self) {
        let mut inner = self.lock();
        while !self.stop.load(Ordering::Acquire) {
            let now = now_ms() as u64;
            inner.coordinator.poll(now);
            self.settle(&mut inner);
            let wait = inner
                .coordinator
                .next_deadline()
                .map_or(Duration::from_millis(1000), |d| {
                    Duration::from_millis(d.saturating_sub(now).clamp(1, 1000))
                });
            inner = match self.wakeup.wait_timeout(inner, wait) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }

    /// Stops the timer loop.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Release);
        self.wakeup.notify_all();
    }
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

/// FindCoordinator: this broker coordinates every group; transactions are not served.
pub(crate) fn find_coordinator(
    state: &BrokerState,
    request: &RequestContext,
    req: &FindCoordinatorRequest,
) -> ResponseKind {
    let node = state.meta.node_id;
    let endpoints = state.endpoints();
    let endpoint = endpoints
        .iter()
        .find(|e| e.listener == *request.listener)
        .or_else(|| endpoints.first());
    let answer = |key: &str| -> Coordinator {
        let c = Coordinator::default().with_key(key.to_string());
        match (req.key_type, endpoint) {
            (0, Some(e)) => c
                .with_node_id(node)
                .with_host(e.host.clone())
                .with_port(e.port),
            _ => c
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

    fn open(dir: &TempDir) -> (GroupService, LogManager) {
        let mut values = BTreeMap::new();
        values.insert("log.dirs".to_owned(), dir.0.display().to_string());
        let config = BrokerConfig::new(values).unwrap();
        let logs = LogManager::open(&config.log_dirs(), config.log_config().unwrap()).unwrap();
        (GroupService::load(&config, &logs).unwrap(), logs)
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
        match svc.compute(8, |c, now, v| {
            ResponseKind::OffsetCommit(c.offset_commit(now, v, &req))
        }) {
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
        match svc.compute(7, |c, _, v| {
            ResponseKind::OffsetFetch(c.offset_fetch(v, &req))
        }) {
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

//! Consumer groups: FindCoordinator and the group APIs, served by the pure-logic
//! `kafka-coordinator` behind one lock (group traffic is light and not on the data path).
//!
//! JoinGroup and SyncGroup that wait for a rebalance are parked by token with their
//! `ResponseSender` and answered when the coordinator says so, from whichever thread moved the
//! group on (another member's request or the timer thread), without holding a handler thread.
//! Every state change the coordinator wants to survive a restart is appended, before any
//! response that depends on it is sent, to the internal log `__consumer_offsets-0`, and
//! replayed from it at start-up.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use kafka_coordinator::{
    ClientInfo, CoordinatorConfig, CoordinatorRecord, DelayedResponse, GroupCoordinator, Reply,
    ResponseToken,
};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{
    FindCoordinatorRequest, FindCoordinatorResponse, RequestKind, ResponseKind,
};
use kafka_protocol::records::{RecordBatchBuilder, RecordBatches};
use kafka_protocol::ErrorCode;
use kafka_server::{Request, ResponseSender};
use kafka_storage::{Log, LogManager, TopicPartition};

use super::{now_ms, BrokerState};

/// Bytes of `__consumer_offsets` read per step when loading (Kafka's default
/// `offsets.load.buffer.size`).
const LOAD_BUFFER_SIZE: usize = 5 << 20;
use crate::config::BrokerConfig;
use crate::error::Result;

/// The internal topic holding the coordinator's records.
pub(crate) const OFFSETS_TOPIC: &str = "__consumer_offsets";

#[derive(Debug)]
struct Inner {
    coordinator: GroupCoordinator,
    pending: HashMap<u64, (Request, ResponseSender)>,
    next_token: u64,
}

/// The group coordinator of this broker.
#[derive(Debug)]
pub struct GroupService {
    inner: Mutex<Inner>,
    wakeup: Condvar,
    log: Arc<Log>,
    stop: AtomicBool,
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
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends the coordinator's new records and flushes them; then answers parked requests
    /// the coordinator released. Called with the lock held so records stay in order.
    fn settle(&self, inner: &mut Inner) {
        let records = inner.coordinator.take_records();
        if !records.is_empty() {
            if let Err(e) = self.persist(&records) {
                tracing::error!(error = %e, "persisting coordinator records failed");
            }
        }
        for (token, response) in inner.coordinator.take_ready() {
            let Some((request, sender)) = inner.pending.remove(&token.0) else {
                continue;
            };
            let body = match response {
                DelayedResponse::JoinGroup(r) => ResponseKind::JoinGroup(r),
                DelayedResponse::SyncGroup(r) => ResponseKind::SyncGroup(r),
            };
            send(&request, &body, &sender);
        }
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
        Ok(())
    }

    /// Serves a group API request.
    pub fn handle(&self, request: Request, sender: &ResponseSender) {
        let now = now_ms() as u64;
        let version = request.api_version;
        let mut inner = self.lock();
        let body: Option<ResponseKind> = match &request.body {
            RequestKind::JoinGroup(r) => {
                let token = inner.next_token;
                inner.next_token += 1;
                let client = ClientInfo::new(
                    request.context.header.client_id.clone().unwrap_or_default(),
                    request
                        .context
                        .client_address
                        .map(|a| format!("/{}", a.ip()))
                        .unwrap_or_default(),
                );
                match inner
                    .coordinator
                    .join_group(now, ResponseToken(token), &client, version, r)
                {
                    Reply::Now(resp) => Some(ResponseKind::JoinGroup(resp)),
                    Reply::Later => {
                        let mut parked = park(request);
                        parked.times.api_local_complete = Some(std::time::Instant::now());
                        inner.pending.insert(token, (parked, sender.clone()));
                        self.settle(&mut inner);
                        drop(inner);
                        self.wakeup.notify_one();
                        return;
                    }
                }
            }
            RequestKind::SyncGroup(r) => {
                let token = inner.next_token;
                inner.next_token += 1;
                match inner
                    .coordinator
                    .sync_group(now, ResponseToken(token), version, r)
                {
                    Reply::Now(resp) => Some(ResponseKind::SyncGroup(resp)),
                    Reply::Later => {
                        let mut parked = park(request);
                        parked.times.api_local_complete = Some(std::time::Instant::now());
                        inner.pending.insert(token, (parked, sender.clone()));
                        self.settle(&mut inner);
                        drop(inner);
                        self.wakeup.notify_one();
                        return;
                    }
                }
            }
            RequestKind::Heartbeat(r) => Some(ResponseKind::Heartbeat(
                inner.coordinator.heartbeat(now, version, r),
            )),
            RequestKind::LeaveGroup(r) => Some(ResponseKind::LeaveGroup(
                inner.coordinator.leave_group(now, version, r),
            )),
            RequestKind::DescribeGroups(r) => Some(ResponseKind::DescribeGroups(
                inner.coordinator.describe_groups(version, r),
            )),
            RequestKind::ListGroups(r) => Some(ResponseKind::ListGroups(
                inner.coordinator.list_groups(version, r),
            )),
            RequestKind::DeleteGroups(r) => Some(ResponseKind::DeleteGroups(
                inner.coordinator.delete_groups(now, version, r),
            )),
            RequestKind::OffsetCommit(r) => Some(ResponseKind::OffsetCommit(
                inner.coordinator.offset_commit(now, version, r),
            )),
            RequestKind::OffsetFetch(r) => Some(ResponseKind::OffsetFetch(
                inner.coordinator.offset_fetch(version, r),
            )),
            RequestKind::OffsetDelete(r) => Some(ResponseKind::OffsetDelete(
                inner.coordinator.offset_delete(now, version, r),
            )),
            _ => None,
        };
        self.settle(&mut inner);
        drop(inner);
        self.wakeup.notify_one();
        match body {
            Some(b) => send(&request, &b, sender),
            None => sender.send(request.close_connection()),
        }
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

/// A parked request keeps what its response needs, not its body.
fn park(mut request: Request) -> Request {
    request.body = RequestKind::ApiVersions(Default::default());
    request
}

fn send(request: &Request, body: &ResponseKind, sender: &ResponseSender) {
    match request.respond(body) {
        Ok(r) => sender.send(r),
        Err(e) => {
            tracing::error!(api = request.api_key.name(), error = %e, "encoding a group response failed");
            sender.send(request.close_connection());
        }
    }
}

/// FindCoordinator: this broker coordinates every group; transactions are not served.
pub(super) fn find_coordinator(
    state: &BrokerState,
    request: &Request,
    req: &FindCoordinatorRequest,
) -> ResponseKind {
    let node = state.meta.node_id;
    let endpoints = state.endpoints();
    let endpoint = endpoints
        .iter()
        .find(|e| e.listener == request.context.listener)
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

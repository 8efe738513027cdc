//! One partition of `__consumer_offsets` and the coordinator of the groups that hash to it.
//!
//! Kafka runs one coordinator state machine per `__consumer_offsets` partition the broker
//! leads; so do we. A shard replays its partition when it is loaded, appends the coordinator's
//! records to it (flushed before any response that depends on them), and answers parked
//! JoinGroup/SyncGroup requests when the coordinator releases them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use kafka_coordinator::{
    CoordinatorConfig, CoordinatorRecord, DelayedResponse, GroupCoordinator, Reply, ResponseToken,
    WriteFailure,
};
use kafka_protocol::messages::{JoinGroupResponse, ResponseKind, SyncGroupResponse};
use kafka_protocol::records::{RecordBatchBuilder, RecordBatches};
use kafka_protocol::{ApiKey, ErrorCode};
use kafka_server::Responder;
use kafka_storage::Log;

use super::{append_error_code, Wakeup};
use crate::apis::{now_ms, FetchPurgatory};
use crate::error::Result;

/// Bytes of `__consumer_offsets` read per step when loading (Kafka's default
/// `offsets.load.buffer.size`).
const LOAD_BUFFER_SIZE: usize = 5 << 20;

#[derive(Debug)]
pub(super) struct Inner {
    pub(super) coordinator: GroupCoordinator,
    /// Parked JoinGroup and SyncGroup requests: only their responders.
    pending: HashMap<u64, Responder>,
    next_token: u64,
}

/// The coordinator of one `__consumer_offsets` partition.
#[derive(Debug)]
pub(super) struct GroupShard {
    inner: Mutex<Inner>,
    log: Arc<Log>,
    wakeup: Arc<Wakeup>,
    /// Told of each append, so fetches parked on `__consumer_offsets` (consumers of the
    /// internal topic) wake as on any other partition.
    appends: Option<Arc<FetchPurgatory>>,
}

impl GroupShard {
    /// Replays `log` into a fresh coordinator.
    pub(super) fn load(
        config: CoordinatorConfig,
        log: Arc<Log>,
        wakeup: Arc<Wakeup>,
        appends: Option<Arc<FetchPurgatory>>,
    ) -> Result<Self> {
        let now = now_ms() as u64;
        let mut coordinator = GroupCoordinator::new(config, now);
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
        if replayed > 0 {
            tracing::info!(
                partition = %log.topic_partition(),
                records = replayed,
                groups = coordinator.group_ids().len(),
                "group coordinator loaded"
            );
        }
        Ok(GroupShard {
            inner: Mutex::new(Inner {
                coordinator,
                pending: HashMap::new(),
                next_token: 1,
            }),
            log,
            wakeup,
            appends,
        })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends the coordinator's new records and flushes them, reports the outcome to the
    /// coordinator (which undoes a failed write), then answers parked requests the
    /// coordinator released. Called with the lock held so records stay in order. Returns how
    /// a failed write rewrites the immediate response of the call that made it.
    pub(super) fn settle(&self, inner: &mut Inner) -> Option<WriteFailure> {
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
        if let Some(purgatory) = &self.appends {
            purgatory.notify(self.log.topic_partition());
        }
        Ok(())
    }

    /// Answers now, or parks the responder until the coordinator releases its answer.
    pub(super) fn maybe_park(
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
        self.wakeup.notify();
        if let Some((mut body, responder)) = answer {
            if let Some(f) = failure {
                f.fail_response(&mut body);
            }
            responder.respond(body);
        }
    }

    /// The answer of a group API that never parks: a write that fails to persist turns what
    /// it would have acknowledged into errors.
    pub(super) fn compute<R>(
        &self,
        f: impl FnOnce(&mut GroupCoordinator, u64) -> R,
        into_response: impl FnOnce(R) -> ResponseKind,
    ) -> ResponseKind {
        let now = now_ms() as u64;
        let mut inner = self.lock();
        let mut body = into_response(f(&mut inner.coordinator, now));
        let failure = self.settle(&mut inner);
        drop(inner);
        self.wakeup.notify();
        if let Some(f) = failure {
            f.fail_response(&mut body);
        }
        body
    }

    /// Runs the coordinator's due timers; returns when they are due next.
    pub(super) fn poll(&self, now: u64) -> Option<u64> {
        let mut inner = self.lock();
        inner.coordinator.poll(now);
        self.settle(&mut inner);
        inner.coordinator.next_deadline()
    }

    /// Another broker leads the partition now: parked requests learn that this broker is no
    /// longer their coordinator, so their clients look it up again.
    pub(super) fn unload(&self) {
        let mut inner = self.lock();
        let code = ErrorCode::NotCoordinator.code();
        for (_, responder) in inner.pending.drain() {
            let body = match responder.api_key() {
                ApiKey::JoinGroup => {
                    ResponseKind::JoinGroup(JoinGroupResponse::default().with_error_code(code))
                }
                ApiKey::SyncGroup => {
                    ResponseKind::SyncGroup(SyncGroupResponse::default().with_error_code(code))
                }
                // invariant: only JoinGroup and SyncGroup park (maybe_park's callers); anything
                // else is closed, which a client also takes as "find the coordinator again".
                _ => {
                    responder.close();
                    continue;
                }
            };
            responder.respond(body);
        }
    }
}

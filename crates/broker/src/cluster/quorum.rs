//! [`MetadataQuorum`]: this node's voter in the metadata quorum and, while it leads, the active
//! controller.
//!
//! The raft loop thread applies every committed batch to the [`QuorumController`] (which keeps
//! the committed image on every node) and publishes the new image; request handlers run
//! controller operations under the controller's lock and propose their records without
//! blocking (the raft thread takes the same lock to apply), answering once the records commit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use kafka_metadata::{
    decode_batch, encode_batch, ControllerResult, MetadataImage, MetadataRecord, Provenance,
    QuorumController,
};
use kafka_protocol::ErrorCode;
use kafka_raft::{
    LeaderState, PeerTransport, RaftConfig, RaftHandle, RaftLoop, RaftLoopConfig, RaftMessage,
    RaftNode, Role, StateMachine, TransportConfig,
};

use super::{ClusterConfig, MetadataCache};
use crate::apis::now_ms;
use crate::error::{Error, Result};

/// Told of every image the raft thread publishes: the image before and the image after.
pub(crate) type Publisher = Box<dyn Fn(&MetadataImage, &MetadataImage) + Send + Sync>;

/// How a submitted operation ended: its response once its records committed (at once when it
/// changed nothing), or the error code every item of the request should carry.
pub type Submitted<R> = std::result::Result<R, ErrorCode>;

struct Shared {
    node_id: i32,
    controller: Mutex<QuorumController>,
    cache: Arc<MetadataCache>,
    publisher: OnceLock<Publisher>,
    publishing: Mutex<()>,
    /// Records a first leader proposes with the bootstrap records: the cluster state of a
    /// single-node data directory written before the metadata log existed.
    migration: Mutex<Vec<MetadataRecord>>,
    handle: OnceLock<RaftHandle>,
    leader: Mutex<Option<u64>>,
    stop: AtomicBool,
    wake: Condvar,
    wake_lock: Mutex<()>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn controller(&self) -> MutexGuard<'_, QuorumController> {
        self.controller.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes a committed image: to the cache, then to the publisher (which creates logs and
    /// loads group partitions, slow work done without the controller's lock, so heartbeats and
    /// other controller operations are never stuck behind it). The raft thread publishes in
    /// commit order; the lock orders it with the publisher's first, full publication.
    fn publish(&self, after: Arc<MetadataImage>) {
        let _in_order = self.publishing.lock().unwrap_or_else(|e| e.into_inner());
        let before = self.cache.image();
        self.cache.set(Arc::clone(&after));
        if let Some(p) = self.publisher.get() {
            p(&before, &after);
        }
    }

    /// Proposes `records` as one entry; `done` learns whether they committed. Called with the
    /// controller locked, which keeps proposals in the order the controller made them.
    fn propose(
        self: &Arc<Self>,
        controller: &mut QuorumController,
        records: &[MetadataRecord],
        done: Box<dyn FnOnce(bool) + Send>,
    ) {
        // An empty batch still encodes its (zero) count, so it is never raft's own empty entry.
        let bytes = match encode_batch(records) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "metadata records do not encode; dropping them");
                controller.abandon_pending();
                return done(false);
            }
        };
        let Some(handle) = self.handle.get() else {
            controller.abandon_pending();
            return done(false);
        };
        // The callback runs on the raft thread, which may need the controller's lock; a
        // refused proposal is answered here, under the lock, without it.
        let slot = Arc::new(Mutex::new(Some(done)));
        let answer = Arc::clone(&slot);
        let me = Arc::clone(self);
        let on_decided = move |result: kafka_raft::Result<kafka_raft::Proposed>| {
            if result.is_err() {
                me.controller().abandon_pending();
            }
            let done = answer.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(done) = done {
                done(result.is_ok());
            }
        };
        if handle.try_propose(bytes, Box::new(on_decided)).is_err() {
            tracing::warn!("the raft loop is not taking proposals; answering with an error");
            controller.abandon_pending();
            let done = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(done) = done {
                done(false);
            }
        }
    }
}

/// The state machine the raft thread drives.
struct Applier {
    shared: Arc<Shared>,
}

impl StateMachine for Applier {
    fn apply(&mut self, index: u64, term: u64, data: &[u8]) {
        let provenance = Provenance {
            offset: i64::try_from(index).unwrap_or(i64::MAX),
            epoch: term,
        };
        // Raft's own entries (a new leader's empty entry) carry no records.
        let records = if data.is_empty() {
            Vec::new()
        } else {
            match decode_batch(data) {
                Ok(r) => r,
                Err(e) => {
                    // Committed by a quorum, so every node fails alike; skipping keeps this
                    // node serving what it has while the operator looks.
                    tracing::error!(index, error = %e, "a committed metadata batch does not decode; skipped");
                    Vec::new()
                }
            }
        };
        let image = {
            let mut controller = self.shared.controller();
            if let Err(e) = controller.replay_committed(provenance, &records) {
                tracing::error!(index, error = %e, "a committed metadata batch does not apply; skipped");
            }
            Arc::new(controller.committed().clone())
        };
        self.shared.publish(image);
    }

    fn snapshot(&mut self) -> Bytes {
        let controller = self.shared.controller();
        match encode_batch(&controller.committed().to_records()) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "the metadata image does not encode as a snapshot");
                Bytes::new()
            }
        }
    }

    fn restore(&mut self, index: u64, data: &[u8]) {
        let mut controller = self.shared.controller();
        let cluster_id = controller.committed().cluster_id().to_string();
        let image = decode_batch(data).and_then(|records| {
            MetadataImage::from_records(
                &cluster_id,
                Provenance {
                    offset: i64::try_from(index).unwrap_or(i64::MAX),
                    epoch: 0,
                },
                &records,
            )
        });
        match image {
            Ok(image) => controller.load_snapshot(image),
            Err(e) => {
                tracing::error!(index, error = %e, "a metadata snapshot does not load; keeping the current image")
            }
        }
        let image = Arc::new(controller.committed().clone());
        drop(controller);
        self.shared.publish(image);
    }

    fn on_leader_change(&mut self, state: LeaderState) {
        *self.shared.leader.lock().unwrap_or_else(|e| e.into_inner()) = state.leader;
        let mut controller = self.shared.controller();
        if state.role == Role::Leader {
            if !controller.is_active() {
                tracing::info!(term = state.term, "this node is the active controller");
                controller.on_became_leader(now_ms());
                self.bootstrap(&mut controller);
            }
        } else if controller.is_active() {
            tracing::info!(term = state.term, leader = ?state.leader, "this node is no longer the active controller");
            controller.on_leadership_lost();
        }
        drop(controller);
        self.shared.wake.notify_all();
    }
}

impl Applier {
    /// A new log's first leader writes the finalized metadata.version, and the single-node
    /// state that existed before the log.
    fn bootstrap(&self, controller: &mut QuorumController) {
        let mut records = match controller.bootstrap_records() {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "bootstrap records do not apply");
                return;
            }
        };
        if records.is_empty() {
            return;
        }
        let migration = std::mem::take(
            &mut *self
                .shared
                .migration
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        if !migration.is_empty() {
            match controller.propose_records(migration) {
                Ok(m) => records.extend(m),
                Err(e) => {
                    tracing::error!(error = %e, "the earlier topic registry does not apply; not migrated")
                }
            }
        }
        self.shared.propose(
            controller,
            &records,
            Box::new(|ok| {
                if !ok {
                    tracing::warn!("the metadata log's first records did not commit; the next leader writes them");
                }
            }),
        );
    }
}

/// This node's voter in the metadata quorum (see the module docs).
#[derive(Debug)]
pub struct MetadataQuorum {
    shared: Arc<Shared>,
    raft: Mutex<Option<RaftLoop>>,
    timer: Mutex<Option<JoinHandle<()>>>,
}

impl MetadataQuorum {
    /// Opens the metadata log in the config's metadata directory and starts voting. `migration`
    /// is proposed once, with a new log's first records.
    pub fn start(
        config: &ClusterConfig,
        cluster_id: &str,
        cache: Arc<MetadataCache>,
        migration: Vec<MetadataRecord>,
    ) -> Result<Self> {
        let seed = {
            let mut b = [0u8; 8];
            let _ = getrandom::getrandom(&mut b);
            u64::from_le_bytes(b) ^ now_ms() as u64
        };
        let shared = Arc::new(Shared {
            node_id: config.node_id,
            controller: Mutex::new(QuorumController::new(
                config.controller.clone(),
                cluster_id,
                seed,
            )),
            cache,
            publisher: OnceLock::new(),
            publishing: Mutex::new(()),
            migration: Mutex::new(migration),
            handle: OnceLock::new(),
            leader: Mutex::new(None),
            stop: AtomicBool::new(false),
            wake: Condvar::new(),
            wake_lock: Mutex::new(()),
        });
        let voter_ids: Vec<u64> = config.voters.iter().map(|v| v.id).collect();
        let dir = config.metadata_dir.join("__cluster_metadata-0");
        let mut node = RaftNode::open(RaftConfig::new(config.node_id as u64, voter_ids, dir))
            .map_err(|e| Error::Config(format!("the metadata log: {e}")))?;
        if config.is_single_voter() {
            // Alone, nobody else can win: start leading now rather than after an election timeout.
            node.campaign()
                .map_err(|e| Error::Config(format!("the metadata log: {e}")))?;
        }
        let mut transport_config = TransportConfig::new(config.node_id as u64);
        transport_config.cluster_id = cluster_id.to_string();
        let transport = PeerTransport::start(transport_config, &config.voters)
            .map_err(|e| Error::Config(format!("the metadata quorum's transport: {e}")))?;
        let raft = RaftLoop::spawn(
            node,
            transport,
            Applier {
                shared: Arc::clone(&shared),
            },
            RaftLoopConfig::default(),
        )
        .map_err(|e| Error::Config(format!("the metadata quorum: {e}")))?;
        let _ = shared.handle.set(raft.handle());
        let timer_shared = Arc::clone(&shared);
        let timer = std::thread::Builder::new()
            .name("controller-timer".into())
            .spawn(move || run_timer(&timer_shared))?;
        Ok(MetadataQuorum {
            shared,
            raft: Mutex::new(Some(raft)),
            timer: Mutex::new(Some(timer)),
        })
    }

    /// Sets who hears of each published image, and tells it of the current one.
    pub(crate) fn set_publisher(&self, publisher: Publisher) {
        let _in_order = self
            .shared
            .publishing
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if self.shared.publisher.set(publisher).is_ok() {
            if let Some(p) = self.shared.publisher.get() {
                let current = self.shared.cache.image();
                let empty = MetadataImage::new(current.cluster_id());
                p(&empty, &current);
            }
        }
    }

    /// Runs a controller operation on the active controller (this node) and answers through
    /// `done` once its records committed; NOT_CONTROLLER when another node leads.
    pub fn submit<R: Send + 'static>(
        &self,
        op: impl FnOnce(&mut QuorumController, i64) -> kafka_metadata::Result<ControllerResult<R>>,
        done: impl FnOnce(Submitted<R>) + Send + 'static,
    ) {
        let mut controller = self.shared.controller();
        if !controller.is_active() {
            drop(controller);
            return done(Err(ErrorCode::NotController));
        }
        let result = match op(&mut controller, now_ms()) {
            Ok(r) => r,
            Err(e) => {
                drop(controller);
                tracing::error!(error = %e, "a controller operation failed");
                return done(Err(ErrorCode::UnknownServerError));
            }
        };
        let ControllerResult { response, records } = result;
        if records.is_empty() && controller.pending_batches() == 0 {
            drop(controller);
            return done(Ok(response));
        }
        // Nothing to write, but the answer was computed from proposals not yet committed: an
        // empty entry commits after them, and the answer waits for it.
        self.shared.propose(
            &mut controller,
            &records,
            Box::new(move |committed| {
                if committed {
                    done(Ok(response))
                } else {
                    done(Err(ErrorCode::NotController))
                }
            }),
        );
    }

    /// [`MetadataQuorum::submit`], waiting up to `timeout` for the answer.
    pub fn submit_and_wait<R: Send + 'static>(
        &self,
        timeout: Duration,
        op: impl FnOnce(&mut QuorumController, i64) -> kafka_metadata::Result<ControllerResult<R>>,
    ) -> Submitted<R> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.submit(op, move |r| {
            let _ = tx.send(r);
        });
        rx.recv_timeout(timeout)
            .unwrap_or(Err(ErrorCode::RequestTimedOut))
    }

    /// Hands a peer's raft message to the raft thread (false: dropped, raft resends).
    pub fn step(&self, message: RaftMessage) -> bool {
        self.shared.handle.get().is_some_and(|h| h.step(message))
    }

    /// The node leading the quorum (the active controller), if known.
    pub fn leader(&self) -> Option<i32> {
        self.shared
            .leader
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .and_then(|l| i32::try_from(l).ok())
    }

    /// The quorum's status for DescribeQuorum.
    pub fn status(&self) -> Option<kafka_raft::QuorumStatus> {
        self.shared.handle.get().and_then(|h| h.status())
    }

    /// Asks this node, if it leads, to hand leadership to `to` (controlled shutdown).
    pub fn transfer_leader(&self, to: i32) {
        if let (Some(h), Ok(to)) = (self.shared.handle.get(), u64::try_from(to)) {
            h.transfer_leader(to);
        }
    }

    /// Hands the quorum's leadership to the most caught-up other voter before this node stops,
    /// so metadata changes wait for a transfer instead of an election timeout; returns whether
    /// another node leads within `timeout` (trivially when this node did not lead).
    pub fn resign(&self, timeout: Duration) -> bool {
        let me = self.shared.node_id;
        if self.leader() != Some(me) {
            return true;
        }
        let Some(status) = self.status() else {
            return false;
        };
        let Some(target) = status
            .voters
            .iter()
            .filter(|v| i64::try_from(v.id).ok() != Some(i64::from(me)))
            .max_by_key(|v| v.match_index.unwrap_or(0))
            .and_then(|v| i32::try_from(v.id).ok())
        else {
            // A quorum of one: nobody to hand over to.
            return true;
        };
        tracing::info!(
            to = target,
            "handing the quorum's leadership over before stopping"
        );
        self.transfer_leader(target);
        let deadline = std::time::Instant::now() + timeout;
        let mut guard = self
            .shared
            .wake_lock
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        while self.leader() == Some(me) {
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            guard = match self.shared.wake.wait_timeout(guard, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        true
    }

    /// Stops the timer and the raft thread.
    pub fn shutdown(&self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake.notify_all();
        let timer = self.timer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = timer {
            let _ = t.join();
        }
        let raft = self.raft.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(raft) = raft {
            raft.shutdown();
        }
    }
}

impl Drop for MetadataQuorum {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The active controller's clock: fences brokers whose session expired (and elects leaders
/// for their partitions) when their deadline passes.
fn run_timer(shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::Acquire) {
        let wait = {
            let mut controller = shared.controller();
            let now = now_ms();
            if controller.poll_timeout().is_some_and(|t| t <= now) {
                match controller.tick(now) {
                    Ok(records) if !records.is_empty() => shared.propose(
                        &mut controller,
                        &records,
                        Box::new(|ok| {
                            if !ok {
                                tracing::warn!("fencing records did not commit");
                            }
                        }),
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "the controller's timer failed"),
                }
            }
            controller
                .poll_timeout()
                .map_or(1000, |t| (t - now_ms()).clamp(10, 1000))
        };
        let guard = shared.wake_lock.lock().unwrap_or_else(|e| e.into_inner());
        let _ = shared
            .wake
            .wait_timeout(guard, Duration::from_millis(wait as u64));
    }
}

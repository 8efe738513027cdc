//! Parked fetches keyed by the partitions they wait on (Kafka's `DelayedFetch` in a
//! `DelayedOperationPurgatory`).
//!
//! A fetch that cannot answer `min.bytes` now parks here with its responder and plan. It
//! watches every partition of its plan; [`FetchPurgatory::notify`] for partition P (an append,
//! records deleted, the topic deleted) re-checks only the fetches watching P. A completed
//! fetch leaves every watch list at once, so one completed through another partition leaves
//! nothing behind. The watch lists are sharded by partition hash, as Kafka shards its
//! watcher lists, and `notify` with nothing parked is one fence and one atomic load.
//!
//! Re-checks run on the purgatory thread ([`FetchPurgatory::run`]), not on the notifying
//! Produce handler, which only queues the fetches to look at; the same thread expires fetches
//! at their deadlines (a heap, like Kafka's timer) and answers every parked fetch at shutdown.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kafka_server::Responder;
use kafka_storage::TopicPartition;

use super::fetch::{read, respond, Plan};
use super::BrokerState;

/// Watch-list shards; a power of two.
const SHARDS: usize = 16;
/// The longest the purgatory thread sleeps, so a missed wake-up costs little.
const MAX_SLEEP: Duration = Duration::from_millis(500);

/// A parked fetch.
#[derive(Debug)]
struct DelayedFetch {
    /// Parking order, to break deadline ties in the timer heap.
    seq: u64,
    deadline: Instant,
    /// Every partition of its plan, once each.
    watched: Vec<TopicPartition>,
    /// `None` once completed: whoever takes it answers.
    parked: Mutex<Option<(Responder, Plan)>>,
    /// On the ready queue: a second append before the re-check queues it once.
    queued: AtomicBool,
}

impl DelayedFetch {
    fn parked(&self) -> MutexGuard<'_, Option<(Responder, Plan)>> {
        self.parked.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_completed(&self) -> bool {
        self.parked().is_none()
    }
}

/// A timer entry: earliest deadline first.
#[derive(Debug)]
struct Timed(Arc<DelayedFetch>);

impl PartialEq for Timed {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}
impl Eq for Timed {}
impl PartialOrd for Timed {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timed {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        // Reversed: `BinaryHeap` is a max-heap.
        (other.0.deadline, other.0.seq).cmp(&(self.0.deadline, self.0.seq))
    }
}

#[derive(Debug, Default)]
struct Timer {
    /// Every parked fetch by deadline; completed ones leave lazily (or on a purge).
    heap: BinaryHeap<Timed>,
    /// Fetches an event asked to re-check.
    ready: Vec<Arc<DelayedFetch>>,
    shutdown: bool,
}

type Watchers = HashMap<TopicPartition, Vec<Arc<DelayedFetch>>>;

/// Fetches waiting for data, keyed by partition; woken by [`FetchPurgatory::notify`],
/// expired and answered at shutdown by the purgatory thread ([`FetchPurgatory::run`]).
#[derive(Debug)]
pub struct FetchPurgatory {
    shards: Box<[Mutex<Watchers>]>,
    /// Fetches parked and not completed: the fast path of `notify`.
    parked: AtomicUsize,
    timer: Mutex<Timer>,
    wakeup: Condvar,
    checks: AtomicU64,
    next_seq: AtomicU64,
}

impl Default for FetchPurgatory {
    fn default() -> Self {
        FetchPurgatory {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            parked: AtomicUsize::new(0),
            timer: Mutex::default(),
            wakeup: Condvar::new(),
            checks: AtomicU64::new(0),
            next_seq: AtomicU64::new(0),
        }
    }
}

impl FetchPurgatory {
    fn timer(&self) -> MutexGuard<'_, Timer> {
        self.timer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn shard(&self, tp: &TopicPartition) -> MutexGuard<'_, Watchers> {
        // A fixed hasher: the shard only spreads lock contention, nothing hostile picks it.
        let h = BuildHasherDefault::<DefaultHasher>::default().hash_one(tp) as usize;
        self.shards[h & (SHARDS - 1)]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Parks a fetch that cannot answer yet until an event on one of its partitions completes
    /// it, or `deadline`. Called by the Fetch handler after its first read.
    pub(super) fn park(
        &self,
        state: &BrokerState,
        responder: Responder,
        plan: Plan,
        deadline: Instant,
    ) {
        let op = Arc::new(DelayedFetch {
            seq: self.next_seq.fetch_add(1, Ordering::Relaxed),
            deadline,
            watched: plan.watched(),
            parked: Mutex::new(Some((responder, plan))),
            queued: AtomicBool::new(false),
        });
        {
            let mut timer = self.timer();
            if timer.shutdown {
                drop(timer);
                self.complete(state, &op, true);
                return;
            }
            self.parked.fetch_add(1, Ordering::SeqCst);
            let earliest = timer.heap.peek().is_none_or(|t| deadline < t.0.deadline);
            timer.heap.push(Timed(Arc::clone(&op)));
            if earliest {
                self.wakeup.notify_one();
            }
        }
        for tp in &op.watched {
            self.shard(tp)
                .entry(tp.clone())
                .or_default()
                .push(Arc::clone(&op));
        }
        // Watched first, checked second (Kafka's `tryCompleteElseWatch`): an append between
        // the handler's read and the watch is seen here or wakes the watch. The fence pairs
        // with the one in `notify` (either it sees `parked`, or this read sees the append).
        fence(Ordering::SeqCst);
        self.complete(state, &op, false);
    }

    /// Something happened on `tp` that a fetch cares about (records appended, records
    /// deleted, the partition deleted): the fetches watching it are re-checked, no others.
    /// With nothing parked this is one fence and one atomic load.
    pub fn notify(&self, tp: &TopicPartition) {
        // Pairs with the fence in `park`: this load sees a fetch parking concurrently, or
        // that fetch's own re-check sees what the caller just wrote.
        fence(Ordering::SeqCst);
        if self.parked.load(Ordering::Relaxed) == 0 {
            return;
        }
        let woken: Vec<Arc<DelayedFetch>> = {
            let shard = self.shard(tp);
            let Some(ops) = shard.get(tp) else {
                return;
            };
            ops.iter()
                .filter(|op| !op.queued.swap(true, Ordering::AcqRel))
                .cloned()
                .collect()
        };
        if woken.is_empty() {
            return;
        }
        self.timer().ready.extend(woken);
        self.wakeup.notify_one();
    }

    /// Re-reads `op` and answers it when it is satisfied, or in any case when `force`
    /// (expired, shutting down). Returns whether this call answered it.
    fn complete(&self, state: &BrokerState, op: &Arc<DelayedFetch>, force: bool) -> bool {
        let mut guard = op.parked();
        let Some((_, plan)) = guard.as_ref() else {
            return false;
        };
        self.checks.fetch_add(1, Ordering::Relaxed);
        let (data, bytes) = read(state, plan);
        if !force && !plan.satisfied(&data, bytes) {
            return false;
        }
        let Some((responder, plan)) = guard.take() else {
            return false;
        };
        drop(guard);
        self.unwatch(op);
        self.parked.fetch_sub(1, Ordering::SeqCst);
        respond(state, &plan, data, responder);
        true
    }

    /// Takes a completed `op` off every watch list it is on.
    fn unwatch(&self, op: &Arc<DelayedFetch>) {
        for tp in &op.watched {
            let mut shard = self.shard(tp);
            if let Some(ops) = shard.get_mut(tp) {
                ops.retain(|o| !Arc::ptr_eq(o, op));
                if ops.is_empty() {
                    shard.remove(tp);
                }
            }
        }
    }

    /// Stops the purgatory thread, which answers every parked fetch first.
    pub fn shutdown(&self) {
        self.timer().shutdown = true;
        self.wakeup.notify_all();
    }

    /// Number of parked fetches.
    pub fn len(&self) -> usize {
        self.parked.load(Ordering::SeqCst)
    }

    /// Whether no fetch is parked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Parked fetches watching `tp`.
    pub fn watchers(&self, tp: &TopicPartition) -> usize {
        self.shard(tp).get(tp).map_or(0, Vec::len)
    }

    /// Times a parked fetch was re-read (after parking, on an event, at expiry or shutdown):
    /// what a test counts to show an event re-reads only the fetches that watch it.
    pub fn checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }

    /// The purgatory thread's loop: re-checks what events queued, expires fetches at their
    /// deadlines and, at shutdown, answers every parked fetch and returns.
    pub fn run(&self, state: &BrokerState) {
        let mut timer = self.timer();
        loop {
            let stopping = timer.shutdown;
            let ready = std::mem::take(&mut timer.ready);
            let now = Instant::now();
            let mut due = Vec::new();
            while let Some(t) = timer.heap.peek() {
                if !stopping && t.0.deadline > now {
                    break;
                }
                if let Some(t) = timer.heap.pop() {
                    due.push(t.0);
                }
            }
            // Completed fetches leave the heap lazily; purge them when they are most of it,
            // so a busy broker does not keep one entry per answered fetch until its deadline.
            let parked = self.parked.load(Ordering::SeqCst);
            if timer.heap.len() > 2 * parked + 64 {
                timer.heap.retain(|t| !t.0.is_completed());
            }
            drop(timer);
            for op in ready {
                op.queued.store(false, Ordering::Release);
                let expired = op.deadline <= Instant::now();
                self.complete(state, &op, expired);
            }
            for op in due {
                self.complete(state, &op, true);
            }
            timer = self.timer();
            if stopping {
                // `park` answers at once once `shutdown` is set: nothing is left.
                return;
            }
            if timer.shutdown || !timer.ready.is_empty() {
                continue;
            }
            let sleep = timer
                .heap
                .peek()
                .map_or(MAX_SLEEP, |t| {
                    t.0.deadline.saturating_duration_since(Instant::now())
                })
                .clamp(Duration::from_millis(1), MAX_SLEEP);
            timer = self
                .wakeup
                .wait_timeout(timer, sleep)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }
}

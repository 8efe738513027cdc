//! Durability as data plus a wake-up: who is told when a log's appends are fsynced (or failed
//! to be), and the queue behind the [`crate::LogManager`]'s flusher thread, which
//! group-commits the appends a flush policy asks to be durable.
//!
//! This module sits below both `log` and `manager`, so a log reports its flushes without
//! knowing the manager.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};

use crate::error::Error;
use crate::TopicPartition;

/// Called with a partition and its new flushed offset after each fsync round, on the thread
/// that ran it: keep it short (e.g. queue a wake-up for delayed produce responses).
pub type FlushListener = Arc<dyn Fn(&TopicPartition, i64) + Send + Sync>;

/// Told about every fsync round of every log of a [`crate::LogManager`], on the thread that
/// ran it (the flusher thread, an appender flushing for itself, or shutdown): keep it short,
/// take no lock a log appender may hold.
pub trait DurabilityListener: Send + Sync {
    /// Every offset of `tp` below `flushed_offset` is on disk.
    fn flushed(&self, tp: &TopicPartition, flushed_offset: i64);

    /// An fsync of `tp` failed: the log is offline and nothing it had not flushed will ever
    /// be durable, so whoever waits for it must answer with the error.
    fn flush_failed(&self, tp: &TopicPartition, error: &Error);
}

/// A [`FlushListener`] closure as a [`DurabilityListener`] that ignores failures.
struct ClosureListener(FlushListener);

impl DurabilityListener for ClosureListener {
    fn flushed(&self, tp: &TopicPartition, flushed_offset: i64) {
        (self.0)(tp, flushed_offset);
    }

    fn flush_failed(&self, _tp: &TopicPartition, _error: &Error) {}
}

#[derive(Debug, Default)]
struct FlushQueue {
    /// Partitions with appends waiting for an fsync, each once (see `Log::schedule_flush`).
    due: VecDeque<TopicPartition>,
    /// Whether a flusher thread takes from the queue; without one appenders flush for
    /// themselves.
    running: bool,
}

/// Shared by a [`crate::LogManager`] and every log it holds.
#[derive(Default)]
pub(crate) struct Durability {
    listeners: RwLock<Vec<Arc<dyn DurabilityListener>>>,
    queue: Mutex<FlushQueue>,
    wakeup: Condvar,
}

impl std::fmt::Debug for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durability")
            .field("listeners", &self.listeners().len())
            .field("queue", &*self.queue())
            .finish()
    }
}

impl Durability {
    fn queue(&self) -> MutexGuard<'_, FlushQueue> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn listeners(&self) -> Vec<Arc<dyn DurabilityListener>> {
        self.listeners
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn add_listener(&self, listener: Arc<dyn DurabilityListener>) {
        self.listeners
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(listener);
    }

    pub(crate) fn add_closure(&self, listener: FlushListener) {
        self.add_listener(Arc::new(ClosureListener(listener)));
    }

    pub(crate) fn notify_flushed(&self, tp: &TopicPartition, flushed_offset: i64) {
        for l in self.listeners() {
            l.flushed(tp, flushed_offset);
        }
    }

    pub(crate) fn notify_failed(&self, tp: &TopicPartition, error: &Error) {
        for l in self.listeners() {
            l.flush_failed(tp, error);
        }
    }

    /// Queues `tp` for the flusher thread; `false` when none runs (the caller flushes).
    pub(crate) fn schedule(&self, tp: &TopicPartition) -> bool {
        let mut q = self.queue();
        if !q.running {
            return false;
        }
        q.due.push_back(tp.clone());
        drop(q);
        self.wakeup.notify_one();
        true
    }

    /// Marks the flusher thread running: appends queue their flushes from now on.
    pub(crate) fn start_flusher(&self) {
        self.queue().running = true;
    }

    /// Marks the flusher threads stopped and wakes them; what is still queued is returned by
    /// their last calls to [`Durability::take_due`].
    pub(crate) fn stop_flusher(&self) {
        self.queue().running = false;
        self.wakeup.notify_all();
    }

    /// For a flusher thread: waits until a partition is due and takes it; `None` once
    /// stopped with nothing left.
    pub(crate) fn take_due(&self) -> Option<TopicPartition> {
        let mut q = self.queue();
        loop {
            if let Some(tp) = q.due.pop_front() {
                return Some(tp);
            }
            if !q.running {
                return None;
            }
            q = self
                .wakeup
                .wait(q)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

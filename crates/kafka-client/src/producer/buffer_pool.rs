//! `buffer.memory`: the bound on bytes the producer holds in unsent batches.
//!
//! Kafka's `BufferPool` hands out `ByteBuffer`s; here batches own their buffers (the record
//! builder's `BytesMut`), so the pool only accounts bytes. What matters is the same: a caller
//! that would exceed the bound blocks (up to `max.block.ms`) instead of the producer growing
//! without limit, waiters are served in arrival order, and the accumulator can see that
//! someone is waiting (and then sends batches without waiting for `linger.ms`).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::{Error, Result};

#[derive(Debug)]
struct PoolState {
    available: usize,
    /// Tickets of blocked callers, oldest first; only the head may take memory.
    waiters: VecDeque<u64>,
    next_ticket: u64,
    closed: bool,
}

impl PoolState {
    fn leave(&mut self, ticket: u64) {
        if let Some(i) = self.waiters.iter().position(|t| *t == ticket) {
            self.waiters.remove(i);
        }
    }
}

/// Accounts `buffer.memory` bytes between the caller threads (which allocate one batch's
/// worth when they open a batch) and the Sender (which frees it when the batch completed).
#[derive(Debug)]
pub struct BufferPool {
    total: usize,
    state: Mutex<PoolState>,
    freed: Condvar,
}

impl BufferPool {
    /// A pool of `total_memory` bytes (`buffer.memory`).
    pub fn new(total_memory: usize) -> Self {
        BufferPool {
            total: total_memory,
            state: Mutex::new(PoolState {
                available: total_memory,
                waiters: VecDeque::new(),
                next_ticket: 0,
                closed: false,
            }),
            freed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `size` bytes, blocking until they are free or `deadline` passes.
    ///
    /// Blocked callers are served first come, first served: a later, smaller request does
    /// not overtake an earlier one. Errors: `size` above the whole pool →
    /// [`Error::RecordTooLarge`] at once (it could never succeed); the deadline passed →
    /// [`Error::Timeout`] naming `max.block.ms`; the pool was [closed](Self::close) →
    /// [`Error::Closed`].
    pub fn allocate(&self, size: usize, deadline: Instant) -> Result<()> {
        self.allocate_timed(size, deadline).map(|_| ())
    }

    /// As [`allocate`](Self::allocate), also returning how long the caller was blocked
    /// (zero when the memory was free at once), so the caller can shift the times it was
    /// given by the wait.
    pub fn allocate_timed(&self, size: usize, deadline: Instant) -> Result<Duration> {
        if size > self.total {
            return Err(Error::RecordTooLarge {
                size,
                limit: self.total,
                what: "buffer.memory",
            });
        }
        let mut state = self.lock();
        if state.closed {
            return Err(Error::Closed);
        }
        if state.waiters.is_empty() && state.available >= size {
            state.available -= size;
            return Ok(Duration::ZERO);
        }
        let started = Instant::now();
        let ticket = state.next_ticket;
        state.next_ticket = state.next_ticket.wrapping_add(1);
        state.waiters.push_back(ticket);
        loop {
            if state.closed {
                state.leave(ticket);
                return Err(Error::Closed);
            }
            if state.waiters.front() == Some(&ticket) && state.available >= size {
                state.available -= size;
                state.waiters.pop_front();
                let next_may_proceed = !state.waiters.is_empty() && state.available > 0;
                drop(state);
                if next_may_proceed {
                    self.freed.notify_all();
                }
                return Ok(started.elapsed());
            }
            let now = Instant::now();
            if now >= deadline {
                let was_head = state.waiters.front() == Some(&ticket);
                state.leave(ticket);
                let available = state.available;
                drop(state);
                if was_head {
                    // The next waiter may be able to take what this one could not.
                    self.freed.notify_all();
                }
                return Err(Error::Timeout(format!(
                    "failed to allocate {size} bytes of buffer.memory within max.block.ms \
                     ({available} of {} bytes free)",
                    self.total
                )));
            }
            state = self
                .freed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Returns `size` bytes taken by [`allocate`](Self::allocate) and wakes waiters.
    pub fn deallocate(&self, size: usize) {
        if size == 0 {
            return;
        }
        let mut state = self.lock();
        // Never above the total, even if a caller frees twice.
        state.available = state.available.saturating_add(size).min(self.total);
        let wake = !state.waiters.is_empty();
        drop(state);
        if wake {
            self.freed.notify_all();
        }
    }

    /// Bytes free now.
    pub fn available(&self) -> usize {
        self.lock().available
    }

    /// `buffer.memory`.
    pub fn total_memory(&self) -> usize {
        self.total
    }

    /// Callers blocked in [`allocate`](Self::allocate); while any waits, the accumulator
    /// treats every batch as ready (memory is exhausted, so waiting for linger only delays
    /// them further), as Kafka's `RecordAccumulator` does.
    pub fn queued_waiters(&self) -> usize {
        self.lock().waiters.len()
    }

    /// Fails every blocked and future allocation with [`Error::Closed`] (producer close).
    pub fn close(&self) {
        self.lock().closed = true;
        self.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    fn in_ms(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    fn wait_for_waiters(pool: &BufferPool, n: usize) {
        let deadline = in_ms(2000);
        while pool.queued_waiters() != n && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(pool.queued_waiters(), n);
    }

    #[test]
    fn allocates_and_frees_without_blocking() {
        let pool = BufferPool::new(100);
        assert!(pool.allocate(60, in_ms(0)).is_ok());
        assert!(pool.allocate(40, in_ms(0)).is_ok());
        assert_eq!(pool.available(), 0);
        pool.deallocate(60);
        pool.deallocate(40);
        pool.deallocate(40);
        assert_eq!(pool.available(), 100, "never above the total");
        assert_eq!(pool.total_memory(), 100);
    }

    #[test]
    fn larger_than_the_pool_fails_at_once() {
        let pool = BufferPool::new(100);
        let started = Instant::now();
        let err = pool.allocate(101, in_ms(5000));
        assert!(matches!(
            err,
            Err(Error::RecordTooLarge {
                size: 101,
                limit: 100,
                what: "buffer.memory"
            })
        ));
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn blocks_then_succeeds_when_memory_is_freed() {
        let pool = Arc::new(BufferPool::new(100));
        assert!(pool.allocate(100, in_ms(0)).is_ok());
        let p = pool.clone();
        let waiter = thread::spawn(move || p.allocate_timed(50, in_ms(2000)));
        wait_for_waiters(&pool, 1);
        thread::sleep(Duration::from_millis(10));
        pool.deallocate(100);
        let waited = waiter.join().ok().and_then(|r| r.ok());
        assert!(
            waited.is_some_and(|w| w >= Duration::from_millis(10)),
            "{waited:?}"
        );
        assert_eq!(pool.allocate_timed(10, in_ms(0)).ok(), Some(Duration::ZERO));
        pool.deallocate(10);
        assert_eq!(pool.available(), 50);
        assert_eq!(pool.queued_waiters(), 0);
    }

    #[test]
    fn blocks_then_times_out_naming_max_block_ms() {
        let pool = BufferPool::new(100);
        assert!(pool.allocate(90, in_ms(0)).is_ok());
        let started = Instant::now();
        let result = pool.allocate(20, started + Duration::from_millis(50));
        assert!(started.elapsed() >= Duration::from_millis(50));
        match result {
            Err(Error::Timeout(msg)) => assert!(msg.contains("max.block.ms"), "{msg}"),
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert_eq!(pool.queued_waiters(), 0);
        assert_eq!(pool.available(), 10);
    }

    #[test]
    fn waiters_are_served_in_arrival_order() {
        let pool = Arc::new(BufferPool::new(100));
        assert!(pool.allocate(100, in_ms(0)).is_ok());
        let big = {
            let p = pool.clone();
            thread::spawn(move || p.allocate(80, in_ms(2000)))
        };
        wait_for_waiters(&pool, 1);
        let small = {
            let p = pool.clone();
            thread::spawn(move || p.allocate(10, in_ms(2000)))
        };
        wait_for_waiters(&pool, 2);
        // Enough for the small one but not the big one: the small one must not overtake.
        pool.deallocate(30);
        thread::sleep(Duration::from_millis(30));
        assert_eq!(pool.available(), 30);
        assert_eq!(pool.queued_waiters(), 2);
        pool.deallocate(70);
        assert!(matches!(big.join().ok(), Some(Ok(()))));
        assert!(matches!(small.join().ok(), Some(Ok(()))));
        assert_eq!(pool.available(), 10);
    }

    #[test]
    fn a_timed_out_head_lets_the_next_waiter_through() {
        let pool = Arc::new(BufferPool::new(100));
        assert!(pool.allocate(80, in_ms(0)).is_ok());
        let head = {
            let p = pool.clone();
            thread::spawn(move || p.allocate(90, in_ms(60)))
        };
        wait_for_waiters(&pool, 1);
        let next = {
            let p = pool.clone();
            thread::spawn(move || p.allocate(20, in_ms(2000)))
        };
        assert!(matches!(head.join().ok(), Some(Err(Error::Timeout(_)))));
        assert!(matches!(next.join().ok(), Some(Ok(()))));
        assert_eq!(pool.available(), 0);
    }

    #[test]
    fn no_lost_wakeups_under_contention() {
        let pool = Arc::new(BufferPool::new(64));
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let p = pool.clone();
                thread::spawn(move || {
                    for n in 0..300 {
                        let size = 16 + (i * 7 + n) % 40;
                        p.allocate(size, in_ms(5000))?;
                        thread::yield_now();
                        p.deallocate(size);
                    }
                    Ok::<(), Error>(())
                })
            })
            .collect();
        for t in threads {
            assert!(matches!(t.join().ok(), Some(Ok(()))));
        }
        assert_eq!(pool.available(), 64);
        assert_eq!(pool.queued_waiters(), 0);
    }

    #[test]
    fn close_fails_blocked_and_later_allocations() {
        let pool = Arc::new(BufferPool::new(10));
        assert!(pool.allocate(10, in_ms(0)).is_ok());
        let p = pool.clone();
        let waiter = thread::spawn(move || p.allocate(5, in_ms(5000)));
        wait_for_waiters(&pool, 1);
        pool.close();
        assert!(matches!(waiter.join().ok(), Some(Err(Error::Closed))));
        assert!(matches!(pool.allocate(1, in_ms(0)), Err(Error::Closed)));
    }
}

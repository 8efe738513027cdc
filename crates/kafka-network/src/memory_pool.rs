//! A bounded byte budget for receives (`queued.max.request.bytes`), as Kafka's
//! `SimpleMemoryPool` in its non-strict mode: an allocation succeeds while any memory is
//! available, even if it is larger than what is left (the budget then goes negative), so a
//! request bigger than the whole pool cannot starve; once the budget is exhausted, further
//! allocations fail and the channels that need them wait, muted, until memory comes back.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// A shared memory budget. Cloning shares the same budget.
#[derive(Clone)]
pub struct MemoryPool {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    capacity: i64,
    available: AtomicI64,
}

impl fmt::Debug for MemoryPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            None => f.write_str("MemoryPool(unbounded)"),
            Some(i) => write!(
                f,
                "MemoryPool({} of {} bytes available)",
                i.available.load(Ordering::Relaxed),
                i.capacity
            ),
        }
    }
}

impl MemoryPool {
    /// A pool of `capacity` bytes.
    pub fn bounded(capacity: usize) -> Self {
        let capacity = i64::try_from(capacity).unwrap_or(i64::MAX);
        MemoryPool {
            inner: Some(Arc::new(Inner {
                capacity,
                available: AtomicI64::new(capacity),
            })),
        }
    }

    /// No limit (Kafka's `MemoryPool.NONE`, `queued.max.request.bytes=-1`).
    pub fn unbounded() -> Self {
        MemoryPool { inner: None }
    }

    /// Takes `size` bytes from the budget, or `None` if it is exhausted.
    pub fn try_allocate(&self, size: usize) -> Option<PooledBuffer> {
        if let Some(inner) = &self.inner {
            let size_i = i64::try_from(size).unwrap_or(i64::MAX);
            let mut current = inner.available.load(Ordering::Relaxed);
            loop {
                if current <= 0 {
                    return None;
                }
                match inner.available.compare_exchange_weak(
                    current,
                    current - size_i,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(actual) => current = actual,
                }
            }
        }
        Some(PooledBuffer {
            data: vec![0u8; size],
            pool: self.clone(),
        })
    }

    fn release(&self, size: usize) {
        if let Some(inner) = &self.inner {
            inner
                .available
                .fetch_add(i64::try_from(size).unwrap_or(i64::MAX), Ordering::AcqRel);
        }
    }

    /// Bytes left in the budget (may be negative after a large allocation); `i64::MAX` when
    /// unbounded.
    pub fn available(&self) -> i64 {
        self.inner
            .as_ref()
            .map_or(i64::MAX, |i| i.available.load(Ordering::Acquire))
    }

    /// The budget, or `None` when unbounded.
    pub fn capacity(&self) -> Option<usize> {
        self.inner.as_ref().map(|i| i.capacity as usize)
    }

    /// Whether an allocation would fail now.
    pub fn is_out_of_memory(&self) -> bool {
        self.available() <= 0
    }
}

/// Memory taken from a [`MemoryPool`]; returned to it when dropped. Turn it into `Bytes` with
/// `Bytes::from_owner` so the memory is released only when the last view of it is dropped.
pub struct PooledBuffer {
    data: Vec<u8>,
    pool: MemoryPool,
}

impl PooledBuffer {
    /// The buffer, to fill.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Its size.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

impl AsRef<[u8]> for PooledBuffer {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        self.pool.release(self.data.len());
    }
}

impl fmt::Debug for PooledBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PooledBuffer({} bytes)", self.data.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn bounded_pool_runs_out_and_recovers() {
        let pool = MemoryPool::bounded(100);
        let a = pool.try_allocate(60).unwrap();
        let b = pool.try_allocate(60).unwrap(); // non-strict: goes negative
        assert_eq!(pool.available(), -20);
        assert!(pool.is_out_of_memory());
        assert!(pool.try_allocate(1).is_none());
        drop(a);
        assert_eq!(pool.available(), 40);
        let bytes = Bytes::from_owner(b);
        let view = bytes.slice(10..20);
        drop(bytes);
        assert_eq!(pool.available(), 40, "a live view keeps the memory");
        drop(view);
        assert_eq!(pool.available(), 100);
    }

    #[test]
    fn unbounded_pool_always_allocates() {
        let pool = MemoryPool::unbounded();
        assert!(pool.try_allocate(1 << 20).is_some());
        assert!(!pool.is_out_of_memory());
        assert_eq!(pool.capacity(), None);
    }
}

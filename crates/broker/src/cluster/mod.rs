//! The cluster as this node sees it: its place in the metadata quorum (KRaft's role, on tikv's
//! raft through `kafka-raft`), the controller logic (`kafka-metadata`'s `QuorumController`) and
//! the replayed metadata the request handlers answer from.
//!
//! ```text
//! handlers ──submit──> MetadataQuorum ──propose──> RaftLoop ──> peers (controller listener)
//!                           │                          │ committed entries
//!                           │ QuorumController <───────┘ (replay, on the raft thread)
//!                           ▼
//!                      MetadataCache (Arc<MetadataImage>) ──> publisher: local logs, groups
//! ```
//!
//! Every node runs the same path; the embedded default is a quorum of one (its own
//! controller, no controller listener needed).

pub(crate) mod channel;
pub(crate) mod config;
pub(crate) mod lifecycle;
mod migration;
mod publisher;
mod quorum;

use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use kafka_metadata::MetadataImage;

pub use config::{ClusterConfig, Roles};
pub(crate) use migration::{finish_migration, migration_records};
pub(crate) use publisher::publish;
pub use quorum::{MetadataQuorum, Submitted};

/// The latest committed metadata this node has replayed, shared by every request handler.
///
/// Readers take an `Arc` of the image (one atomic increment); the raft thread swaps in a new
/// image after each committed batch and wakes whoever waits for a change.
#[derive(Debug)]
pub struct MetadataCache {
    image: RwLock<Arc<MetadataImage>>,
    version: Mutex<u64>,
    changed: Condvar,
}

impl MetadataCache {
    /// A cache holding `image`.
    pub fn new(image: MetadataImage) -> Self {
        MetadataCache {
            image: RwLock::new(Arc::new(image)),
            version: Mutex::new(0),
            changed: Condvar::new(),
        }
    }

    /// The current image.
    pub fn image(&self) -> Arc<MetadataImage> {
        Arc::clone(&self.image.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn set(&self, image: Arc<MetadataImage>) {
        *self.image.write().unwrap_or_else(|e| e.into_inner()) = image;
        let mut v = self.version.lock().unwrap_or_else(|e| e.into_inner());
        *v += 1;
        self.changed.notify_all();
    }

    /// Waits until `ready` holds for the current image, or `timeout` passes; returns whether
    /// it holds.
    pub fn wait_until(
        &self,
        timeout: Duration,
        mut ready: impl FnMut(&MetadataImage) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        let mut v = self.version.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if ready(&self.image()) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            v = match self.changed.wait_timeout(v, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }
}

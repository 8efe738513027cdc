//! The broker's side of its registration, as Kafka's `BrokerLifecycleManager`: it registers
//! with the active controller (a new incarnation id at every start), then heartbeats with the
//! metadata offset it has replayed; the controller unfences it once it has caught up, fences it
//! when heartbeats stop, and on shutdown moves its leaderships away before it says it may stop.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kafka_protocol::messages::broker_registration_request::{Feature, Listener};
use kafka_protocol::messages::{
    BrokerHeartbeatRequest, BrokerRegistrationRequest, RequestKind, ResponseKind,
};
use kafka_protocol::{ErrorCode, Uuid};

use super::channel::ControllerChannel;
use super::MetadataCache;

/// The `metadata.version` levels this broker supports (Kafka 3.3-IV3 to 3.9-IV0).
const METADATA_VERSION_RANGE: (i16, i16) =
    (7, kafka_metadata::controller::DEFAULT_METADATA_VERSION);

/// What the lifecycle thread needs to know about this broker.
#[derive(Debug, Clone)]
pub(crate) struct Registration {
    pub(crate) node_id: i32,
    pub(crate) cluster_id: String,
    pub(crate) rack: Option<String>,
    /// Advertised listeners: name, host, port, security protocol id.
    pub(crate) listeners: Vec<(String, String, u16, i16)>,
    pub(crate) heartbeat_interval: Duration,
    /// Where the current broker epoch is published (-1 while unregistered), for requests
    /// that carry it (AllocateProducerIds).
    pub(crate) epoch: Arc<AtomicI64>,
    /// The epoch this broker had when it last stopped cleanly (-1: unknown), which lets the
    /// controller accept the restart before the old registration's session expires.
    pub(crate) previous_epoch: i64,
}

/// The file in which a cleanly stopped broker leaves its epoch (Kafka keeps it in its
/// clean-shutdown file for the same purpose).
const CLEAN_SHUTDOWN_EPOCH: &str = "clean-shutdown-broker-epoch";

/// The epoch a clean shutdown left in `dir`, consumed (a crash after this start must not
/// present it again).
pub(crate) fn take_clean_shutdown_epoch(dir: &std::path::Path) -> i64 {
    let path = dir.join(CLEAN_SHUTDOWN_EPOCH);
    let epoch = std::fs::read_to_string(&path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(-1);
    let _ = std::fs::remove_file(&path);
    epoch
}

/// Leaves `epoch` in `dir` for the next start, after a clean shutdown.
pub(crate) fn write_clean_shutdown_epoch(dir: &std::path::Path, epoch: i64) {
    if epoch < 0 {
        return;
    }
    if let Err(e) = std::fs::write(dir.join(CLEAN_SHUTDOWN_EPOCH), format!("{epoch}\n")) {
        tracing::warn!(error = %e, "cannot keep the broker epoch for the next start");
    }
}

#[derive(Debug, Default)]
struct Status {
    epoch: Option<i64>,
    fenced: bool,
    should_shut_down: bool,
}

#[derive(Debug)]
struct Shared {
    status: Mutex<Status>,
    changed: Condvar,
    stop: AtomicBool,
    want_shut_down: AtomicBool,
    last_epoch: AtomicI64,
}

/// The running registration (see the module docs).
#[derive(Debug)]
pub(crate) struct BrokerLifecycle {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl BrokerLifecycle {
    /// Starts registering and heartbeating through `channel`.
    pub(crate) fn start(
        registration: Registration,
        channel: Arc<ControllerChannel>,
        cache: Arc<MetadataCache>,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            status: Mutex::new(Status {
                fenced: true,
                ..Status::default()
            }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            want_shut_down: AtomicBool::new(false),
            last_epoch: AtomicI64::new(registration.previous_epoch),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("broker-lifecycle".into())
            .spawn(move || run(&registration, &channel, &cache, &s))?;
        Ok(BrokerLifecycle {
            shared,
            thread: Some(thread),
        })
    }

    /// Waits until the controller has unfenced this broker, or `timeout` passes.
    pub(crate) fn wait_unfenced(&self, timeout: Duration) -> bool {
        self.wait(timeout, |s| s.epoch.is_some() && !s.fenced)
    }

    fn wait(&self, timeout: Duration, mut ready: impl FnMut(&Status) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut status = self.shared.status.lock().unwrap_or_else(|e| e.into_inner());
        while !ready(&status) {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            status = match self.shared.changed.wait_timeout(status, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        true
    }

    /// Controlled shutdown: asks the controller to move this broker's leaderships away and
    /// waits (up to `timeout`) until it says the broker may stop; then stops heartbeating.
    /// Returns the epoch it had, if the controller confirmed.
    pub(crate) fn shutdown(&mut self, timeout: Duration) -> Option<i64> {
        self.shared.want_shut_down.store(true, Ordering::Release);
        self.shared.changed.notify_all();
        let confirmed = self.wait(timeout, |s| s.should_shut_down || s.epoch.is_none());
        if !confirmed {
            tracing::warn!(
                "the controller did not confirm the controlled shutdown in time; stopping anyway"
            );
        }
        self.shared.stop.store(true, Ordering::Release);
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let status = self.shared.status.lock().unwrap_or_else(|e| e.into_inner());
        status
            .epoch
            .filter(|_| confirmed && status.should_shut_down)
    }
}

impl Drop for BrokerLifecycle {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn registration_request(r: &Registration, incarnation: Uuid, previous_epoch: i64) -> RequestKind {
    RequestKind::BrokerRegistration(
        BrokerRegistrationRequest::default()
            .with_broker_id(r.node_id)
            .with_cluster_id(r.cluster_id.clone())
            .with_incarnation_id(incarnation)
            .with_listeners(
                r.listeners
                    .iter()
                    .map(|(name, host, port, protocol)| {
                        Listener::default()
                            .with_name(name.clone())
                            .with_host(host.clone())
                            .with_port(*port)
                            .with_security_protocol(*protocol)
                    })
                    .collect(),
            )
            .with_features(vec![Feature::default()
                .with_name("metadata.version".into())
                .with_min_supported_version(METADATA_VERSION_RANGE.0)
                .with_max_supported_version(METADATA_VERSION_RANGE.1)])
            .with_rack(r.rack.clone())
            .with_previous_broker_epoch(previous_epoch),
    )
}

/// The first wait before retrying a refused registration; it doubles up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(5);
const RETRY_MAX: Duration = Duration::from_millis(200);

fn run(r: &Registration, channel: &ControllerChannel, cache: &MetadataCache, shared: &Shared) {
    let incarnation = crate::metadata::random_uuid();
    let request_timeout = Duration::from_secs(5);
    // At start-up the quorum may not have elected its leader yet: retry soon, then back off.
    let mut retry = RETRY_FIRST;
    while !shared.stop.load(Ordering::Acquire) {
        let epoch = shared
            .status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .epoch;
        let next_wait = match epoch {
            None => {
                let previous = shared.last_epoch.load(Ordering::Acquire);
                match channel.call(
                    registration_request(r, incarnation, previous),
                    request_timeout,
                ) {
                    Ok(ResponseKind::BrokerRegistration(resp)) if resp.error_code == 0 => {
                        tracing::info!(epoch = resp.broker_epoch, "registered with the controller");
                        shared
                            .last_epoch
                            .store(resp.broker_epoch, Ordering::Release);
                        r.epoch.store(resp.broker_epoch, Ordering::Release);
                        let mut s = shared.status.lock().unwrap_or_else(|e| e.into_inner());
                        s.epoch = Some(resp.broker_epoch);
                        // Heartbeat at once: the first one unfences a caught-up broker.
                        Duration::ZERO
                    }
                    other => {
                        tracing::debug!(answer = ?other.as_ref().map(|_| ()).map_err(|c| *c), "registration not accepted yet; retrying");
                        let wait = retry;
                        retry = (retry * 2).min(RETRY_MAX);
                        wait
                    }
                }
            }
            Some(epoch) => {
                let request = RequestKind::BrokerHeartbeat(
                    BrokerHeartbeatRequest::default()
                        .with_broker_id(r.node_id)
                        .with_broker_epoch(epoch)
                        .with_current_metadata_offset(cache.image().provenance().offset)
                        .with_want_shut_down(shared.want_shut_down.load(Ordering::Acquire)),
                );
                match channel.call(request, request_timeout) {
                    Ok(ResponseKind::BrokerHeartbeat(resp)) => {
                        let mut s = shared.status.lock().unwrap_or_else(|e| e.into_inner());
                        let code = ErrorCode::from_code(resp.error_code);
                        if code == ErrorCode::None {
                            if s.fenced != resp.is_fenced {
                                tracing::info!(
                                    fenced = resp.is_fenced,
                                    "the controller changed this broker's state"
                                );
                            }
                            s.fenced = resp.is_fenced;
                            s.should_shut_down = resp.should_shut_down;
                        } else if matches!(
                            code,
                            ErrorCode::StaleBrokerEpoch | ErrorCode::BrokerIdNotRegistered
                        ) {
                            // The controller lost our registration (or a newer one exists):
                            // register again.
                            tracing::warn!(?code, "heartbeat refused; registering again");
                            s.epoch = None;
                            s.fenced = true;
                            r.epoch.store(-1, Ordering::Release);
                        }
                        drop(s);
                        shared.changed.notify_all();
                        let fenced = shared
                            .status
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .fenced;
                        if shared.want_shut_down.load(Ordering::Acquire) {
                            Duration::from_millis(100)
                        } else if fenced {
                            // Catching up to its registration: ask again soon rather than
                            // serve nothing for a whole interval.
                            Duration::from_millis(20).min(r.heartbeat_interval)
                        } else {
                            r.heartbeat_interval
                        }
                    }
                    _ => Duration::from_millis(200),
                }
            }
        };
        shared.changed.notify_all();
        if next_wait > Duration::ZERO {
            let s = shared.status.lock().unwrap_or_else(|e| e.into_inner());
            let _ = shared.changed.wait_timeout(s, next_wait);
        }
    }
}

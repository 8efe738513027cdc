//! A harness that drives the API handlers through [`super::dispatch`] with a temporary log
//! directory and capturing responders: no sockets, no threads but the fetch purgatory's.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use kafka_protocol::messages::{RequestKind, ResponseKind};
use kafka_protocol::RequestHeader;
use kafka_server::{Captured, RequestContext, Responder, ResponseCapture};

use super::{dispatch, BrokerState};
use crate::config::BrokerConfig;

/// How long a test waits for an answer that should come.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// A broker's state over a fresh directory, with its background threads running as the
/// broker runs them (fetch purgatory, produce timer, log maintenance, group timers).
pub(crate) struct Harness {
    pub(crate) state: Arc<BrokerState>,
    dir: PathBuf,
    purgatory: Option<JoinHandle<()>>,
    produce_timer: Option<JoinHandle<()>>,
    maintenance: Option<JoinHandle<()>>,
    group_timers: Option<JoinHandle<()>>,
    lifecycle: Option<crate::cluster::lifecycle::BrokerLifecycle>,
    /// Kept on drop (a restart reopens it).
    keep_dir: bool,
}

impl Harness {
    /// A broker with default settings plus `overrides`.
    pub(crate) fn new(overrides: &[(&str, &str)]) -> Harness {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "broker-apis-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temporary directory"); // invariant: cfg(test) only, no network or config input
        Harness::open(dir, overrides)
    }

    /// Stops this broker and starts another over the same directory, as a restart does.
    pub(crate) fn restart(self, overrides: &[(&str, &str)]) -> Harness {
        self.restart_with(overrides, || {})
    }

    /// [`Harness::restart`], running `between` while no broker runs (to damage or age files).
    pub(crate) fn restart_with(
        mut self,
        overrides: &[(&str, &str)],
        between: impl FnOnce(),
    ) -> Harness {
        self.keep_dir = true;
        let dir = self.dir.clone();
        drop(self);
        between();
        Harness::open(dir, overrides)
    }

    /// The log directory.
    pub(crate) fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// A broker over `dir` (created by [`Harness::new`]).
    pub(crate) fn open(dir: PathBuf, overrides: &[(&str, &str)]) -> Harness {
        let mut values = BTreeMap::new();
        values.insert("log.dirs".to_string(), dir.display().to_string());
        values.insert(
            "listeners".to_string(),
            "PLAINTEXT://127.0.0.1:0".to_string(),
        );
        for (k, v) in overrides {
            values.insert((*k).to_string(), (*v).to_string());
        }
        let config = BrokerConfig::new(values).expect("configuration"); // invariant: cfg(test) only, no network or config input
                                                                        // As the broker opens it: metadata log, quorum of one, publisher.
        let crate::Opened {
            state,
            migration,
            first,
        } = crate::open_state(config).expect("broker state"); // invariant: cfg(test) only, no network or config input
                                                              // The advertised endpoint: no socket server here, only what registration names.
        let _ = state.bound_endpoints.set(vec![super::Endpoint {
            listener: "PLAINTEXT".into(),
            host: "localhost".into(),
            port: 9092,
        }]);
        // Registered and unfenced, so it leads the partitions it creates.
        let lifecycle = crate::register(&state, &migration, &first).expect("registration"); // invariant: cfg(test) only, no network or config input
        let purgatory_state = Arc::clone(&state);
        let purgatory = std::thread::spawn(move || {
            purgatory_state.purgatory.run(&purgatory_state);
        });
        // As the broker wires them: held produce answers complete on flush reports, and the
        // flusher runs with the log's background thread.
        state.logs.on_flushed(state.delayed_produce.clone());
        let delayed = Arc::clone(&state.delayed_produce);
        let produce_timer = std::thread::spawn(move || delayed.run());
        let maintenance = state
            .logs
            .spawn_background(kafka_storage::BackgroundConfig::default())
            .expect("log background threads"); // invariant: cfg(test) only, no network or config input

        // Rebalance deadlines (the initial join delay among them) complete parked joins.
        let timer_state = Arc::clone(&state);
        let group_timers = std::thread::spawn(move || timer_state.groups.run_timers());
        Harness {
            state,
            dir,
            purgatory: Some(purgatory),
            produce_timer: Some(produce_timer),
            maintenance: Some(maintenance),
            group_timers: Some(group_timers),
            lifecycle: Some(lifecycle),
            keep_dir: false,
        }
    }

    /// A context for `body` at `version`, as a Processor would build it.
    pub(crate) fn context(body: &RequestKind, version: i16) -> RequestContext {
        let key = body.api_key();
        let header = RequestHeader::default()
            .with_request_api_key(key.id())
            .with_request_api_version(version)
            .with_correlation_id(7)
            .with_client_id(Some("harness".into()));
        RequestContext::detached(key, version, header)
    }

    /// Dispatches `body` at `version`; the capture says what the handler did, now or later.
    pub(crate) fn send(&self, version: i16, body: RequestKind) -> ResponseCapture {
        let context = Self::context(&body, version);
        let (responder, capture) = Responder::capture(&context);
        dispatch(&self.state, &context, body, responder);
        capture
    }

    /// Dispatches `body` and waits for what the handler did.
    pub(crate) fn call(&self, version: i16, body: RequestKind) -> Captured {
        self.send(version, body)
            .wait(WAIT)
            .expect("the handler answered in time") // invariant: cfg(test) only, no network or config input
    }

    /// Dispatches `body` and returns the response body it answered with.
    pub(crate) fn respond(&self, version: i16, body: RequestKind) -> ResponseKind {
        match self.call(version, body) {
            Captured::Response(r) => r,
            other => panic!("expected a response, got {other:?}"), // invariant: cfg(test) only, no network or config input
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // As the broker stops: controlled shutdown, and the epoch kept for the restart.
        if let Some(mut lifecycle) = self.lifecycle.take() {
            if let Some(epoch) = lifecycle.shutdown(std::time::Duration::from_secs(10)) {
                crate::cluster::lifecycle::write_clean_shutdown_epoch(&self.dir, epoch);
            }
        }
        self.state.purgatory.shutdown();
        self.state.groups.shutdown();
        self.state.delayed_produce.shutdown();
        self.state.logs.stop_background();
        for t in [
            self.purgatory.take(),
            self.produce_timer.take(),
            self.maintenance.take(),
            self.group_timers.take(),
        ]
        .into_iter()
        .flatten()
        {
            let _ = t.join();
        }
        self.state.controller.shutdown();
        self.state.quorum.shutdown();
        // As the broker stops: flushed and closed, so a restart recovers nothing.
        let _ = self.state.logs.shutdown();
        if !self.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

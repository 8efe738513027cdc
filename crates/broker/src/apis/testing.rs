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
use kafka_storage::LogManager;

use super::{
    dispatch, BrokerState, FetchPurgatory, GroupService, ProducePurgatory, ProducerIdManager,
};
use crate::config::BrokerConfig;
use crate::metadata::{load_or_create_meta, TopicRegistry};

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
        let logs = Arc::new(
            LogManager::open(
                std::slice::from_ref(&dir),
                config.log_config().expect("log config"), // invariant: cfg(test) only, no network or config input
            )
            .expect("log manager"), // invariant: cfg(test) only, no network or config input
        );
        let state = Arc::new(BrokerState {
            producers: ProducerIdManager::load(&dir).expect("producer ids"), // invariant: cfg(test) only, no network or config input
            purgatory: Arc::new(FetchPurgatory::default()),
            delayed_produce: Arc::new(ProducePurgatory::default()),
            fetch_sessions: Default::default(),
            groups: GroupService::load(&config, &logs).expect("groups"), // invariant: cfg(test) only, no network or config input
            meta: load_or_create_meta(&dir, config.node_id(), None).expect("meta"), // invariant: cfg(test) only, no network or config input
            topics: TopicRegistry::load(&dir).expect("topics"), // invariant: cfg(test) only, no network or config input
            logs,
            configured_endpoints: vec![super::Endpoint {
                listener: "PLAINTEXT".into(),
                host: "localhost".into(),
                port: 9092,
            }],
            bound_endpoints: std::sync::OnceLock::new(),
            dynamic: crate::dynamic::DynamicBrokerConfig::load(config.clone(), &dir)
                .expect("dynamic configs"), // invariant: cfg(test) only, no network or config input
            config,
        });
        state.dynamic.attach_logs(Arc::clone(&state.logs));
        state.groups.notify_appends_to(Arc::clone(&state.purgatory));
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
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

//! The broker: `KafkaApis`, the log and (later) the group coordinator behind `kafka-server`.
//!
//! [`Broker::start`] loads the configuration's log directories (recovering them), reads or
//! writes `meta.properties`, starts the socket server with [`apis::KafkaApis`] as its request
//! handler, the fetch purgatory, log maintenance and the Prometheus endpoint;
//! [`Broker::shutdown`] stops them in reverse order and flushes the log.

pub mod apis;
pub mod config;
mod error;
pub mod metadata;
pub mod prometheus;
mod security;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use kafka_server::SocketServer;
use kafka_storage::{LogManager, TopicPartition};

pub use config::BrokerConfig;
pub use error::{Error, Result};

use apis::{
    BrokerState, Endpoint, FetchPurgatory, GroupService, KafkaApis, ProducePurgatory,
    ProducerIdManager,
};

/// A running broker.
#[derive(Debug)]
pub struct Broker {
    state: Arc<BrokerState>,
    server: Option<SocketServer>,
    purgatory_thread: Option<JoinHandle<()>>,
    produce_timer: Option<JoinHandle<()>>,
    group_timers: Option<JoinHandle<()>>,
    maintenance: Option<JoinHandle<()>>,
    prometheus: Option<prometheus::PrometheusEndpoint>,
}

impl Broker {
    /// Starts a broker with `config`.
    pub fn start(config: BrokerConfig) -> Result<Broker> {
        let dirs = config.log_dirs();
        let first = dirs
            .first()
            .cloned()
            .ok_or_else(|| Error::Config("no log directory".into()))?;
        std::fs::create_dir_all(&first)?;
        let meta =
            metadata::load_or_create_meta(&first, config.node_id(), config.get("cluster.id"))?;
        let logs = Arc::new(LogManager::open(&dirs, config.log_config()?)?);
        let topics = metadata::TopicRegistry::load(&first)?;
        // Every partition of every known topic has a log (a crash between registering a topic
        // and creating its logs leaves none behind).
        for t in topics.all() {
            for p in 0..t.partitions {
                let tp = TopicPartition {
                    topic: t.name.clone(),
                    partition: p,
                };
                if logs.get_log(&tp).is_none() {
                    logs.create_log(&tp, t.configs.clone())?;
                }
            }
        }
        let socket_config = config.socket_server()?;
        let endpoints: Vec<Endpoint> = config
            .advertised_listeners()?
            .into_iter()
            .map(|l| Endpoint {
                listener: l.name,
                host: if l.host.is_empty() {
                    "localhost".into()
                } else {
                    l.host
                },
                port: i32::from(l.port),
            })
            .collect();
        // No endpoint, no recorder: metrics then cost nothing.
        let recorder = match config.prometheus_listener()? {
            Some(_) => prometheus::install_recorder(),
            None => None,
        };
        let state = Arc::new(BrokerState {
            producers: ProducerIdManager::load_above(&first, producer_ids_in_use(&logs))?,
            purgatory: Arc::new(FetchPurgatory::default()),
            delayed_produce: Arc::new(ProducePurgatory::default()),
            fetch_sessions: Default::default(),
            groups: GroupService::load(&config, &logs)?,
            config: config.clone(),
            meta,
            topics,
            logs: Arc::clone(&logs),
            configured_endpoints: endpoints,
            bound_endpoints: std::sync::OnceLock::new(),
        });
        state.groups.notify_appends_to(Arc::clone(&state.purgatory));
        let timer_state = Arc::clone(&state);
        let group_timers = std::thread::Builder::new()
            .name("group-coordinator".into())
            .spawn(move || timer_state.groups.run_timers())?;
        let purgatory_state = Arc::clone(&state);
        let purgatory_thread = std::thread::Builder::new()
            .name("fetch-purgatory".into())
            .spawn(move || purgatory_state.purgatory.run(&purgatory_state))?;
        // Held produce responses complete on the log's flush reports, and expire on a timer.
        logs.on_flushed(state.delayed_produce.clone());
        let delayed_produce = Arc::clone(&state.delayed_produce);
        let produce_timer = std::thread::Builder::new()
            .name("produce-purgatory".into())
            .spawn(move || delayed_produce.run())?;
        let retention_check = config
            .get("log.retention.check.interval.ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(300_000);
        let maintenance = logs.spawn_background(kafka_storage::BackgroundConfig {
            retention_check_interval_ms: retention_check,
            ..kafka_storage::BackgroundConfig::default()
        })?;
        let builders = security::channel_builders(&config, &socket_config.listeners)?;
        let server = SocketServer::start(
            socket_config,
            apis::advertised_apis().clone(),
            Arc::new(KafkaApis::new(Arc::clone(&state))),
            builders,
        )?;
        // Port 0 in `listeners`: advertise the port actually bound.
        let mut broker = Broker {
            state,
            server: Some(server),
            purgatory_thread: Some(purgatory_thread),
            produce_timer: Some(produce_timer),
            group_timers: Some(group_timers),
            maintenance: Some(maintenance),
            prometheus: None,
        };
        broker.fix_advertised_ports();
        if let (Some(addr), Some(handle)) = (config.prometheus_listener()?, recorder) {
            match prometheus::PrometheusEndpoint::start(addr, handle) {
                Ok(p) => broker.prometheus = Some(p),
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "the Prometheus endpoint could not start")
                }
            }
        }
        Ok(broker)
    }

    fn fix_advertised_ports(&mut self) {
        let Some(server) = &self.server else { return };
        let bound: Vec<(String, SocketAddr)> = server.bound_addresses().to_vec();
        let resolved = self
            .state
            .configured_endpoints
            .iter()
            .map(|e| {
                let mut e = e.clone();
                if e.port == 0 {
                    if let Some((_, a)) = bound.iter().find(|(n, _)| *n == e.listener) {
                        e.port = i32::from(a.port());
                    }
                }
                e
            })
            .collect();
        let _ = self.state.bound_endpoints.set(resolved);
    }

    /// The address each listener is bound to.
    pub fn bound_addresses(&self) -> Vec<(String, SocketAddr)> {
        self.server
            .as_ref()
            .map(|s| s.bound_addresses().to_vec())
            .unwrap_or_default()
    }

    /// The Prometheus endpoint's address, if it runs.
    pub fn prometheus_address(&self) -> Option<SocketAddr> {
        self.prometheus.as_ref().map(|p| p.addr())
    }

    /// The cluster id.
    pub fn cluster_id(&self) -> &str {
        &self.state.meta.cluster_id
    }

    /// Stops serving, answers parked fetches, flushes and closes the log.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            self.state.purgatory.shutdown();
            server.shutdown();
        }
        self.state.purgatory.shutdown();
        if let Some(t) = self.purgatory_thread.take() {
            let _ = t.join();
        }
        self.state.delayed_produce.shutdown();
        if let Some(t) = self.produce_timer.take() {
            let _ = t.join();
        }
        self.state.groups.shutdown();
        if let Some(t) = self.group_timers.take() {
            let _ = t.join();
        }
        self.state.logs.stop_background();
        if let Some(t) = self.maintenance.take() {
            let _ = t.join();
        }
        self.prometheus = None;
        if let Err(e) = self.state.logs.shutdown() {
            tracing::error!(error = %e, "closing the log failed");
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One more than the largest producer id any log holds state for: InitProducerId must not hand
/// those out again, whatever `producer-ids.checkpoint` says.
fn producer_ids_in_use(logs: &LogManager) -> i64 {
    logs.all_logs()
        .iter()
        .filter_map(|(_, log)| log.producer_snapshot().keys().next_back().copied())
        .max()
        .map_or(0, |id| id.saturating_add(1))
}

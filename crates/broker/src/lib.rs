//! The broker: `KafkaApis`, the log, the group coordinator and this node's part of the
//! metadata quorum behind `kafka-server`.
//!
//! [`Broker::start`] loads the configuration's log directories (recovering them), reads or
//! writes `meta.properties`, opens the metadata log and joins the quorum ([`cluster`]), starts
//! the socket server with [`apis::KafkaApis`] as its request handler, registers with the
//! active controller, and runs the fetch purgatory, log maintenance and the Prometheus
//! endpoint; [`Broker::shutdown`] moves leaderships away (controlled shutdown) and stops them
//! in reverse order, flushing the log.

pub mod apis;
pub mod cluster;
pub mod config;
pub mod dynamic;
mod error;
pub mod metadata;
pub mod prometheus;
mod security;

use std::net::SocketAddr;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use kafka_server::{ListenerApis, SocketServer};
use kafka_storage::LogManager;

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
    lifecycle: Option<cluster::lifecycle::BrokerLifecycle>,
}

impl Broker {
    /// Starts a broker with `config`.
    pub fn start(config: BrokerConfig) -> Result<Broker> {
        // No endpoint, no recorder: metrics then cost nothing.
        let recorder = match config.prometheus_listener()? {
            Some(_) => prometheus::install_recorder(),
            None => None,
        };
        let Opened {
            state,
            migration,
            first,
        } = open_state(config)?;
        let config = state.config.clone();
        let cluster_config = state.cluster.clone();
        let logs = Arc::clone(&state.logs);
        let socket_config = config.socket_server()?;
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
        let (builders, tls) = security::channel_builders(&config, &socket_config.listeners)?;
        let mut tables = ListenerApis::new(apis::advertised_apis().clone());
        for name in &cluster_config.controller_listeners {
            tables = tables.with_listener(name.clone(), apis::controller_apis().clone());
        }
        let server = SocketServer::start(
            socket_config,
            tables,
            Arc::new(KafkaApis::new(Arc::clone(&state))),
            builders,
        )?;
        state.dynamic.attach_server(server.quotas_handle(), tls);
        // Port 0 in `listeners`: advertise the port actually bound.
        let mut broker = Broker {
            state,
            server: Some(server),
            purgatory_thread: Some(purgatory_thread),
            produce_timer: Some(produce_timer),
            group_timers: Some(group_timers),
            maintenance: Some(maintenance),
            prometheus: None,
            lifecycle: None,
        };
        broker.fix_advertised_ports();
        broker.lifecycle = Some(register(&broker.state, &migration, &first)?);
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
        // Controlled shutdown first: leaderships move while the broker still serves.
        if let Some(mut lifecycle) = self.lifecycle.take() {
            if let (Some(epoch), Some(dir)) = (
                lifecycle.shutdown(Duration::from_secs(30)),
                self.state.config.log_dirs().first(),
            ) {
                cluster::lifecycle::write_clean_shutdown_epoch(dir, epoch);
            }
        }
        // Then the controller role: another voter takes it over before this one goes.
        if !self.state.quorum.resign(Duration::from_secs(5)) {
            tracing::warn!("the quorum's leadership did not move before stopping");
        }
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
        self.state.controller.shutdown();
        self.state.quorum.shutdown();
        if let Err(e) = self.state.logs.shutdown() {
            tracing::error!(error = %e, "closing the log failed");
        }
    }
}

/// What [`open_state`] made: the state, the records migrated from an older data directory, and
/// the first log directory.
pub(crate) struct Opened {
    pub(crate) state: Arc<BrokerState>,
    pub(crate) migration: Vec<kafka_metadata::MetadataRecord>,
    pub(crate) first: std::path::PathBuf,
}

/// Opens what the request handlers share: the log directories (recovered), `meta.properties`,
/// dynamic configs, the metadata log and this node's voter in the quorum (publishing every
/// committed change to the logs and the group coordinator), the way to the active controller.
/// No thread that serves requests runs yet.
pub(crate) fn open_state(config: BrokerConfig) -> Result<Opened> {
    let dirs = config.log_dirs();
    let first = dirs
        .first()
        .cloned()
        .ok_or_else(|| Error::Config("no log directory".into()))?;
    std::fs::create_dir_all(&first)?;
    // Dynamic broker configs kept by an earlier run apply from the start.
    let dynamic = dynamic::DynamicBrokerConfig::load(config, &first)?;
    let config: BrokerConfig = (*dynamic.current()).clone();
    let cluster_config = cluster::ClusterConfig::from_broker(&config)?;
    if !cluster_config.is_single_voter()
        && config.get("cluster.id").is_none()
        && !first.join("meta.properties").exists()
    {
        // Each node would make up its own id and the quorum would never form (Kafka refuses
        // an unformatted directory for the same reason).
        return Err(Error::Config(
            "a node of a multi-voter quorum needs cluster.id (the same on every node) on its first start".into(),
        ));
    }
    let meta = metadata::load_or_create_meta(&first, config.node_id(), config.get("cluster.id"))?;
    let logs = Arc::new(LogManager::open(&dirs, config.log_config()?)?);
    dynamic.attach_logs(Arc::clone(&logs));
    let migration = cluster::migration_records(&first, &logs, meta.node_id)?;
    let cache = Arc::new(cluster::MetadataCache::new(
        kafka_metadata::MetadataImage::new(&meta.cluster_id),
    ));
    let quorum = Arc::new(cluster::MetadataQuorum::start(
        &cluster_config,
        &meta.cluster_id,
        Arc::clone(&cache),
        migration.clone(),
    )?);
    let controller = Arc::new(cluster::channel::ControllerChannel::start(
        meta.node_id,
        Arc::clone(&quorum),
        &cluster_config.voters,
    )?);
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
    let state = Arc::new(BrokerState {
        producers: ProducerIdManager::default(),
        topics: metadata::Topics::new(Arc::clone(&cache)),
        metadata: cache,
        quorum: Arc::clone(&quorum),
        controller,
        broker_epoch: Arc::new(AtomicI64::new(-1)),
        cluster: cluster_config,
        purgatory: Arc::new(FetchPurgatory::default()),
        delayed_produce: Arc::new(ProducePurgatory::default()),
        fetch_sessions: Default::default(),
        groups: GroupService::new(&config, Arc::clone(&logs)),
        config,
        dynamic,
        meta,
        logs,
        configured_endpoints: endpoints,
        bound_endpoints: std::sync::OnceLock::new(),
    });
    state.groups.notify_appends_to(Arc::clone(&state.purgatory));
    // Every committed metadata change reaches the logs and the group coordinator.
    let weak = Arc::downgrade(&state);
    quorum.set_publisher(Box::new(move |before, after| {
        if let Some(state) = weak.upgrade() {
            cluster::publish(&state, before, after);
        }
    }));
    Ok(Opened {
        state,
        migration,
        first,
    })
}

/// Registers with the active controller and heartbeats from now on. A node that is the
/// whole quorum waits until it is unfenced, so it serves its partitions from the first
/// request; in a cluster the others may not be up yet, so the broker carries on and clients
/// retry until it is.
pub(crate) fn register(
    state: &BrokerState,
    migration: &[kafka_metadata::MetadataRecord],
    first_dir: &std::path::Path,
) -> Result<cluster::lifecycle::BrokerLifecycle> {
    let cluster_config = &state.cluster;
    let protocols = state.config.protocol_map()?;
    let listeners = state
        .endpoints()
        .iter()
        .filter(|e| !cluster_config.controller_listeners.contains(&e.listener))
        .map(|e| {
            let protocol = protocols.get(&e.listener).map_or(0, |p| p.id());
            (
                e.listener.clone(),
                e.host.clone(),
                u16::try_from(e.port).unwrap_or(0),
                protocol,
            )
        })
        .collect();
    let registration = cluster::lifecycle::Registration {
        node_id: state.meta.node_id,
        cluster_id: state.meta.cluster_id.clone(),
        rack: cluster_config.rack.clone(),
        listeners,
        heartbeat_interval: Duration::from_millis(cluster_config.heartbeat_interval_ms),
        epoch: Arc::clone(&state.broker_epoch),
        previous_epoch: cluster::lifecycle::take_clean_shutdown_epoch(first_dir),
    };
    let lifecycle = cluster::lifecycle::BrokerLifecycle::start(
        registration,
        Arc::clone(&state.controller),
        Arc::clone(&state.metadata),
    )?;
    if cluster_config.is_single_voter() && !lifecycle.wait_unfenced(Duration::from_secs(30)) {
        return Err(Error::Config(
            "the broker was not unfenced by its own controller within 30 s".into(),
        ));
    }
    cluster::finish_migration(first_dir, migration, &state.metadata.image());
    Ok(lifecycle)
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

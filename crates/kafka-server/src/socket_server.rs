//! `SocketServer`: listeners, Acceptors, Processors, the request channel and the handler pool,
//! started in Kafka's order and shut down gracefully.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::bounded;
use kafka_network::{
    AdvertisedApis, ChannelBuilder, MemoryPool, PlaintextChannelBuilder, Selector, SelectorConfig,
};
use mio::Waker;

use crate::acceptor::{bind, Acceptor, ProcessorInbox};
use crate::config::SocketServerConfig;
use crate::error::{Error, Result};
use crate::handler::{RequestHandler, RequestHandlerPool};
use crate::processor::Processor;
use crate::quotas::ConnectionQuotas;
use crate::request_channel::RequestChannel;

/// Builds a fresh [`ChannelBuilder`] for each Processor of a listener (TLS contexts and SASL
/// settings are shared through `Arc`s inside it).
pub type ChannelBuilderFactory = Arc<dyn Fn() -> Box<dyn ChannelBuilder> + Send + Sync>;

/// Kafka's connection hand-off queue between an Acceptor and a Processor.
const CONNECTION_QUEUE_SIZE: usize = 20;

/// What each listener serves: one table for every listener, with exceptions by listener name.
///
/// A Kafka node that is both broker and controller serves the client APIs on its broker
/// listeners and only the controller's APIs (quorum messages, broker registration and
/// heartbeats) on its controller listener; each listener's Processors refuse what its table
/// does not list.
#[derive(Debug, Clone)]
pub struct ListenerApis {
    default: AdvertisedApis,
    by_listener: HashMap<String, AdvertisedApis>,
}

impl ListenerApis {
    /// Every listener serves `default` unless [`ListenerApis::with_listener`] says otherwise.
    pub fn new(default: AdvertisedApis) -> Self {
        ListenerApis {
            default,
            by_listener: HashMap::new(),
        }
    }

    /// Listener `name` serves `apis` instead of the default.
    pub fn with_listener(mut self, name: impl Into<String>, apis: AdvertisedApis) -> Self {
        self.by_listener.insert(name.into(), apis);
        self
    }

    /// What listener `name` serves.
    pub fn for_listener(&self, name: &str) -> &AdvertisedApis {
        self.by_listener.get(name).unwrap_or(&self.default)
    }
}

impl From<AdvertisedApis> for ListenerApis {
    fn from(default: AdvertisedApis) -> Self {
        ListenerApis::new(default)
    }
}

/// The running network side of a broker.
#[derive(Debug)]
pub struct SocketServer {
    bound: Vec<(String, SocketAddr)>,
    shutdown: Arc<AtomicBool>,
    acceptor_wakers: Vec<Arc<Waker>>,
    processor_wakers: Vec<Arc<Waker>>,
    acceptors: Vec<JoinHandle<()>>,
    processors: Vec<JoinHandle<()>>,
    handlers: Option<RequestHandlerPool>,
    channel: Arc<RequestChannel>,
    quotas: Arc<ConnectionQuotas>,
}

impl SocketServer {
    /// Starts listening and serving with `handler`. `apis` is what the handler serves on each
    /// listener (an [`AdvertisedApis`] for all of them, or a [`ListenerApis`]): a
    /// request for an API or version outside it closes its connection before reaching the
    /// handler (an ApiVersions request newer than advertised gets a v0 UNSUPPORTED_VERSION
    /// answer listing the listener's APIs). `builders` gives the channel builder of each listener by name;
    /// listeners without an entry are plaintext.
    ///
    /// Startup follows Kafka's order: quotas, memory pool, request channel, Processors and
    /// Acceptors (bound before anything is accepted), then the handler pool.
    pub fn start(
        config: SocketServerConfig,
        apis: impl Into<ListenerApis>,
        handler: Arc<dyn RequestHandler>,
        builders: HashMap<String, ChannelBuilderFactory>,
    ) -> Result<Self> {
        let shutdown = Arc::new(AtomicBool::new(false));
        crate::metrics::describe_all();
        let quotas = Arc::new(ConnectionQuotas::new(&config));
        let pool = match config.queued_max_request_bytes {
            Some(bytes) => MemoryPool::bounded(bytes),
            None => MemoryPool::unbounded(),
        };
        let threads = config.num_network_threads.max(1);
        let apis: ListenerApis = apis.into();
        let listener_apis: Vec<Arc<AdvertisedApis>> = config
            .listeners
            .iter()
            .map(|l| Arc::new(apis.for_listener(&l.name).clone()))
            .collect();

        // Bind every listener first, so a port clash fails before any thread starts.
        let mut sockets = Vec::new();
        let mut bound = Vec::new();
        for listener in &config.listeners {
            let socket = bind(listener, &config).map_err(|e| {
                Error::Config(format!(
                    "cannot bind {}://{}:{}: {e}",
                    listener.name, listener.host, listener.port
                ))
            })?;
            bound.push((listener.name.clone(), socket.local_addr()?));
            sockets.push(socket);
        }

        // Selectors first: their wakers address the response queues.
        struct Pending {
            listener: usize,
            id: usize,
            selector: Selector,
            inbox_rx: crossbeam_channel::Receiver<crate::acceptor::NewConnection>,
            response_rx: crossbeam_channel::Receiver<crate::request::Response>,
        }
        let mut pending = Vec::new();
        let mut response_targets = Vec::new();
        let mut inboxes: Vec<Vec<ProcessorInbox>> = vec![Vec::new(); config.listeners.len()];
        let mut processor_wakers = Vec::new();
        for (li, listener) in config.listeners.iter().enumerate() {
            for _ in 0..threads {
                let builder: Box<dyn ChannelBuilder> = match builders.get(&listener.name) {
                    Some(f) => f(),
                    None => Box::new(PlaintextChannelBuilder),
                };
                let selector = Selector::with_builder(
                    SelectorConfig {
                        max_receive_size: config.socket_request_max_bytes,
                        connections_max_idle: config.connections_max_idle,
                        memory_pool: pool.clone(),
                        events_capacity: 1024,
                    },
                    builder,
                )?;
                let waker = selector.waker();
                let (response_tx, response_rx) = RequestChannel::response_queue();
                let (inbox_tx, inbox_rx) = bounded(CONNECTION_QUEUE_SIZE);
                let id = pending.len();
                response_targets.push((response_tx, Arc::clone(&waker)));
                inboxes[li].push(ProcessorInbox {
                    tx: inbox_tx,
                    waker: Arc::clone(&waker),
                });
                processor_wakers.push(waker);
                pending.push(Pending {
                    listener: li,
                    id,
                    selector,
                    inbox_rx,
                    response_rx,
                });
            }
        }
        let channel = Arc::new(RequestChannel::new(
            config.queued_max_requests,
            response_targets,
            Arc::clone(&shutdown),
        ));

        let mut processors = Vec::new();
        for p in pending {
            let processor = Processor::new(
                p.id,
                config.listeners[p.listener].clone(),
                p.selector,
                p.inbox_rx,
                p.response_rx,
                Arc::clone(&channel),
                Arc::clone(&quotas),
                Arc::clone(&shutdown),
                Arc::clone(&listener_apis[p.listener]),
            );
            let grace = config.shutdown_grace;
            let name = format!(
                "kafka-network-thread-{}-{}",
                config.listeners[p.listener].name, p.id
            );
            processors.push(
                std::thread::Builder::new()
                    .name(name)
                    .spawn(move || processor.run(grace))?,
            );
        }

        let mut acceptors = Vec::new();
        let mut acceptor_wakers = Vec::new();
        for ((listener, socket), inbox) in config.listeners.iter().zip(sockets).zip(inboxes) {
            let (acceptor, waker) = Acceptor::new(
                listener.clone(),
                socket,
                inbox,
                Arc::clone(&quotas),
                config.clone(),
                Arc::clone(&shutdown),
            )?;
            acceptor_wakers.push(waker);
            let name = format!("kafka-socket-acceptor-{}", listener.name);
            acceptors.push(
                std::thread::Builder::new()
                    .name(name)
                    .spawn(move || acceptor.run())?,
            );
        }

        let handlers = RequestHandlerPool::start(
            config.num_io_threads,
            Arc::clone(&channel),
            handler,
            Arc::clone(&shutdown),
        )?;
        for (name, addr) in &bound {
            tracing::info!(listener = %name, %addr, "listening");
        }
        Ok(SocketServer {
            bound,
            shutdown,
            acceptor_wakers,
            processor_wakers,
            acceptors,
            processors,
            handlers: Some(handlers),
            channel,
            quotas,
        })
    }

    /// The address each listener is bound to (with the real port when 0 was asked for).
    pub fn bound_addresses(&self) -> &[(String, SocketAddr)] {
        &self.bound
    }

    /// The address of listener `name`.
    pub fn bound_address(&self, name: &str) -> Option<SocketAddr> {
        self.bound.iter().find(|(n, _)| n == name).map(|(_, a)| *a)
    }

    /// Requests waiting for a handler.
    pub fn request_queue_len(&self) -> usize {
        self.channel.request_queue_len()
    }

    /// The connection quotas (counts of open connections).
    pub fn quotas(&self) -> &ConnectionQuotas {
        &self.quotas
    }

    /// The connection quotas, shared, for whoever changes the limits at run time
    /// ([`ConnectionQuotas::update`]).
    pub fn quotas_handle(&self) -> Arc<ConnectionQuotas> {
        Arc::clone(&self.quotas)
    }

    /// Stops accepting, lets Processors write responses already produced (within the
    /// configured grace), closes every connection and joins every thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if self.shutdown.swap(true, Ordering::AcqRel) {
            return;
        }
        for w in &self.acceptor_wakers {
            let _ = w.wake();
        }
        for a in self.acceptors.drain(..) {
            let _ = a.join();
        }
        if let Some(h) = self.handlers.take() {
            h.join();
        }
        for w in &self.processor_wakers {
            let _ = w.wake();
        }
        for p in self.processors.drain(..) {
            let _ = p.join();
        }
    }
}

impl Drop for SocketServer {
    fn drop(&mut self) {
        self.stop();
    }
}

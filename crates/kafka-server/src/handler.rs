//! The request-handler pool (`num.io.threads`) and the trait the broker implements.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kafka_protocol::messages::RequestKind;

use crate::metrics::{handler_idle_gauge, IdleMeter};
use crate::request::{RequestContext, Responder};
use crate::request_channel::RequestChannel;

/// Serves requests; the broker's `KafkaApis` implements it. `handle` runs on a handler thread
/// and must not block for long: work that waits (for data, for a rebalance) keeps the
/// [`Responder`] and answers later, from any thread.
pub trait RequestHandler: Send + Sync + 'static {
    /// Serves one request: `context` says who sent it and how, `body` is what it asks, and
    /// `responder` must be used exactly once (dropping it closes the connection).
    fn handle(&self, context: RequestContext, body: RequestKind, responder: Responder);
}

/// `num.io.threads` threads taking requests from the request queue.
#[derive(Debug)]
pub(crate) struct RequestHandlerPool {
    threads: Vec<JoinHandle<()>>,
}

impl RequestHandlerPool {
    pub(crate) fn start(
        threads: usize,
        channel: Arc<RequestChannel>,
        handler: Arc<dyn RequestHandler>,
        shutdown: Arc<AtomicBool>,
    ) -> std::io::Result<Self> {
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads.max(1) {
            let channel = Arc::clone(&channel);
            let handler = Arc::clone(&handler);
            let shutdown = Arc::clone(&shutdown);
            let handle = std::thread::Builder::new()
                .name(format!("kafka-request-handler-{i}"))
                .spawn(move || run(i, &channel, handler.as_ref(), &shutdown))?;
            handles.push(handle);
        }
        Ok(RequestHandlerPool { threads: handles })
    }

    pub(crate) fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn run(
    index: usize,
    channel: &Arc<RequestChannel>,
    handler: &dyn RequestHandler,
    shutdown: &AtomicBool,
) {
    let mut idle = IdleMeter::new(handler_idle_gauge(index));
    while !shutdown.load(Ordering::Acquire) {
        let waiting = Instant::now();
        let request = channel.receive_request(Duration::from_millis(300));
        let now = Instant::now();
        idle.record_idle(now.saturating_duration_since(waiting), now);
        if let Some(request) = request {
            let (context, body, responder) = request.into_parts(channel);
            handler.handle(context, body, responder);
        }
    }
}

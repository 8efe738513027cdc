//! `RequestChannel`: the bounded queue from the Processors to the handlers, and one response
//! queue per Processor with a waker, so a handler's response wakes exactly the Processor that
//! owns the connection.
//!
//! The request queue holds at most `queued.max.requests`; a Processor that finds it full waits,
//! which stops it reading further requests (backpressure) instead of letting the queue grow.
//! Response queues need no bound of their own: a connection is muted while its request is in
//! flight, so a Processor never has more responses pending than connections.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError, SendTimeoutError, Sender};
use mio::Waker;

use crate::metrics;
use crate::request::{Request, Response};

/// The queues between the network threads and the handler pool.
#[derive(Debug)]
pub(crate) struct RequestChannel {
    request_tx: Sender<Request>,
    request_rx: Receiver<Request>,
    responses: Vec<(Sender<Response>, Arc<Waker>)>,
    shutdown: Arc<AtomicBool>,
}

impl RequestChannel {
    /// A channel with a request queue of `queue_size` and one response queue per Processor
    /// (each with the waker of that Processor's selector).
    pub(crate) fn new(
        queue_size: usize,
        processor_wakers: Vec<(Sender<Response>, Arc<Waker>)>,
        shutdown: Arc<AtomicBool>,
    ) -> Self {
        let (request_tx, request_rx) = bounded(queue_size.max(1));
        RequestChannel {
            request_tx,
            request_rx,
            responses: processor_wakers,
            shutdown,
        }
    }

    /// A fresh response queue, for a Processor being built.
    pub(crate) fn response_queue() -> (Sender<Response>, Receiver<Response>) {
        unbounded()
    }

    /// Queues a request, waiting while the queue is full. Returns the request if the server is
    /// shutting down.
    pub(crate) fn send_request(&self, mut request: Request) -> Result<(), Box<Request>> {
        loop {
            match self
                .request_tx
                .send_timeout(request, Duration::from_millis(100))
            {
                Ok(()) => {
                    metrics::request_queue_size(self.request_tx.len());
                    return Ok(());
                }
                Err(SendTimeoutError::Timeout(r)) | Err(SendTimeoutError::Disconnected(r)) => {
                    if self.shutdown.load(Ordering::Acquire) {
                        return Err(Box::new(r));
                    }
                    request = r;
                }
            }
        }
    }

    /// Takes the next request, waiting up to `timeout`.
    pub(crate) fn receive_request(&self, timeout: Duration) -> Option<Request> {
        match self.request_rx.recv_timeout(timeout) {
            Ok(mut r) => {
                r.context.times.dequeue = Some(Instant::now());
                metrics::request_queue_size(self.request_rx.len());
                Some(r)
            }
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Hands a response to the Processor that owns its connection and wakes it. A response
    /// for a Processor that is gone is dropped.
    pub(crate) fn send_response(&self, mut response: Response) {
        response.times.response_complete = Some(Instant::now());
        if let Some((tx, waker)) = self.responses.get(response.processor) {
            if tx.send(response).is_ok() {
                let _ = waker.wake();
            }
        }
    }

    /// Requests waiting for a handler.
    pub(crate) fn request_queue_len(&self) -> usize {
        self.request_rx.len()
    }
}

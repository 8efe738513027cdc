//! [`ControllerChannel`]: how a broker reaches the active controller, as Kafka's
//! `NodeToControllerChannelManager` does: in process when this node leads the quorum, else over
//! the leader's controller listener with our own network client.
//!
//! The requests that change metadata (broker registration and heartbeats, topic creation and
//! deletion, partitions, configs, producer-id blocks) all take this one path, so a node answers
//! a client the same way whichever node happens to be the active controller.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use kafka_client::config::{CommonConfig, Properties};
use kafka_client::NetworkClient;
use kafka_metadata::{AcceptAllConfigs, ControllerResult, QuorumController};
use kafka_protocol::messages::{AllocateProducerIdsResponse, RequestKind, ResponseKind};
use kafka_protocol::{ApiKey, ErrorCode};
use kafka_raft::Voter;

use super::{MetadataQuorum, Submitted};

/// A controller operation as the active controller runs it, its response already a
/// [`ResponseKind`].
pub(crate) type ControllerOp = Box<
    dyn FnOnce(&mut QuorumController, i64) -> kafka_metadata::Result<ControllerResult<ResponseKind>>
        + Send,
>;

/// Answers a forwarded or local controller request.
pub(crate) type Done = Box<dyn FnOnce(Submitted<ResponseKind>) + Send>;

/// The controller operation a request asks for, if it is one the controller serves.
pub(crate) fn controller_op(request: RequestKind) -> Option<ControllerOp> {
    fn op<R: 'static>(
        f: impl FnOnce(&mut QuorumController, i64) -> kafka_metadata::Result<ControllerResult<R>>
            + Send
            + 'static,
        wrap: fn(R) -> ResponseKind,
    ) -> ControllerOp {
        Box::new(move |c, now| {
            f(c, now).map(|r| ControllerResult {
                response: wrap(r.response),
                records: r.records,
            })
        })
    }
    Some(match request {
        RequestKind::BrokerRegistration(r) => op(
            move |c, now| c.register_broker(now, &r),
            ResponseKind::BrokerRegistration,
        ),
        RequestKind::BrokerHeartbeat(r) => op(
            move |c, now| c.heartbeat(now, &r),
            ResponseKind::BrokerHeartbeat,
        ),
        RequestKind::UnregisterBroker(r) => op(
            move |c, _| c.unregister_broker(&r),
            ResponseKind::UnregisterBroker,
        ),
        RequestKind::AllocateProducerIds(r) => op(
            move |c, _| c.allocate_producer_ids(r.broker_id, r.broker_epoch),
            |block| {
                ResponseKind::AllocateProducerIds(
                    AllocateProducerIdsResponse::default()
                        .with_error_code(block.error.code())
                        .with_producer_id_start(block.first_producer_id)
                        .with_producer_id_len(i32::try_from(block.size).unwrap_or(i32::MAX)),
                )
            },
        ),
        // Brokers check topic configs against their own config table before forwarding
        // (every node runs the same code), so the controller takes them as they come.
        RequestKind::CreateTopics(r) => op(
            move |c, _| c.create_topics(&r, &AcceptAllConfigs),
            ResponseKind::CreateTopics,
        ),
        RequestKind::DeleteTopics(r) => {
            op(move |c, _| c.delete_topics(&r), ResponseKind::DeleteTopics)
        }
        RequestKind::CreatePartitions(r) => op(
            move |c, _| c.create_partitions(&r),
            ResponseKind::CreatePartitions,
        ),
        RequestKind::AlterConfigs(r) => op(
            move |c, _| c.alter_configs(&r, &AcceptAllConfigs),
            ResponseKind::AlterConfigs,
        ),
        RequestKind::IncrementalAlterConfigs(r) => op(
            move |c, _| c.incremental_alter_configs(&r, &AcceptAllConfigs),
            ResponseKind::IncrementalAlterConfigs,
        ),
        _ => return None,
    })
}

struct Forward {
    key: ApiKey,
    request: RequestKind,
    done: Done,
    deadline: Instant,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct ControllerChannel {
    node_id: i32,
    quorum: Arc<MetadataQuorum>,
    queue: Mutex<Option<Sender<Forward>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    forwarding: bool,
}

/// Requests waiting for the forwarding thread before callers are refused.
const QUEUE: usize = 256;

impl ControllerChannel {
    /// A channel over `quorum`; requests for another leader go to its address in `voters`.
    pub(crate) fn start(
        node_id: i32,
        quorum: Arc<MetadataQuorum>,
        voters: &[Voter],
    ) -> std::io::Result<Self> {
        let (queue, thread) = if voters.len() > 1 {
            let (tx, rx) = bounded(QUEUE);
            let voters = voters.to_vec();
            let q = Arc::clone(&quorum);
            let thread = std::thread::Builder::new()
                .name("controller-channel".into())
                .spawn(move || forward_loop(node_id, &q, &voters, &rx))?;
            (Some(tx), Some(thread))
        } else {
            (None, None)
        };
        Ok(ControllerChannel {
            node_id,
            quorum,
            forwarding: queue.is_some(),
            queue: Mutex::new(queue),
            thread: Mutex::new(thread),
        })
    }

    /// Runs `request` on the active controller; `done` gets its response (or the error every
    /// item should carry) from whichever thread learns it.
    pub(crate) fn send(&self, request: RequestKind, timeout: Duration, done: Done) {
        let key = request.api_key();
        if self.quorum.leader() == Some(self.node_id) || !self.forwarding {
            return run_locally(&self.quorum, request, done);
        }
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(queue) = queue else {
            return done(Err(ErrorCode::NotController));
        };
        let forward = Forward {
            key,
            request,
            done,
            deadline: Instant::now() + timeout,
        };
        if let Err(e) = queue.try_send(forward) {
            (e.into_inner().done)(Err(ErrorCode::RequestTimedOut));
        }
    }

    /// [`ControllerChannel::send`], waiting for the answer.
    pub(crate) fn call(&self, request: RequestKind, timeout: Duration) -> Submitted<ResponseKind> {
        let (tx, rx) = bounded(1);
        self.send(
            request,
            timeout,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.recv_timeout(timeout + Duration::from_secs(1))
            .unwrap_or(Err(ErrorCode::RequestTimedOut))
    }

    /// Stops the forwarding thread (queued requests answer REQUEST_TIMED_OUT).
    pub(crate) fn shutdown(&self) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for ControllerChannel {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Runs a controller request on this node's controller (NOT_CONTROLLER unless it is active).
pub(crate) fn run_locally(quorum: &MetadataQuorum, request: RequestKind, done: Done) {
    match controller_op(request) {
        Some(op) => quorum.submit(op, done),
        None => done(Err(ErrorCode::InvalidRequest)),
    }
}

fn forward_loop(node_id: i32, quorum: &MetadataQuorum, voters: &[Voter], rx: &Receiver<Forward>) {
    let bootstrap: Vec<String> = voters
        .iter()
        .map(|v| format!("{}:{}", v.host, v.port))
        .collect();
    let props = Properties::new()
        .with("bootstrap.servers", bootstrap.join(","))
        .with("client.id", format!("broker-{node_id}-controller-channel"));
    let client = CommonConfig::from_properties(&props).and_then(|c| NetworkClient::new(&c));
    let mut client = match client {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "the controller channel cannot start");
            for f in rx.iter() {
                (f.done)(Err(ErrorCode::UnknownServerError));
            }
            return;
        }
    };
    for v in voters {
        if let Ok(id) = i32::try_from(v.id) {
            client.add_node(id, &v.host, v.port);
        }
    }
    for forward in rx.iter() {
        let Forward {
            key,
            request,
            done,
            deadline,
        } = forward;
        let mut request = Some(request);
        let mut done = Some(done);
        let answer = loop {
            let now = Instant::now();
            if now >= deadline {
                break Err(ErrorCode::RequestTimedOut);
            }
            match quorum.leader() {
                Some(leader) if leader == node_id => {
                    // Leadership came here while the request waited.
                    if let (Some(r), Some(d)) = (request.take(), done.take()) {
                        run_locally(quorum, r, d);
                    }
                    break Ok(None);
                }
                Some(leader) => {
                    let Some(body) = request.clone() else {
                        break Err(ErrorCode::UnknownServerError);
                    };
                    match client.send_and_receive(leader, key, None, |_| Ok(body), deadline) {
                        Ok(response) if not_controller(&response) => {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Ok(response) => break Ok(Some(response)),
                        Err(e) => {
                            tracing::debug!(leader, error = %e, "forwarding to the controller failed; retrying");
                            client.disconnect(leader, Instant::now());
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                }
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        let Some(done) = done else {
            // Answered locally above.
            continue;
        };
        match answer {
            Ok(Some(response)) => done(Ok(response)),
            Ok(None) => done(Err(ErrorCode::UnknownServerError)),
            Err(code) => done(Err(code)),
        }
    }
}

/// Whether the controller answered that it no longer leads (ask the new leader).
fn not_controller(response: &ResponseKind) -> bool {
    let code = ErrorCode::NotController.code();
    match response {
        ResponseKind::BrokerRegistration(r) => r.error_code == code,
        ResponseKind::BrokerHeartbeat(r) => r.error_code == code,
        ResponseKind::UnregisterBroker(r) => r.error_code == code,
        ResponseKind::AllocateProducerIds(r) => r.error_code == code,
        ResponseKind::CreateTopics(r) => r.topics.iter().any(|t| t.error_code == code),
        ResponseKind::DeleteTopics(r) => r.responses.iter().any(|t| t.error_code == code),
        ResponseKind::CreatePartitions(r) => r.results.iter().any(|t| t.error_code == code),
        ResponseKind::AlterConfigs(r) => r.responses.iter().any(|t| t.error_code == code),
        ResponseKind::IncrementalAlterConfigs(r) => {
            r.responses.iter().any(|t| t.error_code == code)
        }
        _ => false,
    }
}

//! Produce responses held until their records are durable (Kafka's `DelayedProduce` and its
//! purgatory).
//!
//! With a flush policy (`log.flush.interval.messages`), a Produce append returns before its
//! fsync; the response waits here, keyed by partition, until the log's flusher reports each
//! partition's flushed offset past the request's last offset. A failed fsync answers the
//! partition KAFKA_STORAGE_ERROR, the request timeout REQUEST_TIMED_OUT (as Kafka's
//! `onExpiration`); a flush of one partition looks only at the requests waiting on it.
//!
//! A held request keeps only its response and its [`Responder`].

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kafka_protocol::messages::{ProduceResponse, ResponseKind};
use kafka_protocol::ErrorCode;
use kafka_server::Responder;
use kafka_storage::{DurabilityListener, LogManager, TopicPartition};

/// One partition a held response waits for.
#[derive(Debug)]
pub(crate) struct Wait {
    /// The partition.
    pub(crate) tp: TopicPartition,
    /// Durable once the log's flushed offset reaches this (the request's last offset + 1).
    pub(crate) required: i64,
    /// Where the partition's answer is in the response: topic index, partition index.
    pub(crate) at: (usize, usize),
}

struct Pending {
    response: ProduceResponse,
    /// Partitions not yet durable (or failed).
    waits: Vec<Wait>,
    responder: Responder,
}

impl Pending {
    /// Sets the answer of the partitions `f` picks to `code` (none for success) and stops
    /// waiting for them; `true` when nothing is left to wait for.
    fn settle(&mut self, mut f: impl FnMut(&Wait) -> bool, code: ErrorCode) -> bool {
        let response = &mut self.response;
        self.waits.retain(|w| {
            if !f(w) {
                return true;
            }
            if code != ErrorCode::None {
                if let Some(p) = response
                    .responses
                    .get_mut(w.at.0)
                    .and_then(|t| t.partition_responses.get_mut(w.at.1))
                {
                    p.error_code = code.code();
                }
            }
            false
        });
        self.waits.is_empty()
    }
}

/// One held Produce response.
struct DelayedProduce {
    deadline: Instant,
    /// `None` once completed: whoever takes it sends the response.
    pending: Mutex<Option<Pending>>,
}

impl DelayedProduce {
    fn pending(&self) -> MutexGuard<'_, Option<Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Settles what `f` picks; returns the response and its responder when that completed it.
    fn settle(
        &self,
        f: impl FnMut(&Wait) -> bool,
        code: ErrorCode,
    ) -> Option<(ProduceResponse, Responder)> {
        let mut guard = self.pending();
        let done = guard.as_mut()?.settle(f, code);
        if !done {
            return None;
        }
        guard.take().map(|p| (p.response, p.responder))
    }

    fn is_completed(&self) -> bool {
        self.pending().is_none()
    }

    /// Whether it still waits for `tp` (so stays on that partition's list).
    fn waits_on(&self, tp: &TopicPartition) -> bool {
        self.pending()
            .as_ref()
            .is_some_and(|p| p.waits.iter().any(|w| w.tp == *tp))
    }
}

#[derive(Default)]
struct Inner {
    /// The held responses waiting on each partition.
    watchers: HashMap<TopicPartition, Vec<Arc<DelayedProduce>>>,
    /// Every held response, for expiration.
    all: Vec<Arc<DelayedProduce>>,
    /// When the timer thread wakes next.
    next_wakeup: Option<Instant>,
    shutdown: bool,
}

/// The held Produce responses. Told of flushes as a [`DurabilityListener`]; a timer thread
/// ([`ProducePurgatory::run`]) expires them.
#[derive(Default)]
pub struct ProducePurgatory {
    inner: Mutex<Inner>,
    timer: Condvar,
}

impl std::fmt::Debug for ProducePurgatory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducePurgatory")
            .field("held", &self.len())
            .finish()
    }
}

/// The longest the timer sleeps, so a missed wake-up costs little.
const MAX_TIMER_SLEEP: Duration = Duration::from_secs(1);

impl ProducePurgatory {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of held responses.
    pub fn len(&self) -> usize {
        self.inner().all.len()
    }

    /// Whether no response is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Holds `response` until every partition in `waits` is durable in `logs` (or failed),
    /// or until `timeout`; then `responder` sends it. Completes at once when that is already
    /// so (the flush may have run before the response was held).
    pub(crate) fn hold(
        &self,
        logs: &LogManager,
        response: ProduceResponse,
        waits: Vec<Wait>,
        timeout: Duration,
        responder: Responder,
    ) {
        let deadline = Instant::now() + timeout;
        let partitions: Vec<TopicPartition> = waits.iter().map(|w| w.tp.clone()).collect();
        let op = Arc::new(DelayedProduce {
            deadline,
            pending: Mutex::new(Some(Pending {
                response,
                waits,
                responder,
            })),
        });
        {
            let mut inner = self.inner();
            if inner.shutdown {
                drop(inner);
                finish(op.settle(|_| true, ErrorCode::RequestTimedOut));
                return;
            }
            for tp in partitions {
                inner.watchers.entry(tp).or_default().push(Arc::clone(&op));
            }
            inner.all.push(Arc::clone(&op));
            if inner.next_wakeup.is_none_or(|t| deadline < t) {
                inner.next_wakeup = Some(deadline);
                self.timer.notify_one();
            }
        }
        // Registered first, checked second: a flush reported in between is not missed.
        let ok = op.settle(
            |w| {
                logs.get_log(&w.tp)
                    .is_some_and(|l| !l.is_offline() && l.flushed_offset() >= w.required)
            },
            ErrorCode::None,
        );
        finish(ok);
        let failed = op.settle(
            |w| logs.get_log(&w.tp).is_none_or(|l| l.is_offline()),
            ErrorCode::KafkaStorageError,
        );
        finish(failed);
    }

    /// Settles the responses waiting on `tp` that `f` picks, sending those it completes.
    fn settle_partition(&self, tp: &TopicPartition, f: impl Fn(&Wait) -> bool, code: ErrorCode) {
        let mut ready = Vec::new();
        {
            let mut inner = self.inner();
            let Some(ops) = inner.watchers.get_mut(tp) else {
                return;
            };
            ops.retain(|op| {
                if let Some(done) = op.settle(|w| w.tp == *tp && f(w), code) {
                    ready.push(done);
                    return false;
                }
                op.waits_on(tp)
            });
            if ops.is_empty() {
                inner.watchers.remove(tp);
            }
        }
        for r in ready {
            finish(Some(r));
        }
    }

    /// Stops the timer thread, answering every held response (REQUEST_TIMED_OUT for what is
    /// not durable yet).
    pub fn shutdown(&self) {
        self.inner().shutdown = true;
        self.timer.notify_all();
    }

    /// The timer thread's loop: expires held responses at their deadlines.
    pub fn run(&self) {
        let mut inner = self.inner();
        loop {
            let now = Instant::now();
            let stopping = inner.shutdown;
            let mut expired = Vec::new();
            inner.all.retain(|op| {
                if op.is_completed() {
                    return false;
                }
                if stopping || op.deadline <= now {
                    expired.push(Arc::clone(op));
                    return false;
                }
                true
            });
            if !expired.is_empty() {
                // Drop the expired (and completed) ones from the partition lists too.
                inner.watchers.retain(|_, ops| {
                    ops.retain(|op| !op.is_completed() && op.deadline > now && !stopping);
                    !ops.is_empty()
                });
            }
            inner.next_wakeup = inner.all.iter().map(|op| op.deadline).min();
            drop(inner);
            for op in expired {
                finish(op.settle(|_| true, ErrorCode::RequestTimedOut));
            }
            inner = self.inner();
            if stopping {
                return;
            }
            if inner.shutdown {
                continue;
            }
            let sleep = inner
                .next_wakeup
                .map_or(MAX_TIMER_SLEEP, |t| {
                    t.saturating_duration_since(Instant::now())
                })
                .clamp(Duration::from_millis(1), MAX_TIMER_SLEEP);
            inner = self
                .timer
                .wait_timeout(inner, sleep)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }
}

fn finish(done: Option<(ProduceResponse, Responder)>) {
    if let Some((response, responder)) = done {
        responder.respond(ResponseKind::Produce(response));
    }
}

impl DurabilityListener for ProducePurgatory {
    fn flushed(&self, tp: &TopicPartition, flushed_offset: i64) {
        self.settle_partition(tp, |w| w.required <= flushed_offset, ErrorCode::None);
    }

    fn flush_failed(&self, tp: &TopicPartition, error: &kafka_storage::Error) {
        tracing::error!(partition = %tp, %error, "fsync failed: answering produce requests waiting on it with KAFKA_STORAGE_ERROR");
        self.settle_partition(tp, |_| true, error.error_code());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use kafka_protocol::messages::produce_response::{
        PartitionProduceResponse, TopicProduceResponse,
    };
    use kafka_protocol::{ApiKey, RequestHeader};
    use kafka_server::{Captured, RequestContext, ResponseCapture};

    /// What a held response's responder sent, read as a channel of produce responses.
    struct Answers(ResponseCapture);

    impl Answers {
        fn take(captured: Option<Captured>) -> Result<ProduceResponse, ()> {
            match captured {
                Some(Captured::Response(ResponseKind::Produce(r))) => Ok(r),
                None => Err(()),
                Some(other) => panic!("not a produce response: {other:?}"),
            }
        }

        fn try_recv(&self) -> Result<ProduceResponse, ()> {
            Self::take(self.0.try_take())
        }

        fn recv_timeout(&self, timeout: Duration) -> Result<ProduceResponse, ()> {
            Self::take(self.0.wait(timeout))
        }
    }

    fn response(partitions: i32) -> ProduceResponse {
        ProduceResponse::default().with_responses(vec![TopicProduceResponse::default()
            .with_name("t".into())
            .with_partition_responses(
                (0..partitions)
                    .map(|p| PartitionProduceResponse::default().with_index(p))
                    .collect(),
            )])
    }

    fn wait(p: i32, required: i64) -> Wait {
        Wait {
            tp: TopicPartition::new("t", p),
            required,
            at: (0, p as usize),
        }
    }

    fn codes(r: &ProduceResponse) -> Vec<i16> {
        r.responses[0]
            .partition_responses
            .iter()
            .map(|p| p.error_code)
            .collect()
    }

    struct TempLogs(std::path::PathBuf, LogManager);

    impl TempLogs {
        fn new(name: &str) -> TempLogs {
            let dir = std::env::temp_dir().join(format!(
                "broker-delayed-produce-{name}-{}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            let logs = LogManager::open(
                std::slice::from_ref(&dir),
                kafka_storage::LogConfig::default(),
            )
            .unwrap();
            TempLogs(dir, logs)
        }
    }

    impl Drop for TempLogs {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn hold(
        p: &ProducePurgatory,
        logs: &LogManager,
        parts: i32,
        waits: Vec<Wait>,
        timeout: Duration,
    ) -> Answers {
        let context = RequestContext::detached(
            ApiKey::Produce,
            9,
            RequestHeader::default().with_request_api_key(0),
        );
        let (responder, capture) = Responder::capture(&context);
        p.hold(logs, response(parts), waits, timeout, responder);
        Answers(capture)
    }

    #[test]
    fn completes_when_every_partition_is_durable_and_only_those_flushes_look() {
        let logs = TempLogs::new("complete");
        for p in 0..2 {
            logs.1
                .create_log(&TopicPartition::new("t", p), Default::default())
                .unwrap();
        }
        let p = ProducePurgatory::default();
        let rx = hold(
            &p,
            &logs.1,
            2,
            vec![wait(0, 5), wait(1, 3)],
            Duration::from_secs(30),
        );
        p.flushed(&TopicPartition::new("t", 0), 5);
        assert!(rx.try_recv().is_err(), "partition 1 is not durable yet");
        p.flushed(&TopicPartition::new("t", 1), 2);
        assert!(rx.try_recv().is_err());
        p.flushed(&TopicPartition::new("t", 1), 3);
        assert_eq!(codes(&rx.try_recv().unwrap()), vec![0, 0]);
        assert!(p.inner().watchers.is_empty());
    }

    #[test]
    fn a_failed_flush_answers_kafka_storage_error() {
        let logs = TempLogs::new("failed");
        for p in 0..2 {
            logs.1
                .create_log(&TopicPartition::new("t", p), Default::default())
                .unwrap();
        }
        let p = ProducePurgatory::default();
        let rx = hold(
            &p,
            &logs.1,
            2,
            vec![wait(0, 5), wait(1, 3)],
            Duration::from_secs(30),
        );
        p.flush_failed(
            &TopicPartition::new("t", 1),
            &kafka_storage::Error::Io(std::io::Error::other("EIO")),
        );
        p.flushed(&TopicPartition::new("t", 0), 9);
        assert_eq!(codes(&rx.try_recv().unwrap()), vec![0, 56]);
    }

    #[test]
    fn times_out_as_kafka_and_completes_at_once_when_already_durable() {
        let logs = TempLogs::new("timeout");
        let tp = TopicPartition::new("t", 0);
        let log = logs.1.create_log(&tp, Default::default()).unwrap();
        let p = Arc::new(ProducePurgatory::default());
        let timer = {
            let p = Arc::clone(&p);
            std::thread::spawn(move || p.run())
        };
        let rx = hold(&p, &logs.1, 1, vec![wait(0, 1)], Duration::from_millis(50));
        let r = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(codes(&r), vec![ErrorCode::RequestTimedOut.code()]);
        // Flushed before the response is held: answered at once.
        log.append_as_leader(
            {
                let mut b = kafka_protocol::records::RecordBatchBuilder::new();
                b.append(0, None, Some(b"v")).unwrap();
                b.build().unwrap()
            },
            0,
            0,
        )
        .unwrap();
        log.flush().unwrap();
        let rx = hold(&p, &logs.1, 1, vec![wait(0, 1)], Duration::from_secs(30));
        assert_eq!(codes(&rx.try_recv().unwrap()), vec![0]);
        // Shutdown answers what is held.
        let rx = hold(&p, &logs.1, 1, vec![wait(0, 7)], Duration::from_secs(30));
        p.shutdown();
        timer.join().unwrap();
        assert_eq!(
            codes(&rx.try_recv().unwrap()),
            vec![ErrorCode::RequestTimedOut.code()]
        );
    }
}

//! The server's metrics, named as the Prometheus JMX exporter names Kafka's MBeans, so a Kafka
//! operator's dashboards and alerts carry over. Each name is defined once here.
//!
//! Handles are registered once per (API, version) and per Processor and then held, so the
//! request path never formats a metric name.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kafka_protocol::ApiKey;
use metrics::{Counter, Gauge, Histogram};

/// Every metric name this crate emits, with what it measures.
pub const METRICS: &[(&str, &str)] = &[
    (
        REQUESTS_TOTAL,
        "Requests per API and version (RequestMetrics RequestsPerSec).",
    ),
    (
        TOTAL_TIME_MS,
        "Total time of a request per API, from read to sent (TotalTimeMs).",
    ),
    (
        REQUEST_QUEUE_TIME_MS,
        "Time in the request queue (RequestQueueTimeMs).",
    ),
    (LOCAL_TIME_MS, "Time in the handler (LocalTimeMs)."),
    (
        REMOTE_TIME_MS,
        "Time parked waiting (delayed produce/fetch, rebalances) (RemoteTimeMs).",
    ),
    (
        RESPONSE_QUEUE_TIME_MS,
        "Time in the Processor's response queue (ResponseQueueTimeMs).",
    ),
    (
        RESPONSE_SEND_TIME_MS,
        "Time writing the response (ResponseSendTimeMs).",
    ),
    (REQUEST_BYTES, "Request sizes per API (RequestBytes)."),
    (RESPONSE_BYTES, "Response sizes per API."),
    (
        ERRORS_TOTAL,
        "Errors per API and error code (ErrorsPerSec).",
    ),
    (
        REQUEST_QUEUE_SIZE,
        "Requests waiting for a handler (RequestChannel RequestQueueSize).",
    ),
    (
        RESPONSE_QUEUE_SIZE,
        "Responses waiting for their Processor (ResponseQueueSize).",
    ),
    (
        NETWORK_PROCESSOR_IDLE,
        "Fraction of time the Processors wait for I/O (NetworkProcessorAvgIdlePercent).",
    ),
    (
        REQUEST_HANDLER_IDLE,
        "Fraction of time the handlers wait for requests (RequestHandlerAvgIdlePercent).",
    ),
    (
        CONNECTION_COUNT,
        "Open connections per listener (socket-server-metrics connection-count).",
    ),
    (
        CONNECTION_CREATION_TOTAL,
        "Connections accepted per listener (connection-creation-rate).",
    ),
    (
        CONNECTION_CLOSE_TOTAL,
        "Connections closed per listener (connection-close-rate).",
    ),
    (
        CONNECTIONS_REJECTED_TOTAL,
        "Connections refused by a quota, per listener and reason.",
    ),
    (
        RESPONDER_DROPPED_TOTAL,
        "Requests whose handler dropped the responder unanswered, per API; each closed its connection.",
    ),
    (
        FILE_BYTES_COPIED_TOTAL,
        "Log file bytes read into memory to be sent, per listener: 0 on plaintext, where fetches use sendfile.",
    ),
];

pub(crate) const REQUESTS_TOTAL: &str = "kafka_network_requestmetrics_requests_total";
pub(crate) const TOTAL_TIME_MS: &str = "kafka_network_requestmetrics_totaltimems";
pub(crate) const REQUEST_QUEUE_TIME_MS: &str = "kafka_network_requestmetrics_requestqueuetimems";
pub(crate) const LOCAL_TIME_MS: &str = "kafka_network_requestmetrics_localtimems";
pub(crate) const REMOTE_TIME_MS: &str = "kafka_network_requestmetrics_remotetimems";
pub(crate) const RESPONSE_QUEUE_TIME_MS: &str = "kafka_network_requestmetrics_responsequeuetimems";
pub(crate) const RESPONSE_SEND_TIME_MS: &str = "kafka_network_requestmetrics_responsesendtimems";
pub(crate) const REQUEST_BYTES: &str = "kafka_network_requestmetrics_requestbytes";
pub(crate) const RESPONSE_BYTES: &str = "kafka_network_requestmetrics_responsebytes";
pub(crate) const ERRORS_TOTAL: &str = "kafka_network_requestmetrics_errors_total";
pub(crate) const REQUEST_QUEUE_SIZE: &str = "kafka_network_requestchannel_requestqueuesize";
pub(crate) const RESPONSE_QUEUE_SIZE: &str = "kafka_network_requestchannel_responsequeuesize";
pub(crate) const NETWORK_PROCESSOR_IDLE: &str =
    "kafka_network_socketserver_networkprocessoravgidlepercent";
pub(crate) const REQUEST_HANDLER_IDLE: &str =
    "kafka_server_kafkarequesthandlerpool_requesthandleravgidlepercent";
pub(crate) const CONNECTION_COUNT: &str = "kafka_server_socket_server_metrics_connection_count";
pub(crate) const CONNECTION_CREATION_TOTAL: &str =
    "kafka_server_socket_server_metrics_connection_creation_total";
pub(crate) const CONNECTION_CLOSE_TOTAL: &str =
    "kafka_server_socket_server_metrics_connection_close_total";
pub(crate) const CONNECTIONS_REJECTED_TOTAL: &str =
    "kafka_server_socket_server_metrics_connections_rejected_total";
pub(crate) const RESPONDER_DROPPED_TOTAL: &str = "kafka_server_responder_dropped_total";
pub(crate) const FILE_BYTES_COPIED_TOTAL: &str =
    "kafka_server_socket_server_metrics_file_bytes_copied_total";

/// Registers the description of every metric, so the Prometheus page carries `# HELP` lines.
pub fn describe_all() {
    for (name, help) in METRICS {
        match *name {
            REQUESTS_TOTAL
            | ERRORS_TOTAL
            | CONNECTION_CREATION_TOTAL
            | CONNECTION_CLOSE_TOTAL
            | CONNECTIONS_REJECTED_TOTAL
            | RESPONDER_DROPPED_TOTAL
            | FILE_BYTES_COPIED_TOTAL => {
                metrics::describe_counter!(*name, *help)
            }
            REQUEST_QUEUE_SIZE
            | RESPONSE_QUEUE_SIZE
            | NETWORK_PROCESSOR_IDLE
            | REQUEST_HANDLER_IDLE
            | CONNECTION_COUNT => {
                metrics::describe_gauge!(*name, *help)
            }
            _ => metrics::describe_histogram!(*name, *help),
        }
    }
}

pub(crate) fn request_queue_size(n: usize) {
    metrics::gauge!(REQUEST_QUEUE_SIZE).set(n as f64);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Handles for one (API, version), held by a Processor.
#[derive(Debug)]
struct ApiHandles {
    requests: Counter,
    total: Histogram,
    request_queue: Histogram,
    local: Histogram,
    remote: Histogram,
    response_queue: Histogram,
    response_send: Histogram,
    request_bytes: Histogram,
    response_bytes: Histogram,
}

impl ApiHandles {
    fn new(api: ApiKey, version: i16) -> Self {
        let name = api.name();
        ApiHandles {
            requests: metrics::counter!(REQUESTS_TOTAL, "request" => name, "version" => version.to_string()),
            total: metrics::histogram!(TOTAL_TIME_MS, "request" => name),
            request_queue: metrics::histogram!(REQUEST_QUEUE_TIME_MS, "request" => name),
            local: metrics::histogram!(LOCAL_TIME_MS, "request" => name),
            remote: metrics::histogram!(REMOTE_TIME_MS, "request" => name),
            response_queue: metrics::histogram!(RESPONSE_QUEUE_TIME_MS, "request" => name),
            response_send: metrics::histogram!(RESPONSE_SEND_TIME_MS, "request" => name),
            request_bytes: metrics::histogram!(REQUEST_BYTES, "request" => name),
            response_bytes: metrics::histogram!(RESPONSE_BYTES, "request" => name),
        }
    }
}

/// A Processor's request metrics.
#[derive(Debug, Default)]
pub(crate) struct RequestMetrics {
    handles: HashMap<(ApiKey, i16), ApiHandles>,
}

/// The timestamps of one finished request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Completed {
    pub(crate) start: Instant,
    pub(crate) dequeue: Option<Instant>,
    pub(crate) api_local_complete: Option<Instant>,
    pub(crate) response_complete: Option<Instant>,
    pub(crate) response_dequeue: Option<Instant>,
    pub(crate) send_complete: Instant,
}

impl RequestMetrics {
    fn handles(&mut self, api: ApiKey, version: i16) -> &ApiHandles {
        self.handles
            .entry((api, version))
            .or_insert_with(|| ApiHandles::new(api, version))
    }

    pub(crate) fn request_received(&mut self, api: ApiKey, version: i16, bytes: usize) {
        let h = self.handles(api, version);
        h.requests.increment(1);
        h.request_bytes.record(bytes as f64);
    }

    pub(crate) fn response_sent(&mut self, api: ApiKey, version: i16, bytes: usize, t: Completed) {
        let h = self.handles(api, version);
        h.response_bytes.record(bytes as f64);
        let dequeue = t.dequeue.unwrap_or(t.start);
        let local_done = t
            .api_local_complete
            .or(t.response_complete)
            .unwrap_or(dequeue);
        let response_complete = t.response_complete.unwrap_or(local_done);
        let response_dequeue = t.response_dequeue.unwrap_or(response_complete);
        h.request_queue
            .record(ms(dequeue.saturating_duration_since(t.start)));
        h.local
            .record(ms(local_done.saturating_duration_since(dequeue)));
        h.remote
            .record(ms(response_complete.saturating_duration_since(local_done)));
        h.response_queue.record(ms(
            response_dequeue.saturating_duration_since(response_complete)
        ));
        h.response_send.record(ms(t
            .send_complete
            .saturating_duration_since(response_dequeue)));
        h.total
            .record(ms(t.send_complete.saturating_duration_since(t.start)));
    }
}

/// Errors per API and code; recorded by whoever builds the response.
pub fn record_error(api: ApiKey, error: kafka_protocol::ErrorCode) {
    metrics::counter!(ERRORS_TOTAL, "request" => api.name(), "error" => error.name()).increment(1);
}

/// A handler dropped a responder without answering.
pub(crate) fn responder_dropped(api: ApiKey) {
    metrics::counter!(RESPONDER_DROPPED_TOTAL, "request" => api.name()).increment(1);
}

/// A ratio of idle time over a window, published as a gauge (Kafka's idle-percent meters).
#[derive(Debug)]
pub(crate) struct IdleMeter {
    gauge: Gauge,
    window_start: Instant,
    idle: Duration,
}

impl IdleMeter {
    pub(crate) fn new(gauge: Gauge) -> Self {
        IdleMeter {
            gauge,
            window_start: Instant::now(),
            idle: Duration::ZERO,
        }
    }

    pub(crate) fn record_idle(&mut self, idle: Duration, now: Instant) {
        self.idle += idle;
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= Duration::from_secs(1) {
            self.gauge
                .set((self.idle.as_secs_f64() / elapsed.as_secs_f64()).min(1.0));
            self.window_start = now;
            self.idle = Duration::ZERO;
        }
    }
}

pub(crate) fn processor_idle_gauge(listener: &str, processor: usize) -> Gauge {
    metrics::gauge!(NETWORK_PROCESSOR_IDLE, "listener" => listener.to_string(), "networkProcessor" => processor.to_string())
}

pub(crate) fn handler_idle_gauge(thread: usize) -> Gauge {
    metrics::gauge!(REQUEST_HANDLER_IDLE, "thread" => thread.to_string())
}

pub(crate) fn connection_count(listener: &str) -> Gauge {
    metrics::gauge!(CONNECTION_COUNT, "listener" => listener.to_string())
}

pub(crate) fn file_bytes_copied(listener: &str) -> Counter {
    metrics::counter!(FILE_BYTES_COPIED_TOTAL, "listener" => listener.to_string())
}

pub(crate) fn connection_created(listener: &str) -> Counter {
    metrics::counter!(CONNECTION_CREATION_TOTAL, "listener" => listener.to_string())
}

pub(crate) fn connection_closed(listener: &str) -> Counter {
    metrics::counter!(CONNECTION_CLOSE_TOTAL, "listener" => listener.to_string())
}

pub(crate) fn connection_rejected(listener: &str, reason: &'static str) {
    metrics::counter!(CONNECTIONS_REJECTED_TOTAL, "listener" => listener.to_string(), "reason" => reason).increment(1);
}

pub(crate) fn response_queue_gauge(processor: usize) -> Gauge {
    metrics::gauge!(RESPONSE_QUEUE_SIZE, "processor" => processor.to_string())
}

//! HTTP metrics of `wasmkv serve`: every answered request by status class
//! and WASI generation, its duration, requests in flight, open connections,
//! and the requests admission refused (503) or that timed out (504).

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

use crate::component::Generation;

/// Request durations from 100 µs (a cached get) to 10 s (a slow store).
const REQUEST_SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The HTTP side of one server.
pub struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    /// Requests received and not yet finished sending their response.
    pub in_flight: IntGauge,
    /// Connections accepted and not yet closed.
    pub connections: IntGauge,
    /// Requests answered 503 by admission (`--max-concurrency`, the queue).
    pub refused: IntCounter,
    /// Requests answered 504 (`--timeout`).
    pub timed_out: IntCounter,
}

impl HttpMetrics {
    pub(super) fn new(registry: &Registry) -> prometheus::Result<Self> {
        let requests = IntCounterVec::new(
            Opts::new(
                "wasmkv_http_requests_total",
                "HTTP requests answered, by status class (2xx, 4xx, 5xx…) and the handler's WASI generation",
            ),
            &["status", "wasi"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "wasmkv_http_request_duration_seconds",
                "From a request's arrival to the end of its response body",
            )
            .buckets(REQUEST_SECONDS.to_vec()),
            &["wasi"],
        )?;
        let in_flight = IntGauge::new(
            "wasmkv_http_requests_in_flight",
            "Requests received and not yet answered in full",
        )?;
        let connections = IntGauge::new(
            "wasmkv_http_open_connections",
            "Client connections open now",
        )?;
        let refused = IntCounter::new(
            "wasmkv_http_requests_refused_total",
            "Requests answered 503 at admission: --max-concurrency busy and the queue full, or --timeout passed while queued",
        )?;
        let timed_out = IntCounter::new(
            "wasmkv_http_requests_timed_out_total",
            "Requests answered 504: not answered within --timeout",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(connections.clone()))?;
        registry.register(Box::new(refused.clone()))?;
        registry.register(Box::new(timed_out.clone()))?;
        Ok(Self {
            requests,
            duration,
            in_flight,
            connections,
            refused,
            timed_out,
        })
    }

    /// The two series a finished request of `generation` lands in, looked
    /// up once per server rather than per request.
    pub fn for_generation(&self, generation: Generation) -> RequestSeries {
        let wasi = generation.version();
        let by_class = ["1xx", "2xx", "3xx", "4xx", "5xx"]
            .map(|class| self.requests.with_label_values(&[class, wasi]));
        RequestSeries {
            by_class,
            duration: self.duration.with_label_values(&[wasi]),
            in_flight: self.in_flight.clone(),
        }
    }
}

/// Where one generation's requests are counted.
#[derive(Clone)]
pub struct RequestSeries {
    by_class: [IntCounter; 5],
    duration: Histogram,
    in_flight: IntGauge,
}

impl RequestSeries {
    /// A request has arrived: it is in flight until [`RequestSeries::finished`].
    pub fn started(&self) {
        self.in_flight.inc();
    }

    /// A request's response with `status` is sent (or abandoned) after
    /// `seconds`.
    pub fn finished(&self, status: u16, seconds: f64) {
        self.in_flight.dec();
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.by_class[class].inc();
        self.duration.observe(seconds);
    }
}

//! What the stores tell of their own work, as metrics labelled by store:
//! SQLite's commit batches, commit time, where reads ran and the WAL's
//! size; Redis's lost connections, redirects, resends, failovers and
//! `WAIT` time. A store's series appear with its first event of a kind.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
};
use wasmkv_engine::StoreEvents;

/// Writes per SQLite commit: group commit batches up to 256.
const WRITES_PER_COMMIT: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Commit (fsync) times, from a page-cache write to a slow disk.
const COMMIT_SECONDS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// `WAIT` times under `wait_replicas`, up to a store's timeout.
const WAIT_SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Every store's series, one family per metric.
pub struct StoreMetrics {
    commit_writes: HistogramVec,
    commit_seconds: HistogramVec,
    reads: IntCounterVec,
    wal_bytes: IntGaugeVec,
    reconnects: IntCounterVec,
    redirects: IntCounterVec,
    resends: IntCounterVec,
    failovers: IntCounterVec,
    wait_seconds: HistogramVec,
    /// The SQLite stores' files, whose WAL each scrape measures.
    files: OnceLock<Vec<(String, PathBuf)>>,
}

impl StoreMetrics {
    pub(super) fn new(registry: &Registry) -> prometheus::Result<Self> {
        let histogram = |name: &str, help: &str, buckets: &[f64]| {
            let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
            let metric = HistogramVec::new(opts, &["store"])?;
            registry.register(Box::new(metric.clone()))?;
            Ok::<_, prometheus::Error>(metric)
        };
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let metric = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(metric.clone()))?;
            Ok::<_, prometheus::Error>(metric)
        };
        let wal_bytes = IntGaugeVec::new(
            Opts::new(
                "wasmkv_sqlite_wal_bytes",
                "Size of the SQLite store's write-ahead log file (FILE-wal), read at each scrape",
            ),
            &["store"],
        )?;
        registry.register(Box::new(wal_bytes.clone()))?;
        Ok(Self {
            commit_writes: histogram(
                "wasmkv_sqlite_commit_writes",
                "Writes per SQLite commit (group commit: one transaction and one fsync for every write waiting)",
                WRITES_PER_COMMIT,
            )?,
            commit_seconds: histogram(
                "wasmkv_sqlite_commit_duration_seconds",
                "Time of one SQLite group commit, BEGIN to COMMIT (fsync) included",
                COMMIT_SECONDS,
            )?,
            reads: counter(
                "wasmkv_sqlite_reads_total",
                "SQLite reads, by where they ran: inline (on the calling thread, never waiting for disk or locks) or pool (tokio's blocking pool)",
                &["store", "mode"],
            )?,
            wal_bytes,
            reconnects: counter(
                "wasmkv_redis_reconnects_total",
                "Redis connections lost (the client connects again) or, for Sentinel and tls_server_name links, made again",
                &["store"],
            )?,
            redirects: counter(
                "wasmkv_redis_redirects_total",
                "Redis Cluster commands wasmkv sent again to the node a MOVED or ASK reply named",
                &["store"],
            )?,
            resends: counter(
                "wasmkv_redis_resends_total",
                "Redis commands sent again after a reply saying they did not run (TRYAGAIN, CLUSTERDOWN, READONLY, a refused connection)",
                &["store"],
            )?,
            failovers: counter(
                "wasmkv_redis_failovers_total",
                "Times Sentinel named a new primary for the store",
                &["store"],
            )?,
            wait_seconds: histogram(
                "wasmkv_redis_wait_duration_seconds",
                "Time of a write and its WAIT under wait_replicas",
                WAIT_SECONDS,
            )?,
            files: OnceLock::new(),
        })
    }

    /// The SQLite stores' files, for the WAL gauge.
    pub fn watch_files(&self, files: Vec<(String, PathBuf)>) {
        let _ = self.files.set(files);
    }

    /// Reads each SQLite store's WAL size now (0 when there is none).
    pub(super) fn measure(&self) {
        for (store, file) in self.files.get().into_iter().flatten() {
            let mut wal = file.clone().into_os_string();
            wal.push("-wal");
            let bytes = std::fs::metadata(&wal).map_or(0, |m| m.len());
            self.wal_bytes
                .with_label_values(&[store])
                .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
    }

    /// The listener of store `store`.
    pub fn listener(self: &Arc<Self>, store: &str) -> Arc<StoreListener> {
        Arc::new(StoreListener {
            store: store.to_string(),
            metrics: self.clone(),
            sqlite: OnceLock::new(),
            redis: OnceLock::new(),
        })
    }
}

/// One store's listener: its series, looked up on its first event.
pub struct StoreListener {
    store: String,
    metrics: Arc<StoreMetrics>,
    sqlite: OnceLock<SqliteSeries>,
    redis: OnceLock<RedisSeries>,
}

struct SqliteSeries {
    commit_writes: Histogram,
    commit_seconds: Histogram,
    inline: IntCounter,
    pool: IntCounter,
}

struct RedisSeries {
    reconnects: IntCounter,
    redirects: IntCounter,
    resends: IntCounter,
    failovers: IntCounter,
    wait_seconds: Histogram,
}

impl StoreListener {
    fn sqlite(&self) -> &SqliteSeries {
        self.sqlite.get_or_init(|| {
            let (m, store) = (&self.metrics, self.store.as_str());
            SqliteSeries {
                commit_writes: m.commit_writes.with_label_values(&[store]),
                commit_seconds: m.commit_seconds.with_label_values(&[store]),
                inline: m.reads.with_label_values(&[store, "inline"]),
                pool: m.reads.with_label_values(&[store, "pool"]),
            }
        })
    }

    fn redis(&self) -> &RedisSeries {
        self.redis.get_or_init(|| {
            let (m, store) = (&self.metrics, self.store.as_str());
            RedisSeries {
                reconnects: m.reconnects.with_label_values(&[store]),
                redirects: m.redirects.with_label_values(&[store]),
                resends: m.resends.with_label_values(&[store]),
                failovers: m.failovers.with_label_values(&[store]),
                wait_seconds: m.wait_seconds.with_label_values(&[store]),
            }
        })
    }
}

impl StoreEvents for StoreListener {
    fn committed(&self, writes: usize, elapsed: Duration) {
        let series = self.sqlite();
        series.commit_writes.observe(writes as f64);
        series.commit_seconds.observe(elapsed.as_secs_f64());
    }

    fn read(&self, inline: bool) {
        let series = self.sqlite();
        if inline {
            series.inline.inc();
        } else {
            series.pool.inc();
        }
    }

    fn reconnected(&self) {
        self.redis().reconnects.inc();
    }

    fn redirected(&self) {
        self.redis().redirects.inc();
    }

    fn resent(&self) {
        self.redis().resends.inc();
    }

    fn failover(&self) {
        self.redis().failovers.inc();
    }

    fn waited_for_replicas(&self, elapsed: Duration) {
        self.redis().wait_seconds.observe(elapsed.as_secs_f64());
    }
}

//! Prometheus metrics: one recorder per process, rendered at `/metrics`.
//!
//! Services record through the `metrics` macros; the names are listed in each
//! service's own module where they are recorded, and each service describes
//! its own (`# HELP`) when it builds. Described here: what every service
//! exports, the HTTP metrics, `dependency_up` and the process's own
//! (`process_resident_memory_bytes`, CPU, open files: read at each render).

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();

/// Latency buckets in seconds, from 100 µs to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
const SIZE_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0,
];

/// Installs the recorder on first use and returns its handle.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_size".into()), SIZE_BUCKETS)
                })
                .map(|b| b.install_recorder());
            match recorder {
                Ok(Ok(handle)) => {
                    keep_up(handle.clone());
                    describe_shared();
                    Some(handle)
                }
                Ok(Err(e)) | Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// `# HELP` of the metrics every service exports.
fn describe_shared() {
    metrics::describe_counter!(
        "http_requests_total",
        metrics::Unit::Count,
        "HTTP requests answered, by route pattern, method and status."
    );
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by route pattern, method and status."
    );
    metrics::describe_gauge!(
        "dependency_up",
        "1 if the dependency (redis, postgres) answered this process's last readiness check, 0 if not."
    );
    PROCESS
        .get_or_init(metrics_process::Collector::default)
        .describe();
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The recorder keeps each histogram sample until it is folded into the
/// buckets, which a scrape does; unscraped, a busy service's memory grew by
/// every sample (vote: to ~70 MB after 3 M requests). A thread folds them.
fn keep_up(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_EVERY);
            handle.run_upkeep();
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "metrics upkeep thread not started; histograms fold only when scraped");
    }
}

/// The metrics in Prometheus text format.
pub fn render() -> String {
    if let Some(process) = PROCESS.get() {
        process.collect();
    }
    handle().map(PrometheusHandle::render).unwrap_or_default()
}

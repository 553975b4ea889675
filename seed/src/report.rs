//! The summary of a run: throughput, latency percentiles and errors by kind.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub url: String,
    pub concurrency: usize,
    /// Sending threads the connections were shared out over.
    pub threads: usize,
    pub voters: u64,
    pub split: String,
    pub sent: u64,
    pub ok: u64,
    pub ok_a: u64,
    pub ok_b: u64,
    /// Errors by kind: `http 503`, `connect`, `timeout`, `other`.
    pub errors: BTreeMap<String, u64>,
    pub elapsed_s: f64,
    pub requests_per_s: f64,
    pub latency_ms: Latency,
    /// What latency is measured from: the intended send time with `--rate`.
    pub latency_from: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    /// From a histogram of microseconds.
    pub fn from_micros(histogram: &Histogram<u64>) -> Self {
        let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
        Self {
            p50: ms(0.5),
            p90: ms(0.9),
            p99: ms(0.99),
            p999: ms(0.999),
            max: histogram.max() as f64 / 1000.0,
        }
    }
}

impl Summary {
    pub fn errors_total(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn rate(sent: u64, elapsed: Duration) -> f64 {
        if elapsed.is_zero() {
            0.0
        } else {
            sent as f64 / elapsed.as_secs_f64()
        }
    }

    pub fn table(&self) -> String {
        let mut out = format!(
            "\nseed: {} votes sent to {} in {:.2} s ({} at once on {} thread{}, {} voters, split {})\n\
             \x20 ok           {} (a {}, b {})\n\
             \x20 errors       {}\n",
            self.sent,
            self.url,
            self.elapsed_s,
            self.concurrency,
            self.threads,
            if self.threads == 1 { "" } else { "s" },
            self.voters,
            self.split,
            self.ok,
            self.ok_a,
            self.ok_b,
            self.errors_total()
        );
        for (kind, n) in &self.errors {
            out.push_str(&format!("    {kind:<12} {n}\n"));
        }
        out.push_str(&format!(
            "  requests/s   {:.0}\n  latency ms   p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}\n  (from {})\n",
            self.requests_per_s,
            self.latency_ms.p50,
            self.latency_ms.p90,
            self.latency_ms.p99,
            self.latency_ms.p999,
            self.latency_ms.max,
            self.latency_from
        ));
        out
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

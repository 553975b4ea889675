//! The summary of a run: throughput, latency percentiles (of the successes;
//! the failures' on their own) and errors by kind, and the thresholds it
//! crossed, which set seed's exit code as k6's thresholds do. (The HTML
//! report is [`crate::page`].)

use crate::tally::TallyCheck;
use crate::timeline::LATE_AFTER;
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
    /// Of the successes only.
    pub latency_ms: Latency,
    /// Of the failures, when there were any.
    pub failed_latency_ms: Option<Latency>,
    /// What latency is measured from: the intended send time with `--rate`.
    pub latency_from: &'static str,
    /// Open model only: votes sent later than they were due (by more than
    /// [`LATE_AFTER`]), and votes due before the run ended that were never sent.
    pub late: Option<u64>,
    pub dropped: Option<u64>,
    /// With `--check-tally`: whether every acknowledged vote reached the tally.
    pub tally_check: Option<TallyCheck>,
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
        if let Some(failed) = &self.failed_latency_ms {
            out.push_str(&format!(
                "  failures ms  p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}\n  (not in the latency above)\n",
                failed.p50, failed.p90, failed.p99, failed.p999, failed.max
            ));
        }
        if let (Some(late), Some(dropped)) = (self.late, self.dropped) {
            out.push_str(&format!(
                "  late         {late} (sent more than {} ms after due)\n  dropped      {dropped} (due before the run ended, never sent)\n",
                LATE_AFTER.as_millis()
            ));
        }
        if let Some(check) = &self.tally_check {
            out.push_str(&format!("  tally        {}\n", check.detail));
        }
        out
    }

    /// Failed requests over those sent (0 when none was sent).
    pub fn error_rate(&self) -> f64 {
        if self.sent == 0 {
            0.0
        } else {
            self.errors_total() as f64 / self.sent as f64
        }
    }

    /// A line for each threshold this run crossed: `--max-error-rate` (any
    /// error when 0) and `--max-p99-ms` (of the successes).
    pub fn thresholds_crossed(&self, max_error_rate: f64, max_p99_ms: Option<f64>) -> Vec<String> {
        let mut crossed = Vec::new();
        if self.error_rate() > max_error_rate {
            crossed.push(format!(
                "error rate {:.4} ({} of {}) is above --max-error-rate {max_error_rate}",
                self.error_rate(),
                self.errors_total(),
                self.sent
            ));
        }
        if let Some(max) = max_p99_ms {
            if self.ok == 0 || self.latency_ms.p99 > max {
                crossed.push(format!(
                    "p99 latency {:.2} ms ({} successes) is above --max-p99-ms {max}",
                    self.latency_ms.p99, self.ok
                ));
            }
        }
        crossed
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(sent: u64, errors: u64, p99: f64) -> Summary {
        let latency = Latency {
            p50: p99 / 2.0,
            p90: p99,
            p99,
            p999: p99,
            max: p99,
        };
        Summary {
            url: "http://vote/".into(),
            concurrency: 1,
            threads: 1,
            voters: sent,
            split: "1:1".into(),
            sent,
            ok: sent - errors,
            ok_a: sent - errors,
            ok_b: 0,
            errors: BTreeMap::from([("http 503".to_owned(), errors)]),
            elapsed_s: 1.0,
            requests_per_s: sent as f64,
            latency_ms: latency,
            failed_latency_ms: None,
            latency_from: "the time each vote was sent (closed model)",
            late: None,
            dropped: None,
            tally_check: None,
        }
    }

    #[test]
    fn each_threshold_crossed_is_named() {
        assert!(summary(100, 0, 5.0)
            .thresholds_crossed(0.0, Some(10.0))
            .is_empty());
        assert!(summary(100, 1, 5.0)
            .thresholds_crossed(0.01, None)
            .is_empty());
        let crossed = summary(100, 2, 12.0).thresholds_crossed(0.01, Some(10.0));
        assert_eq!(crossed.len(), 2, "{crossed:?}");
        assert!(crossed[0].contains("--max-error-rate 0.01"), "{crossed:?}");
        assert!(crossed[1].contains("--max-p99-ms 10"), "{crossed:?}");
    }
}

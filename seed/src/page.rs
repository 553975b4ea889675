//! `--report FILE`: the run as one HTML page that opens anywhere without a
//! network, as k6's web report and vegeta's plot do: the settings, the
//! summary, and charts of throughput, latency (p50, p99), errors and, in an
//! open model, the target rate against the achieved one with the votes late
//! and dropped, second by second; then the latency histogram. The charts are
//! inline SVG laid out by [`crate::chart`], the styles inline, no script:
//! askama renders it, escaping every text it is given.

use crate::chart::{self, Chart, Series, HEIGHT, WIDTH};
use crate::plan::Plan;
use crate::report::Latency;
use crate::run::Run;
use crate::tally::Verdict;
use crate::timeline::{Sample, LATE_AFTER};
use askama::Template;

#[derive(Template)]
#[template(path = "report.html")]
pub struct ReportPage {
    pub title: String,
    /// The command line's settings, as name and value.
    pub settings: Vec<(&'static str, String)>,
    /// The summary's figures, as name and value.
    pub figures: Vec<(&'static str, String)>,
    pub errors: Vec<(String, u64)>,
    /// The tally check's sentence and whether it passed.
    pub tally: Option<(bool, String)>,
    pub charts: Vec<Chart>,
    pub width: f64,
    pub height: f64,
}

/// The page of a run made by `plan`.
pub fn render(plan: &Plan, run: &Run) -> anyhow::Result<String> {
    Ok(ReportPage::new(plan, run).render()?)
}

impl ReportPage {
    pub fn new(plan: &Plan, run: &Run) -> Self {
        let summary = &run.summary;
        let mut figures = vec![
            ("votes sent", summary.sent.to_string()),
            (
                "acknowledged",
                format!("{} (a {}, b {})", summary.ok, summary.ok_a, summary.ok_b),
            ),
            (
                "errors",
                format!(
                    "{} ({:.2}% of those sent)",
                    summary.errors_total(),
                    summary.error_rate() * 100.0
                ),
            ),
            ("run time", format!("{:.2} s", summary.elapsed_s)),
            ("requests/s", format!("{:.0}", summary.requests_per_s)),
            ("latency ms", percentiles(&summary.latency_ms)),
            ("latency from", summary.latency_from.to_owned()),
        ];
        if let Some(failed) = &summary.failed_latency_ms {
            figures.push(("failures ms", percentiles(failed)));
        }
        if let (Some(late), Some(dropped)) = (summary.late, summary.dropped) {
            figures.push((
                "late",
                format!(
                    "{late} (sent more than {} ms after due)",
                    LATE_AFTER.as_millis()
                ),
            ));
            figures.push((
                "dropped",
                format!("{dropped} (due before the run ended, never sent)"),
            ));
        }
        Self {
            title: format!("seed: {} votes to {}", summary.sent, summary.url),
            settings: settings(plan, summary.threads),
            figures,
            errors: summary
                .errors
                .iter()
                .map(|(kind, n)| (kind.clone(), *n))
                .collect(),
            tally: summary
                .tally_check
                .as_ref()
                .map(|check| (check.verdict == Verdict::Reached, check.detail.clone())),
            charts: charts(run, summary.late.is_some()),
            width: WIDTH,
            height: HEIGHT,
        }
    }
}

fn percentiles(latency: &Latency) -> String {
    format!(
        "p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        latency.p50, latency.p90, latency.p99, latency.p999, latency.max
    )
}

/// The settings the run was made with, each as the flag that sets it.
fn settings(plan: &Plan, threads: usize) -> Vec<(&'static str, String)> {
    let duration = |d: std::time::Duration| humantime::format_duration(d).to_string();
    let mut settings = vec![("--url", plan.url.clone())];
    match &plan.stages {
        Some(stages) => settings.push((
            "--stages",
            stages
                .0
                .iter()
                .map(|s| format!("{}:{}", duration(s.duration), s.rate))
                .collect::<Vec<_>>()
                .join(","),
        )),
        None => {
            settings.push(("--votes", plan.votes.to_string()));
            settings.push((
                "--rate",
                plan.rate
                    .map_or("none (as fast as answered)".into(), |r| format!("{r}/s")),
            ));
        }
    }
    settings.push(("--duration", plan.duration.map_or("none".into(), duration)));
    settings.push(("--concurrency", plan.concurrency.to_string()));
    settings.push(("--threads", threads.to_string()));
    settings.push(("--split", format!("{}:{}", plan.split.0, plan.split.1)));
    settings.push((
        "--voters",
        match plan.voters {
            _ if plan.fresh => "a new one per vote (--fresh)".into(),
            Some(voters) => voters.to_string(),
            None => "one per vote".into(),
        },
    ));
    if let Some(seed) = &plan.voter_seed {
        settings.push(("--voter-seed", seed.clone()));
    }
    settings.push(("--visit", plan.visit.to_string()));
    settings.push(("--wait", duration(plan.wait)));
    settings.push(("--max-error-rate", plan.max_error_rate.to_string()));
    if let Some(p99) = plan.max_p99_ms {
        settings.push(("--max-p99-ms", p99.to_string()));
    }
    if let Some(url) = &plan.check_tally {
        settings.push(("--check-tally", url.clone()));
        settings.push(("--check-tally-within", duration(plan.check_tally_within)));
    }
    settings
}

/// The charts of a run; the schedule's only in an open model.
fn charts(run: &Run, open: bool) -> Vec<Chart> {
    let samples = &run.samples;
    let seconds = samples.last().map_or(0.0, |s| s.second as f64 + s.length_s);
    // Each sample is drawn at the middle of the time it covers.
    let at = |s: &Sample| s.second as f64 + s.length_s / 2.0;
    let series = |name, class, value: &dyn Fn(&Sample) -> Option<f64>| Series {
        name,
        class,
        points: samples
            .iter()
            .filter_map(|s| value(s).map(|v| (at(s), v)))
            .collect(),
    };
    let mut charts = vec![chart::lines(
        "throughput",
        "Throughput",
        "votes/s",
        seconds,
        vec![series("acknowledged/s", "ok", &|s| Some(s.ok_per_s()))],
    )];
    if open {
        charts.push(chart::lines(
            "schedule",
            "Target against achieved rate",
            "votes/s",
            seconds,
            vec![
                series("target/s", "target", &|s| {
                    Some(s.due_per_s().unwrap_or(0.0))
                }),
                series("answered/s", "achieved", &|s| Some(s.answered_per_s())),
                series("late/s", "late", &|s| Some(s.late as f64 / s.length_s)),
                series("dropped/s", "dropped", &|s| {
                    Some(s.dropped as f64 / s.length_s)
                }),
            ],
        ));
    }
    charts.push(chart::lines(
        "latency",
        "Latency of the successes",
        "ms",
        seconds,
        vec![
            series("p50", "p50", &|s| s.p50_ms),
            series("p99", "p99", &|s| s.p99_ms),
        ],
    ));
    charts.push(chart::lines(
        "errors",
        "Errors",
        "errors/s",
        seconds,
        vec![series("errors/s", "errors", &|s| Some(s.errors_per_s()))],
    ));
    charts.push(chart::histogram(
        "histogram",
        "Latency histogram of the successes",
        &run.latency,
    ));
    charts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Summary;
    use crate::tally::{TallyCheck, Totals};
    use clap::Parser;
    use hdrhistogram::Histogram;

    /// A 3 s open-model run at 100 votes/s of which 5 were dropped.
    fn run() -> Run {
        let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for micros in (1..=295).map(|n| 500 + n * 40) {
            latency.record(micros).unwrap();
        }
        let latency_ms = Latency::from_micros(&latency);
        let samples = (0..3)
            .map(|second| Sample {
                second,
                length_s: 1.0,
                ok: 100 - 2 * second,
                errors: second,
                late: second,
                p50_ms: Some(2.0 + second as f64),
                p99_ms: Some(9.0 + second as f64),
                due: Some(100),
                dropped: if second == 2 { 5 } else { 0 },
            })
            .collect();
        Run {
            summary: Summary {
                url: "http://vote/?a=<b>&c".into(),
                concurrency: 4,
                threads: 2,
                voters: 295,
                split: "2:1".into(),
                sent: 298,
                ok: 295,
                ok_a: 197,
                ok_b: 98,
                errors: [("http 503".to_owned(), 3)].into(),
                elapsed_s: 3.0,
                requests_per_s: 99.3,
                latency_ms,
                failed_latency_ms: None,
                latency_from: "the time each vote was due (open model)",
                late: Some(3),
                dropped: Some(5),
                tally_check: Some(TallyCheck {
                    url: "http://result/api/results".into(),
                    verdict: Verdict::Reached,
                    detail: "every acknowledged vote reached the tally".into(),
                    before: Some(Totals { a: 0, b: 0 }),
                    after: Some(Totals { a: 197, b: 98 }),
                    expected: None,
                    waited_s: 1.0,
                }),
            },
            samples,
            latency,
        }
    }

    /// The element `<svg id="{id}"`'s markup.
    fn svg<'a>(html: &'a str, id: &str) -> &'a str {
        let start = html
            .find(&format!("<svg id=\"{id}\""))
            .unwrap_or_else(|| panic!("no chart {id}"));
        let end = start + html[start..].find("</svg>").expect("the chart ends");
        &html[start..end]
    }

    /// The points of each polyline of a chart.
    fn polylines(svg: &str) -> Vec<usize> {
        svg.split("points=\"")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap().split_whitespace().count())
            .collect()
    }

    #[test]
    fn the_page_needs_no_network_and_every_chart_has_data() {
        let plan = Plan::parse_from([
            "seed",
            "--url",
            "http://vote/?a=<b>&c",
            "--rate",
            "100",
            "--duration",
            "3s",
            "--voter-seed",
            "\"><script>alert(1)</script>",
        ]);
        let html = render(&plan, &run()).unwrap();
        for attribute in ["src=", "href=", "url(", "@import", "<script", "<link"] {
            assert!(!html.contains(attribute), "{attribute} in the page");
        }
        assert!(
            !html.contains("http://www.w3.org"),
            "inline SVG needs no namespace"
        );
        // Settings are text, escaped as askama escapes HTML.
        assert!(html.contains("<td>&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;</td>"));
        assert!(html.contains("<td>http://vote/?a=&#60;b&#62;&#38;c</td>"));
        for id in ["throughput", "schedule", "latency", "errors"] {
            let lines = polylines(svg(&html, id));
            assert!(
                !lines.is_empty() && lines.iter().all(|n| *n == 3),
                "{id}: {lines:?}"
            );
        }
        assert_eq!(polylines(svg(&html, "schedule")).len(), 4);
        assert!(
            svg(&html, "histogram")
                .matches("<rect class=\"bar\"")
                .count()
                >= 3
        );
        assert!(html.contains("id=\"tally\" class=\"verdict pass\""));
        assert!(html.contains("<th>dropped</th><td>5 (due before the run ended"));
    }

    #[test]
    fn a_closed_model_run_has_no_schedule_chart() {
        let plan = Plan::parse_from(["seed", "--votes", "300"]);
        let mut run = run();
        run.summary.late = None;
        run.summary.dropped = None;
        let html = render(&plan, &run).unwrap();
        assert!(!html.contains("<svg id=\"schedule\""));
        assert!(!html.contains("<th>dropped</th>") && !html.contains("dropped/s"));
        assert_eq!(polylines(svg(&html, "throughput")), vec![3]);
    }
}

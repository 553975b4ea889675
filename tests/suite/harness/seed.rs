//! Running the `seed` binary as a user or a Job runs it: its exit status,
//! its printed table and its JSON summary.

use super::{binaries, TestDir};

/// Runs seed with `args` plus `--quiet`: its output (the table on stderr).
pub async fn run(args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(binaries::path("seed"))
        .args(args)
        .arg("--quiet")
        .output()
        .await
        .expect("run seed")
}

/// Runs seed with `args` to success; its JSON summary and its printed table.
pub async fn summary(args: &[&str], dir: &TestDir) -> (serde_json::Value, String) {
    let summary_path = dir.join("seed.json");
    let path = summary_path.to_str().expect("a UTF-8 test path");
    let args: Vec<&str> = args.iter().copied().chain(["--json", path]).collect();
    let out = run(&args).await;
    let table = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "seed failed: {table}");
    let summary = serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    (summary, table)
}

/// The charts of a report page `html`, as (id, points of its longest line,
/// histogram bars): what a reader would see drawn.
pub fn report_charts(html: &str) -> Vec<(String, usize, usize)> {
    html.split("<svg id=\"")
        .skip(1)
        .map(|chart| {
            let id = chart.split('"').next().unwrap_or_default().to_owned();
            let chart = chart.split("</svg>").next().unwrap_or_default();
            let points = chart
                .split("points=\"")
                .skip(1)
                .map(|p| {
                    p.split('"')
                        .next()
                        .unwrap_or_default()
                        .split_whitespace()
                        .count()
                })
                .max()
                .unwrap_or(0);
            let bars = chart.matches("<rect class=\"bar\"").count();
            (id, points, bars)
        })
        .collect()
}

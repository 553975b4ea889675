//! The benchmark table: each figure with ours, the baseline measured in the
//! same run, their ratio and the target, printed and written as JSON.
//!
//! Input: a TSV file, one figure a line:
//! `figure<TAB>ours<TAB>baseline<TAB>unit<TAB>target<TAB>note`, where target is
//! `>=X` (ours/baseline must be at least X), `<=X`, or `-` (reported only).

use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The collected figures.
    #[arg(long)]
    input: String,
    /// Where to write the JSON.
    #[arg(long)]
    json: String,
}

#[derive(Debug, Serialize)]
struct Figure {
    figure: String,
    ours: Option<f64>,
    baseline: Option<f64>,
    unit: String,
    ratio: Option<f64>,
    target: String,
    met: Option<bool>,
    note: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.input)?;
    let figures: Vec<Figure> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse)
        .collect();
    println!(
        "\n{:<44} {:>12} {:>12} {:>9} {:>8} {:>5}  unit / note",
        "figure", "ours", "baseline", "ratio", "target", "met"
    );
    for f in &figures {
        let show = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into());
        println!(
            "{:<44} {:>12} {:>12} {:>9} {:>8} {:>5}  {} {}",
            f.figure,
            show(f.ours),
            show(f.baseline),
            show(f.ratio),
            f.target,
            match f.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            },
            f.unit,
            f.note
        );
    }
    let machine = serde_json::json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
    });
    let doc = serde_json::json!({ "machine": machine, "figures": figures });
    std::fs::write(&args.json, serde_json::to_string_pretty(&doc)?)?;
    println!("\nwritten to {}", args.json);
    Ok(())
}

fn parse(line: &str) -> Figure {
    let cols: Vec<&str> = line.split('\t').collect();
    let col = |i: usize| cols.get(i).copied().unwrap_or("").trim().to_owned();
    let num = |i: usize| col(i).parse::<f64>().ok();
    let (ours, baseline) = (num(1), num(2));
    let ratio = match (ours, baseline) {
        (Some(o), Some(b)) if b != 0.0 => Some(o / b),
        _ => None,
    };
    let target = col(4);
    let met = ratio.and_then(|r| {
        if let Some(x) = target
            .strip_prefix(">=")
            .and_then(|x| x.parse::<f64>().ok())
        {
            Some(r >= x)
        } else {
            target
                .strip_prefix("<=")
                .and_then(|x| x.parse::<f64>().ok())
                .map(|x| r <= x)
        }
    });
    Figure {
        figure: col(0),
        ours,
        baseline,
        unit: col(3),
        ratio,
        target,
        met,
        note: col(5),
    }
}

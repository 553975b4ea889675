use clap::Parser;
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let plan = seed::plan::Plan::parse();
    match seed::run::cast(&plan).await {
        Ok(run) => {
            let summary = &run.summary;
            eprint!("{}", summary.table());
            if let Some(path) = &plan.json {
                if let Err(e) = std::fs::write(path, summary.json()) {
                    eprintln!("seed: writing {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            if let Some(path) = &plan.report {
                let written = seed::page::render(&plan, &run)
                    .and_then(|html| Ok(std::fs::write(path, html)?));
                if let Err(e) = written {
                    eprintln!("seed: writing {}: {e:#}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            let crossed = summary.thresholds_crossed(plan.max_error_rate, plan.max_p99_ms);
            for line in &crossed {
                eprintln!("seed: threshold crossed: {line}");
            }
            let tally_failed = summary.tally_check.as_ref().filter(|c| !c.passed());
            if let Some(check) = tally_failed {
                eprintln!("seed: tally check failed: {}", check.detail);
            }
            if crossed.is_empty() && tally_failed.is_none() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("seed: {e:#}");
            ExitCode::from(2)
        }
    }
}

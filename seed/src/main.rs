use clap::Parser;
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let plan = seed::plan::Plan::parse();
    match seed::run::cast(&plan).await {
        Ok(summary) => {
            eprint!("{}", summary.table());
            if let Some(path) = &plan.json {
                if let Err(e) = std::fs::write(path, summary.json()) {
                    eprintln!("seed: writing {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            let crossed = summary.thresholds_crossed(plan.max_error_rate, plan.max_p99_ms);
            for line in &crossed {
                eprintln!("seed: threshold crossed: {line}");
            }
            if crossed.is_empty() {
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

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
            if summary.errors_total() == 0 {
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

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    if let Some(code) = common::cli::handle_args(&worker::config::USAGE) {
        return code;
    }
    common::telemetry::init();
    let config = match worker::config::Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("worker: {e}");
            return ExitCode::from(2);
        }
    };
    let stop = common::shutdown::on_signal();
    match worker::startup::Application::build(config, stop) {
        Ok(app) => match app.run_until_stopped().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = ?e, "worker stopped with an error");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            tracing::error!(error = ?e, "worker could not start");
            eprintln!("worker: {e:#}");
            ExitCode::FAILURE
        }
    }
}

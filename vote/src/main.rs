use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    if let Some(code) = common::cli::handle_args(&vote::config::USAGE) {
        return code;
    }
    common::telemetry::init();
    let config = match vote::config::Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("vote: {e}");
            return ExitCode::from(2);
        }
    };
    let stop = common::shutdown::on_signal();
    match vote::startup::Application::build(config, stop) {
        Ok(app) => match app.run_until_stopped().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = ?e, "vote stopped with an error");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            tracing::error!(error = ?e, "vote could not start");
            eprintln!("vote: {e:#}");
            ExitCode::FAILURE
        }
    }
}

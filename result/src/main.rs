//! The `result` binary: configuration from the environment, then the service
//! until SIGTERM or SIGINT.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::cli::run_service(
        &result::config::USAGE,
        result::config::Config::from_env,
        |config, stop| Ok(result::startup::Application::build(config, stop)?.run_until_stopped()),
    )
    .await
}

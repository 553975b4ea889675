//! The `worker` binary: configuration from the environment, then the service
//! until SIGTERM or SIGINT.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::cli::run_service(
        &worker::config::USAGE,
        worker::config::Config::from_env,
        |config, stop| Ok(worker::startup::Application::build(config, stop)?.run_until_stopped()),
    )
    .await
}

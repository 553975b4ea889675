//! The `vote` binary: configuration from the environment, then the service
//! until SIGTERM or SIGINT.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::cli::run_service(
        &vote::config::USAGE,
        vote::config::Config::from_env,
        |config, stop| Ok(vote::startup::Application::build(config, stop)?.run_until_stopped()),
    )
    .await
}

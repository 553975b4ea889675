//! The `worker` binary: configuration from the environment, then the service
//! until SIGTERM or SIGINT; `worker migrate` only brings the schema up to date.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if std::env::args().nth(1).as_deref() == Some("migrate") {
        return worker::migrate::command().await;
    }
    common::cli::run_service(
        &worker::config::USAGE,
        worker::config::Config::from_env,
        |config, stop| Ok(worker::startup::Application::build(config, stop)?.run_until_stopped()),
    )
    .await
}

//! Graceful stop: SIGTERM (Kubernetes, Docker) and SIGINT (Ctrl-C) both ask the
//! service to stop accepting work, finish what is in flight and exit 0.

use tokio_util::sync::CancellationToken;

/// Resolves when the process receives SIGTERM or SIGINT, naming the signal.
pub async fn signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

/// A token cancelled on the first SIGTERM or SIGINT.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let name = signal().await;
        // Cancel first: nothing that logging does may keep the service running.
        cancel.cancel();
        tracing::info!(signal = name, "stopping gracefully");
    });
    token
}

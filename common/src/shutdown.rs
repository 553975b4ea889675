//! Graceful stop: SIGTERM (Kubernetes, Docker) and SIGINT (Ctrl-C) both ask the
//! service to stop accepting work, finish what is in flight and exit 0. A
//! second one during that drain stops the process at once, with the exit
//! code a shell reports for death by that signal (128 + its number: 143 for
//! SIGTERM, 130 for SIGINT): whoever presses Ctrl-C twice means now.

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// The stop signals, listened for from start to exit (so that none is lost
/// between the first and the second).
struct StopSignals {
    term: Signal,
    int: Signal,
}

impl StopSignals {
    fn install() -> Option<Self> {
        Some(Self {
            term: signal(SignalKind::terminate()).ok()?,
            int: signal(SignalKind::interrupt()).ok()?,
        })
    }

    /// The next SIGTERM or SIGINT: its name and the exit code that says
    /// the process ended by it.
    async fn next(&mut self) -> (&'static str, u8) {
        tokio::select! {
            _ = self.term.recv() => ("SIGTERM", 128 + 15),
            _ = self.int.recv() => ("SIGINT", 128 + 2),
        }
    }
}

/// A token cancelled on the first SIGTERM or SIGINT; the second exits the
/// process at once.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let Some(mut signals) = StopSignals::install() else {
            tracing::error!("cannot install signal handlers; stop with SIGKILL");
            return;
        };
        let (name, _) = signals.next().await;
        // Cancel first: nothing that logging does may keep the service running.
        cancel.cancel();
        tracing::info!(
            signal = name,
            "stopping gracefully (a second SIGTERM or SIGINT stops at once)"
        );
        let (name, code) = signals.next().await;
        tracing::warn!(
            signal = name,
            exit_code = code,
            "stopping now: second stop signal"
        );
        std::process::exit(code.into());
    });
    token
}

//! The drain after a stop request: from the first SIGTERM readiness answers
//! 503 ([`Draining`]) while the servers keep serving, so load balancers take
//! the endpoint out before anything is refused; [`Drain::over`] then tells
//! the servers to stop accepting (see [`super::serve`]) and long-lived
//! answers to end.

use tokio_util::sync::CancellationToken;

/// Whether the service is stopping: from the first SIGTERM on, `/readyz`
/// answers 503 so load balancers stop sending new connections, while the
/// server keeps serving for the drain time (see `serve`).
#[derive(Debug, Clone)]
pub struct Draining(CancellationToken);

impl Draining {
    /// Draining once `stop` is cancelled.
    pub(super) fn new(stop: &CancellationToken) -> Self {
        Self(stop.clone())
    }

    pub fn is_draining(&self) -> bool {
        self.0.is_cancelled()
    }
}

/// The drain after a stop request, shared by every service: `stop` is
/// cancelled on SIGTERM (from then on `/readyz` answers 503 while new
/// connections are still answered), and [`Drain::over`] `time` later, when the
/// server stops accepting, lets the requests in flight finish, and
/// long-lived answers (result's event streams) end.
#[derive(Debug, Clone)]
pub struct Drain {
    over: CancellationToken,
}

impl Drain {
    /// Starts timing the drain: it is over `time` after `stop` is cancelled.
    pub fn after(stop: &CancellationToken, time: std::time::Duration) -> Self {
        let over = CancellationToken::new();
        let (stop, ending) = (stop.clone(), over.clone());
        tokio::spawn(async move {
            stop.cancelled().await;
            if !time.is_zero() {
                tracing::info!(
                    drain_ms = time.as_millis() as u64,
                    "readiness now 503; serving until the drain time is over"
                );
            }
            tokio::time::sleep(time).await;
            ending.cancel();
        });
        Self { over }
    }

    /// Cancelled when the drain time is over.
    pub fn over(&self) -> &CancellationToken {
        &self.over
    }
}

//! A TCP relay in front of a server that can make the connections open at
//! one moment stall: no byte moves either way and nothing is closed (no FIN,
//! no reset), as when a pod is deleted behind a Service or a network
//! partitions. Connections opened later are relayed as usual. A stall lasts
//! until [`StallingProxy::resume`], or for good, as a vanished server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug)]
pub struct StallingProxy {
    pub port: u16,
    /// Connections numbered below this are stalled (0: none).
    stalled_below: watch::Sender<u64>,
    opened: Arc<AtomicU64>,
    accepting: tokio::task::JoinHandle<()>,
}

impl StallingProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let port = listener.local_addr().unwrap().port();
        let (stalled_below, gate) = watch::channel(0u64);
        let opened = Arc::new(AtomicU64::new(1));
        let numbering = opened.clone();
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let number = numbering.fetch_add(1, Ordering::SeqCst);
                let (from_client, to_client) = client.into_split();
                let (from_server, to_server) = server.into_split();
                tokio::spawn(relay(from_client, to_server, number, gate.clone()));
                tokio::spawn(relay(from_server, to_client, number, gate.clone()));
            }
        });
        Self {
            port,
            stalled_below,
            opened,
            accepting,
        }
    }

    /// A Redis URL through this proxy.
    pub fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Every connection open now stalls.
    pub fn stall(&self) {
        let below = self.opened.load(Ordering::SeqCst);
        self.stalled_below.send_replace(below);
    }

    /// Stalled connections carry their bytes again.
    pub fn resume(&self) {
        self.stalled_below.send_replace(0);
    }
}

/// Copies one direction of connection `number`, holding every read (and the
/// end of the stream) while the connection is stalled. Ends when the proxy
/// is dropped.
async fn relay(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    number: u64,
    mut gate: watch::Receiver<u64>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = tokio::select! {
            read = from.read(&mut buffer) => read.unwrap_or(0),
            _ = gate.wait_for(|_| false) => return,
        };
        if gate.wait_for(|below| number >= *below).await.is_err() {
            return;
        }
        if read == 0 {
            let _ = to.shutdown().await;
            return;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

impl Drop for StallingProxy {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

//! A stand-in HTTP/1.1 server whose answers follow a script: for the n-th
//! request (from 0, over every connection), how long to wait and which status
//! to answer. What a GC pause, a failover or a failing backend looks like
//! from a load generator, without a service behind it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The response to one request: a delay, then a status with an empty body.
#[derive(Debug, Clone, Copy)]
pub struct ScriptedResponse {
    pub delay: Duration,
    pub status: u16,
}

impl ScriptedResponse {
    pub const OK: ScriptedResponse = ScriptedResponse {
        delay: Duration::ZERO,
        status: 200,
    };
}

/// Serves on a free loopback port until the test's runtime ends.
pub async fn start(script: fn(usize) -> ScriptedResponse) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let served = served.clone();
            tokio::spawn(async move {
                let mut pending = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    // One request: the head, then content-length bytes of body.
                    let head_end = loop {
                        if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => pending.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&pending[..head_end]).to_lowercase();
                    let body: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while pending.len() < head_end + body {
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => pending.extend_from_slice(&chunk[..n]),
                        }
                    }
                    pending.drain(..head_end + body);
                    let response = script(served.fetch_add(1, Ordering::Relaxed));
                    // The scripted delay under test (a stall, a slow refusal).
                    tokio::time::sleep(response.delay).await;
                    let head = format!(
                        "HTTP/1.1 {} Scripted\r\ncontent-length: 0\r\n\r\n",
                        response.status
                    );
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

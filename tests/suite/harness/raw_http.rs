//! HTTP/1.1 written by hand on a plain TCP socket, for the requests no client
//! library sends (conflicting lengths, no `Host`, pipelining), and the checks
//! both services must pass with them.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub async fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port)).await.unwrap()
}

/// Reads from `connection` until `bytes` holds `wanted`, or fails after 10 s.
pub async fn read_until(connection: &mut TcpStream, bytes: &mut Vec<u8>, wanted: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(bytes).contains(wanted) {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, connection.read(&mut chunk))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{wanted:?} did not arrive within 10 s; got {:?}",
                    String::from_utf8_lossy(bytes)
                )
            })
            .unwrap();
        assert!(
            n > 0,
            "closed before {wanted:?}; got {:?}",
            String::from_utf8_lossy(bytes)
        );
        bytes.extend_from_slice(&chunk[..n]);
    }
}

/// Sends `request` on a new connection and returns all it gets until closed.
pub async fn exchange(port: u16, request: &[u8]) -> String {
    let mut connection = connect(port).await;
    connection.write_all(request).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        connection.read_to_end(&mut response),
    )
    .await
    .expect("the server closes the connection")
    .unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

/// What a service on `port` must do with crafted requests to `path` (a GET
/// route that answers 200): refuse ambiguous framing and a missing or
/// doubled `Host` with 400, read a chunked body, response
/// `Expect: 100-continue` before the body is sent.
pub async fn refuses_ambiguous_requests_and_reads_valid_ones(port: u16, path: &str) {
    let refused: [(&str, String); 4] = [
        (
            "two Content-Length values",
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nContent-Length: 0\r\n\r\nabcd"),
        ),
        (
            "a signed Content-Length",
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nContent-Length: +4\r\n\r\nabcd"),
        ),
        (
            "HTTP/1.1 without Host",
            format!("GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n"),
        ),
        (
            "two Host headers",
            format!("GET {path} HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n"),
        ),
    ];
    for (what, request) in refused {
        let response = exchange(port, request.as_bytes()).await;
        assert!(
            response.starts_with("HTTP/1.1 400 "),
            "{what}: 400 expected, got {response:?}"
        );
    }

    let chunked = format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"
    );
    let response = exchange(port, chunked.as_bytes()).await;
    assert!(
        response.starts_with("HTTP/1.1 200 "),
        "a chunked body: {response:?}"
    );

    let mut connection = connect(port).await;
    let waiting = format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\nConnection: close\r\n\r\n"
    );
    connection.write_all(waiting.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    read_until(&mut connection, &mut bytes, "HTTP/1.1 100 Continue\r\n\r\n").await;
    connection.write_all(b"abcd").await.unwrap();
    read_until(&mut connection, &mut bytes, "HTTP/1.1 200 OK\r\n").await;
}

/// HEAD `path` answers 200 with the headers and nothing after them.
pub async fn head_answers_without_a_body(port: u16, path: &str) {
    let request = format!("HEAD {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let response = exchange(port, request.as_bytes()).await;
    assert!(
        response.starts_with("HTTP/1.1 200 OK\r\n"),
        "HEAD {path}: {response:?}"
    );
    assert!(
        response.ends_with("\r\n\r\n"),
        "HEAD {path} sent a body: {response:?}"
    );
}

/// Thousands of requests with made-up methods leave `/metrics` small: they
/// are counted under one method label.
pub async fn made_up_methods_add_no_metric_series(base: &str) {
    let client = super::http_client(false);
    let series = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("http_requests_total{"))
            .count()
    };
    let before = super::page_text(&format!("{base}/metrics")).await;
    for n in 0..3000 {
        let method =
            reqwest::Method::from_bytes(format!("MADEUP{n:04}{}", "X".repeat(200)).as_bytes())
                .unwrap();
        let res = client
            .request(method, format!("{base}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405);
    }
    let after = super::page_text(&format!("{base}/metrics")).await;
    assert!(!after.contains("MADEUP"), "a made-up method became a label");
    assert!(after.contains("method=\"other\""), "{after}");
    assert!(
        series(&after) <= series(&before) + 3,
        "series grew from {} to {}",
        series(&before),
        series(&after)
    );
    assert!(
        after.len() < before.len() + 8192,
        "{} -> {} bytes",
        before.len(),
        after.len()
    );
}

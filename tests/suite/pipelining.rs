//! Pipelined HTTP/1.1 on one kept-alive connection, as a proxy or a hostile
//! client sends it: each response framed for its own request, a client that
//! never reads costs the server neither memory nor CPU, and nothing after
//! `Connection: close` is processed (RFC 9112 9.3, 9.6). These failed on
//! actix-http 3.20.0 and pass with `patches/actix-http`.

use crate::harness::raw_http::{self, connect};
use crate::harness::{page_text, Stack};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// A request a test pipelines, with what its response must carry.
#[derive(Debug, Clone, Copy)]
struct Asked {
    method: &'static str,
    path: &'static str,
    version: &'static str,
}

impl Asked {
    const fn new(method: &'static str, path: &'static str, version: &'static str) -> Self {
        Self {
            method,
            path,
            version,
        }
    }

    fn text(&self, last: bool) -> String {
        let connection = match (last, self.version) {
            (true, _) => "Connection: close\r\n",
            (false, "HTTP/1.0") => "Connection: keep-alive\r\n",
            (false, _) => "",
        };
        format!(
            "{} {} {}\r\nHost: v\r\n{connection}\r\n",
            self.method, self.path, self.version
        )
    }
}

#[tokio::test]
async fn every_pipelined_response_is_framed_for_its_own_request() {
    let stack = Stack::start("pipelining-framing");
    let vote = stack.vote(&[]).await.ready().await;
    // `/readyz` waits for Redis, `/healthz` answers at once: a slow request
    // followed by quick ones is where one connection-wide flag went wrong.
    let kinds = [
        Asked::new("GET", "/readyz", "HTTP/1.1"),
        Asked::new("HEAD", "/healthz", "HTTP/1.1"),
        Asked::new("GET", "/healthz", "HTTP/1.1"),
        Asked::new("HEAD", "/readyz", "HTTP/1.1"),
        Asked::new("GET", "/readyz", "HTTP/1.0"),
    ];
    let mut sequences: Vec<Vec<Asked>> = Vec::new();
    for a in kinds {
        for b in kinds {
            sequences.push(vec![a, b]);
            sequences.extend(kinds.iter().map(|&c| vec![a, b, c]));
        }
    }
    for sequence in &sequences {
        let requests: String = sequence
            .iter()
            .enumerate()
            .map(|(i, asked)| asked.text(i + 1 == sequence.len()))
            .collect();
        let response = raw_http::exchange(vote.port, requests.as_bytes()).await;
        let mut rest = response.as_str();
        for asked in sequence {
            let (head, after) = rest.split_once("\r\n\r\n").unwrap_or_else(|| {
                panic!("{sequence:?}: no response head for {asked:?} in {response:?}")
            });
            assert!(
                head.starts_with(&format!("{} 200 ", asked.version)),
                "{sequence:?}: {asked:?} answered {head:?}; all: {response:?}"
            );
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{sequence:?}: no length in {head:?}"));
            let body_length = if asked.method == "HEAD" { 0 } else { length };
            assert!(
                after.len() >= body_length,
                "{sequence:?}: {asked:?} lost its body: {response:?}"
            );
            let (body, next) = after.split_at(body_length);
            let expected = match (asked.method, asked.path) {
                ("HEAD", _) => body.is_empty(),
                (_, "/healthz") => body == "ok\n",
                _ => body.starts_with('{') && body.ends_with('}'),
            };
            assert!(
                expected,
                "{sequence:?}: {asked:?} got body {body:?}; all: {response:?}"
            );
            rest = next;
        }
        assert!(
            rest.is_empty(),
            "{sequence:?}: bytes after the last response: {rest:?}; all: {response:?}"
        );
    }
}

#[tokio::test]
async fn nothing_pipelined_after_a_close_is_processed() {
    let stack = Stack::start("pipelining-close");
    let vote = stack.vote(&[]).await.ready().await;
    let ballot =
        "POST / HTTP/1.1\r\nHost: v\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                  Content-Length: 6\r\n\r\nvote=a";
    for first in [
        "GET /healthz HTTP/1.1\r\nHost: v\r\nConnection: close\r\n\r\n",
        // HTTP/1.0 without keep-alive closes after its response too.
        "GET /healthz HTTP/1.0\r\n\r\n",
    ] {
        let response = raw_http::exchange(vote.port, format!("{first}{ballot}").as_bytes()).await;
        assert_eq!(
            response.matches("HTTP/1.").count(),
            1,
            "after {first:?}, one response and the close: {response:?}"
        );
        assert!(response.ends_with("\r\n\r\nok\n"), "{response:?}");
        assert_eq!(
            stack.queued().await,
            0,
            "a vote pipelined after {first:?} was queued"
        );
    }
}

/// What `/proc/<pid>/status` says of a process's memory, in KiB.
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

/// CPU time a process has used (user and system), in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses: utime, stime
    // are fields 14 and 15 of the line, 12 and 13 after the name.
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Requests answered on the page routes (not `/metrics`, which the test
/// itself asks).
async fn pages_served(url: &str) -> u64 {
    page_text(url)
        .await
        .lines()
        .filter(|l| l.starts_with("http_requests_total{") && !l.contains("/metrics"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// `count` connections that each send `burst` and never read.
async fn stalled_connections(port: u16, count: usize, burst: &[u8]) -> Vec<tokio::net::TcpStream> {
    let mut connections = Vec::new();
    for _ in 0..count {
        let mut connection = connect(port).await;
        // Whatever the server does not read stays in the kernel's buffers;
        // the write is bounded and never waits for the server for long.
        let _ = tokio::time::timeout(Duration::from_secs(5), connection.write_all(burst)).await;
        connections.push(connection);
    }
    connections
}

/// The pages the server answered, once it has done what it will: its count
/// stops moving (120 s at most).
async fn served_once_settled(metrics: &str) -> u64 {
    let settle_by = Instant::now() + Duration::from_secs(120);
    let mut served = pages_served(metrics).await;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = pages_served(metrics).await;
        if now == served {
            break;
        }
        served = now;
        assert!(Instant::now() < settle_by, "still answering after 120 s");
    }
    served
}

#[tokio::test]
async fn clients_that_pipeline_and_never_read_pin_neither_memory_nor_cpu() {
    const CONNECTIONS: usize = 24;
    const BYTES_PER_CONNECTION: usize = 160 * 1024;
    let stack = Stack::start("pipelining-memory");
    let vote = stack.vote(&[]).await.ready().await;
    let pid = vote.pid();
    let request = b"GET /static/vote.js HTTP/1.1\r\nHost: v\r\n\r\n";
    let burst: Vec<u8> = request
        .iter()
        .copied()
        .cycle()
        .take(BYTES_PER_CONNECTION / request.len() * request.len())
        .collect();
    raw_http::exchange(
        vote.port,
        b"GET /static/vote.js HTTP/1.1\r\nHost: v\r\nConnection: close\r\n\r\n",
    )
    .await;
    let before = memory_kib(pid, "VmRSS:");

    let connections = stalled_connections(vote.port, CONNECTIONS, &burst).await;
    let served = served_once_settled(&vote.operations_url("/metrics")).await;
    let peak = memory_kib(pid, "VmHWM:");
    let ticks = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_ticks = cpu_ticks(pid) - ticks;
    let grown_mib = peak.saturating_sub(before) / 1024;
    println!(
        "{CONNECTIONS} connections x {} KiB of pipelined requests, never read: \
         {served} answered, RSS {} MiB before, peak {} MiB (+{grown_mib} MiB), \
         {idle_ticks} CPU ticks in the next second",
        BYTES_PER_CONNECTION / 1024,
        before / 1024,
        peak / 1024
    );
    // Unbounded, the responses pile up in each connection's write buffer
    // (about 50 bytes out per byte in); bounded, a connection holds its
    // read and write buffers and at most one pipeline of requests.
    assert!(
        grown_mib < 2 * CONNECTIONS as u64,
        "{CONNECTIONS} stalled connections grew the server by {grown_mib} MiB"
    );
    // Stalled connections are waited on, not polled: the server is idle.
    assert!(
        idle_ticks < 50,
        "{idle_ticks} CPU ticks in one idle second with stalled connections"
    );
    drop(connections);
}

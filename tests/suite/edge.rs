//! The public edge as a hostile client meets it (issue 36): stalled and
//! refused bodies close their connection, client text cannot forge log
//! lines, every page carries the security headers, the voter cookie is
//! `Secure` only behind a trusted TLS proxy, and the drain answers a second
//! signal and every response it finishes.

use crate::harness::raw_http::{connect, read_until};
use crate::harness::{eventually, http_client, Stack};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// Reads until the server closes `connection` (EOF or reset), or fails
/// after `limit`; returns what arrived.
async fn until_closed(
    connection: &mut (impl AsyncRead + Unpin),
    limit: Duration,
    what: &str,
) -> String {
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut chunk = [0u8; 4096];
        loop {
            match connection.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    assert!(
        read.is_ok(),
        "{what}: the connection was still open after {limit:?}; got {text:?}"
    );
    text
}

#[tokio::test]
async fn a_body_that_stalls_gets_408_and_its_connection_closed() {
    let stack = Stack::start("edge-stalled-body");
    let vote = stack.vote(&[]).await;
    let mut connection = connect(vote.port).await;
    connection
        .write_all(
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n\
              Content-Length: 1000\r\n\r\nv",
        )
        .await
        .unwrap();
    let response = until_closed(&mut connection, Duration::from_secs(15), "stalled body").await;
    assert!(response.starts_with("HTTP/1.1 408 "), "{response:?}");
    assert_eq!(stack.queued().await, 0);
}

#[tokio::test]
async fn a_refused_body_closes_its_connection_instead_of_being_read_on() {
    let stack = Stack::start("edge-refused-body");
    let vote = stack.vote(&[]).await;
    let mut connection = connect(vote.port).await;
    connection
        .write_all(
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n\
              Transfer-Encoding: chunked\r\n\r\n",
        )
        .await
        .unwrap();
    // A body that goes on and on: the 413 must end the connection, not
    // leave the server reading (and discarding) what follows.
    let chunk = format!("800\r\n{}\r\n", "x".repeat(0x800));
    let (mut reading, mut writing) = connection.into_split();
    // Endless: a writer that finished would half-close, and the server
    // would close on that instead of on its own.
    let writer = tokio::spawn(async move {
        while writing.write_all(chunk.as_bytes()).await.is_ok() {}
        writing
    });
    let text = until_closed(&mut reading, Duration::from_secs(10), "after the 413").await;
    writer.abort();
    assert!(text.starts_with("HTTP/1.1 413 "), "{text:?}");

    // A 415 with its body unread closes too, and says so.
    let mut connection = connect(vote.port).await;
    connection
        .write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nvote=a")
        .await
        .unwrap();
    let response = until_closed(&mut connection, Duration::from_secs(10), "415").await;
    assert!(response.starts_with("HTTP/1.1 415 "), "{response:?}");
    assert!(
        response.to_ascii_lowercase().contains("connection: close"),
        "{response:?}"
    );
    assert_eq!(stack.queued().await, 0);
}

#[tokio::test]
async fn client_text_cannot_forge_or_break_a_text_log_line() {
    let stack = Stack::start("edge-log-injection");
    let vote = stack.vote(&[]).await;
    let res = http_client(false)
        .post(vote.url("/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("vote=%0aFAKE%20ERROR%0d%00x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let log = eventually(Duration::from_secs(5), "the rejection logged", || async {
        let log = vote.log_text();
        log.contains("vote rejected").then_some(log)
    })
    .await;
    assert!(
        !log.lines().any(|line| line.starts_with("FAKE ERROR")),
        "a client started a log line: {log}"
    );
    assert!(!log.contains('\0') && !log.contains('\r'), "{log:?}");
    assert!(log.contains(r"\nFAKE ERROR\r\u{0}x"), "{log}");
}

#[tokio::test]
async fn both_services_send_the_same_security_headers() {
    let stack = Stack::start("edge-headers");
    let vote = stack.vote(&[]).await;
    let result = stack.result(&[]).await;
    let client = http_client(false);
    let mut policies = Vec::new();
    for url in [
        vote.url("/"),
        vote.url("/static/vote.js"),
        vote.url("/nope"),
        result.url("/"),
        result.url("/api/results"),
    ] {
        let res = client.get(&url).send().await.unwrap();
        let header = |name: &str| {
            res.headers()
                .get(name)
                .unwrap_or_else(|| panic!("{url} lacks {name}"))
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(header("x-content-type-options"), "nosniff", "{url}");
        assert_eq!(header("x-frame-options"), "DENY", "{url}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{url}");
        let policy = header("content-security-policy");
        for directive in [
            "default-src 'none'",
            "frame-ancestors 'none'",
            "script-src 'self'",
        ] {
            assert!(policy.contains(directive), "{url}: {policy}");
        }
        assert!(!policy.contains("unsafe-eval"), "{url}: {policy}");
        policies.push(policy);
    }
    policies.dedup();
    assert_eq!(policies.len(), 1, "one policy for both: {policies:?}");
}

fn voter_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("voter_id="))
}

#[tokio::test]
async fn the_voter_cookie_is_secure_only_behind_a_trusted_tls_proxy() {
    let stack = Stack::start("edge-secure-cookie");
    let trusting = stack
        .vote(&[("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")])
        .await;
    let untrusting = stack.vote(&[("TRUSTED_PROXIES", "10.0.0.0/8")]).await;
    let client = http_client(false);
    let cookie = |url: String, proto: Option<&'static str>| {
        let client = client.clone();
        async move {
            let mut req = client.get(url);
            if let Some(proto) = proto {
                req = req.header("x-forwarded-proto", proto);
            }
            voter_cookie(&req.send().await.unwrap()).expect("a new visitor's cookie")
        }
    };
    let secure = |c: &str| c.split(';').any(|a| a.trim() == "Secure");
    let behind_tls = cookie(trusting.url("/"), Some("https")).await;
    assert!(secure(&behind_tls), "{behind_tls}");
    let plain = cookie(trusting.url("/"), Some("http")).await;
    assert!(!secure(&plain), "{plain}");
    let direct = cookie(trusting.url("/"), None).await;
    assert!(!secure(&direct), "{direct}");
    // Anyone may send the header: only a proxy named trusted is believed.
    let claimed = cookie(untrusting.url("/"), Some("https")).await;
    assert!(!secure(&claimed), "{claimed}");
}

#[tokio::test]
async fn head_and_refused_votes_issue_no_voter_cookie() {
    let stack = Stack::start("edge-no-cookie");
    let vote = stack.vote(&[]).await;
    let client = http_client(false);
    let head = client.head(vote.url("/")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(voter_cookie(&head), None, "HEAD");
    let refused = client
        .post(vote.url("/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("vote=c")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(voter_cookie(&refused), None, "a refused vote");
    let page = client.get(vote.url("/")).send().await.unwrap();
    assert!(voter_cookie(&page).is_some(), "GET still issues one");
}

#[tokio::test]
async fn public_readiness_names_a_dependency_down_without_its_error_text() {
    let mut stack = Stack::start("edge-readyz");
    let public = stack.vote(&[]).await;
    let split = stack.vote(&[("METRICS_PORT", "0")]).await;
    stack.redis.stop();
    let client = http_client(false);
    let redis_state = |url: String| {
        let client = client.clone();
        async move {
            let body: serde_json::Value =
                client.get(url).send().await.unwrap().json().await.unwrap();
            body["dependencies"]["redis"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(redis_state(public.url("/readyz")).await, "unavailable");
    let detailed = redis_state(split.operations_url("/readyz")).await;
    assert!(
        detailed.starts_with("unavailable: ") && detailed.len() > "unavailable: ".len(),
        "{detailed}"
    );
}

#[tokio::test]
async fn an_http_1_0_stream_is_answered_with_connection_close() {
    let stack = Stack::start("edge-sse-1-0");
    let result = stack.result(&[]).await;
    let mut connection = connect(result.port).await;
    connection
        .write_all(b"GET /events HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n\r\n")
        .await
        .unwrap();
    let mut bytes = Vec::new();
    read_until(&mut connection, &mut bytes, "\r\n\r\n").await;
    let head = String::from_utf8_lossy(&bytes).to_ascii_lowercase();
    let head = head.split("\r\n\r\n").next().unwrap();
    assert!(head.starts_with("http/1.0 200 "), "{head}");
    assert!(!head.contains("keep-alive"), "{head}");
}

#[tokio::test]
async fn options_star_and_connect_get_their_own_answers() {
    let stack = Stack::start("edge-methods");
    let vote = stack.vote(&[]).await;
    let result = stack.result(&[]).await;
    for service in [&vote, &result] {
        let response = crate::harness::raw_http::exchange(
            service.port,
            b"OPTIONS * HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
        .await;
        let lower = response.to_ascii_lowercase();
        assert!(
            lower.starts_with("http/1.1 204 ") || lower.starts_with("http/1.1 200 "),
            "{}: {response:?}",
            service.name
        );
        assert!(lower.contains("\r\nallow: "), "{response:?}");
        let response = crate::harness::raw_http::exchange(
            service.port,
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(
            response.starts_with("HTTP/1.1 405 ") || response.starts_with("HTTP/1.1 501 "),
            "{}: {response:?}",
            service.name
        );
    }
}

#[tokio::test]
async fn a_second_signal_during_the_drain_stops_at_once() {
    let stack = Stack::start("edge-second-signal");
    for signal in ["TERM", "INT"] {
        let mut vote = stack.vote(&[("DRAIN_SECONDS", "60")]).await.ready().await;
        crate::harness::signal(vote.pid(), signal);
        let client = http_client(false);
        eventually(Duration::from_secs(5), "readiness to turn 503", || async {
            let res = client.get(vote.url("/readyz")).send().await.ok()?;
            (res.status() == 503).then_some(())
        })
        .await;
        crate::harness::signal(vote.pid(), signal);
        let status = vote.exit_status(Duration::from_secs(5)).await;
        let expected = if signal == "TERM" { 143 } else { 130 };
        assert_eq!(status.code(), Some(expected), "{}", vote.log_text());
    }
}

#[tokio::test]
async fn a_request_begun_before_the_stop_is_answered_with_connection_close() {
    let stack = Stack::start("edge-drain-close");
    let vote = stack.vote(&[("DRAIN_SECONDS", "10")]).await.ready().await;
    let mut connection = connect(vote.port).await;
    connection
        .write_all(
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n\
              Expect: 100-continue\r\nContent-Length: 6\r\n\r\n",
        )
        .await
        .unwrap();
    // The request is under way (its body not sent yet) when the stop comes.
    let mut bytes = Vec::new();
    read_until(&mut connection, &mut bytes, "HTTP/1.1 100 Continue\r\n\r\n").await;
    vote.sigterm();
    let client = http_client(false);
    eventually(Duration::from_secs(5), "readiness to turn 503", || async {
        let res = client.get(vote.url("/readyz")).send().await.ok()?;
        (res.status() == 503).then_some(())
    })
    .await;
    connection.write_all(b"vote=a").await.unwrap();
    let response = until_closed(&mut connection, Duration::from_secs(5), "drained").await;
    assert!(response.starts_with("HTTP/1.1 200 "), "{response:?}");
    assert!(
        response.to_ascii_lowercase().contains("connection: close"),
        "{response:?}"
    );
}

//! The vote service: the page, the cookie, the queued JSON, every bad input,
//! and Redis going away and coming back.

use crate::harness::{cast, eventually, http_client, raw_http, Stack};
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use std::time::Duration;

const FORM: &str = "application/x-www-form-urlencoded";

async fn queued_messages(stack: &Stack) -> Vec<serde_json::Value> {
    let raw = stack.list("votes").await;
    raw.iter()
        .map(|m| serde_json::from_str(m).unwrap())
        .collect()
}

fn voter_id_from(res: &reqwest::Response) -> String {
    let cookie = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("voter_id="))
        .expect("a voter_id cookie");
    cookie["voter_id=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_page_shows_both_options_the_container_and_the_tip_and_issues_a_cookie() {
    let stack = Stack::start("vote-page");
    let vote = stack
        .vote(&[("OPTION_A", "Tabs"), ("OPTION_B", "Spaces")])
        .await;
    let res = http_client(false).get(vote.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res
        .headers()
        .get(SET_COOKIE)
        .expect("a new visitor gets a cookie")
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=31536000"] {
        assert!(
            cookie.contains(attribute),
            "{attribute} missing from {cookie}"
        );
    }
    let id = voter_id_from(&res);
    assert_eq!(id.len(), 16);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    let html = res.text().await.unwrap();
    assert!(html.contains("<title>Tabs vs Spaces!</title>"), "{html}");
    assert!(
        html.contains(r#"value="a""#) && html.contains(">Tabs<"),
        "{html}"
    );
    assert!(
        html.contains(r#"value="b""#) && html.contains(">Spaces<"),
        "{html}"
    );
    assert!(html.contains("Processed by container ID "), "{html}");
    assert!(html.contains("(Tip: you can change your vote)"), "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external resources: {html}"
    );
}

#[tokio::test]
async fn a_vote_is_queued_as_the_original_json_and_the_page_marks_the_choice() {
    let stack = Stack::start("vote-queues");
    let vote = stack.vote(&[]).await;
    let client = http_client(true);
    let res = cast(&client, &vote.url("/"), "b").await;
    assert_eq!(res.status(), 200);
    let id = voter_id_from(&res);
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"class="option b chosen""#), "{html}");
    assert!(html.contains("You voted for Dogs."), "{html}");

    // The same browser votes again: same voter id, new choice; the answer
    // sets no new id, only the stamp of this vote for the next one.
    let again = cast(&client, &vote.url("/"), "a").await;
    assert_eq!(again.status(), 200);
    let set: Vec<String> = again
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        set.iter().all(|c| !c.starts_with("voter_id=")),
        "a returning voter keeps their cookie: {set:?}"
    );

    let queued = queued_messages(&stack).await;
    assert_eq!(queued.len(), 2);
    assert_eq!(queued[0]["voter_id"], id.as_str());
    assert_eq!(queued[0]["vote"], "b");
    assert_eq!(queued[1]["voter_id"], id.as_str());
    assert_eq!(queued[1]["vote"], "a");
    assert!(queued[0]["ts"].as_i64().unwrap() < queued[1]["ts"].as_i64().unwrap());
    let stamp = format!("voter_stamp={};", queued[1]["ts"]);
    assert!(
        set.iter().any(|c| c.starts_with(&stamp)),
        "the answer carries the vote's stamp ({stamp}): {set:?}"
    );
}

#[tokio::test]
async fn a_script_asking_for_json_gets_json() {
    let stack = Stack::start("vote-json");
    let vote = stack.vote(&[]).await;
    let res = http_client(false)
        .post(vote.url("/"))
        .header(CONTENT_TYPE, FORM)
        .header("accept", "application/json")
        .body("vote=a")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body, serde_json::json!({ "vote": "a" }));
    assert_eq!(stack.queued().await, 1);
}

/// A vote request that must be refused, and how.
struct BadVote {
    what: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    cookie: Option<String>,
    status: u16,
    message: &'static str,
}

impl BadVote {
    fn form(what: &'static str, body: &str, status: u16, message: &'static str) -> Self {
        Self {
            what,
            content_type: FORM,
            body: body.as_bytes().to_vec(),
            cookie: None,
            status,
            message,
        }
    }

    fn cookie(what: &'static str, cookie: &str) -> Self {
        Self {
            cookie: Some(cookie.to_owned()),
            ..Self::form(what, "vote=a", 400, "voter_id cookie is malformed")
        }
    }
}

#[tokio::test]
async fn every_bad_vote_gets_a_clear_4xx_and_queues_nothing() {
    let stack = Stack::start("vote-bad-input");
    let vote = stack.vote(&[]).await;
    let client = http_client(false);
    for case in bad_votes() {
        refused_clearly(&client, &vote.url("/"), case).await;
    }
    assert_eq!(stack.queued().await, 0, "no bad vote may be queued");
    let metrics = client
        .get(vote.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("votes_rejected_total"), "{metrics}");
}

/// Every way a vote request can be bad: its form, its content type, its
/// cookie.
fn bad_votes() -> Vec<BadVote> {
    let huge = format!("vote=a&pad={}", "x".repeat(4096));
    let long_cookie = format!("voter_id={}", "a".repeat(300));
    vec![
        BadVote::form("unknown choice", "vote=c", 400, "is not an option here"),
        BadVote::form("empty choice", "vote=", 400, "is not an option here"),
        BadVote::form("missing field", "choice=a", 400, "The form had no vote"),
        BadVote::form("empty body", "", 400, "The form had no vote"),
        BadVote::form("two votes", "vote=a&vote=b", 400, "more than one vote"),
        BadVote::form("oversized body", &huge, 413, "larger than 1024 bytes"),
        BadVote::form(
            "SQL in the choice",
            "vote=a'%3B+DROP+TABLE+votes%3B--",
            400,
            "is not an option here",
        ),
        BadVote::form(
            "HTML in the choice",
            "vote=%3Cscript%3E",
            400,
            "&#60;script&#62;",
        ),
        BadVote {
            body: b"vote=a\xff\xfe".to_vec(),
            ..BadVote::form("non-UTF-8 body", "", 400, "not valid UTF-8")
        },
        BadVote {
            content_type: "application/json",
            ..BadVote::form(
                "JSON body",
                r#"{"vote":"a"}"#,
                415,
                "Send the vote as a form",
            )
        },
        BadVote {
            content_type: "",
            ..BadVote::form("no content type", "vote=a", 415, "Send the vote as a form")
        },
        BadVote::cookie("SQL in the cookie", "voter_id=x'%3B DROP TABLE votes;--"),
        BadVote::cookie("HTML in the cookie", "voter_id=<b>hi</b>"),
        BadVote::cookie("oversized cookie", &long_cookie),
    ]
}

/// `case` posted to `url`: refused with its status and message, a bad
/// cookie cleared, the input escaped.
async fn refused_clearly(client: &reqwest::Client, url: &str, case: BadVote) {
    let BadVote {
        what,
        content_type,
        body,
        cookie,
        status,
        message,
    } = case;
    let mut req = client.post(url).body(body);
    if !content_type.is_empty() {
        req = req.header(CONTENT_TYPE, content_type);
    }
    if let Some(cookie) = &cookie {
        req = req.header(COOKIE, cookie.as_str());
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status().as_u16(), status, "{what}");
    if cookie.is_some() {
        let cleared = res
            .headers()
            .get(SET_COOKIE)
            .expect("the bad cookie is cleared");
        assert!(
            cleared.to_str().unwrap().contains("Max-Age=0"),
            "{what}: {cleared:?}"
        );
    }
    let html = res.text().await.unwrap();
    assert!(
        html.contains(message),
        "{what}: expected {message:?} in {html}"
    );
    assert!(!html.contains("<script>"), "{what}: input must be escaped");
}

#[tokio::test]
async fn with_redis_down_a_vote_gets_503_and_the_service_recovers_on_its_own() {
    let mut stack = Stack::start("vote-redis-down");
    let vote = stack.vote(&[]).await;
    let client = http_client(false);
    let cast = || {
        client
            .post(vote.url("/"))
            .header(CONTENT_TYPE, FORM)
            .body("vote=a")
            .send()
    };
    assert_eq!(cast().await.unwrap().status(), 200);

    stack.redis.stop();
    let res = cast().await.unwrap();
    assert_eq!(res.status(), 503);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Your vote may not have been recorded; please vote again"));
    // Still ready: it answers with the clear 503 page above, which a refused
    // connection would not. Redis is reported apart.
    let ready = client.get(vote.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert!(
        body["dependencies"]["redis"]
            .as_str()
            .unwrap()
            .starts_with("unavailable"),
        "{body}"
    );
    // The page itself still renders.
    assert_eq!(vote.status("/").await, 200);

    stack.redis.start_again();
    eventually(
        Duration::from_secs(15),
        "vote to reach Redis again",
        || async { (cast().await.ok()?.status() == 200).then_some(()) },
    )
    .await;
    let ready: serde_json::Value = crate::harness::get_json(&vote.url("/readyz"))
        .await
        .unwrap();
    assert_eq!(ready["dependencies"]["redis"], "ok");
    // Redis restarted without persistence: only the vote after recovery is there.
    assert!(stack.queued().await >= 1);
}

#[tokio::test]
async fn option_names_are_rendered_escaped() {
    let stack = Stack::start("vote-escaping");
    let vote = stack
        .vote(&[
            ("OPTION_A", "<script>alert(1)</script>"),
            ("OPTION_B", "Fish & \"Chips\""),
        ])
        .await;
    let html = crate::harness::page_text(&vote.url("/")).await;
    assert!(!html.contains("<script>alert(1)</script>"), "{html}");
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{html}"
    );
    assert!(html.contains("Fish &#38; &#34;Chips&#34;"), "{html}");
}

#[tokio::test]
async fn crafted_requests_get_what_http_1_1_prescribes() {
    let stack = Stack::start("vote-crafted");
    let vote = stack.vote(&[]).await.ready().await;
    raw_http::refuses_ambiguous_requests_and_reads_valid_ones(vote.port, "/healthz").await;
}

#[tokio::test]
async fn a_vote_sent_with_a_chunked_body_is_queued() {
    let stack = Stack::start("vote-chunked");
    let vote = stack.vote(&[]).await.ready().await;
    let response = raw_http::exchange(
        vote.port,
        b"POST / HTTP/1.1\r\nHost: v\r\nContent-Type: application/x-www-form-urlencoded\r\n\
          Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nvot\r\n3\r\ne=b\r\n0\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
    let queued = queued_messages(&stack).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0]["vote"], "b", "{queued:?}");
}

#[tokio::test]
async fn every_page_answers_head_with_its_headers_only() {
    let stack = Stack::start("vote-head");
    let vote = stack.vote(&[]).await.ready().await;
    for path in [
        "/",
        "/readyz",
        "/healthz",
        "/metrics",
        "/static/vote.css",
        "/static/vote.js",
    ] {
        raw_http::head_answers_without_a_body(vote.port, path).await;
    }
}

#[tokio::test]
async fn made_up_methods_leave_the_metrics_small() {
    let stack = Stack::start("vote-methods");
    let vote = stack.vote(&[]).await.ready().await;
    raw_http::made_up_methods_add_no_metric_series(&vote.url("")).await;
}

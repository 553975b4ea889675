//! The three services together, as a visitor uses them.

use crate::harness::{cast, http_client, Stack};
use std::time::Duration;

async fn cast_ok(client: &reqwest::Client, url: &str, choice: &str) {
    assert_eq!(cast(client, url, choice).await.status(), 200);
}

async fn tally_until(url: &str, a: i64, b: i64) -> serde_json::Value {
    crate::harness::tally_until(url, a, b, Duration::from_secs(15)).await
}

#[tokio::test]
async fn votes_cast_on_vote_appear_in_result_and_a_changed_vote_counts_once() {
    let stack = Stack::start("end-to-end");
    let vote = stack.vote(&[]).await;
    let _worker = stack.worker(&[]).await;
    let result = stack.result(&[]).await;
    let api = result.url("/api/results");
    let voters: Vec<reqwest::Client> = (0..3).map(|_| http_client(true)).collect();

    cast_ok(&voters[0], &vote.url("/"), "a").await;
    cast_ok(&voters[1], &vote.url("/"), "a").await;
    cast_ok(&voters[2], &vote.url("/"), "b").await;
    let split = tally_until(&api, 2, 1).await;
    assert_eq!(split["total"], 3);
    assert_eq!(
        (split["percent_a"].as_i64(), split["percent_b"].as_i64()),
        (Some(67), Some(33))
    );
    let page = crate::harness::page_text(&result.url("/")).await;
    assert!(
        page.contains("67%") && page.contains("33%") && page.contains("3 votes"),
        "{page}"
    );

    // The third voter changes their mind twice: still one vote, the last one.
    cast_ok(&voters[2], &vote.url("/"), "a").await;
    tally_until(&api, 3, 0).await;
    cast_ok(&voters[2], &vote.url("/"), "b").await;
    let last = tally_until(&api, 2, 1).await;
    assert_eq!(last["total"], 3);
    assert_eq!(stack.stored_votes().await.len(), 3);
}

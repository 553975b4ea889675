//! The pages as a person uses them, in real headless Chromium: vote without a
//! reload, watch the results change live, survive a restart of `result`, and
//! load nothing from any other host.

use crate::harness::browser::{eval, screenshot, until, Browser};
use crate::harness::service::Service;
use crate::harness::Stack;
use fantoccini::{Client, Locator};
use std::time::Duration;

/// Every URL the page loaded is on the service under test.
async fn assert_only_local_requests(client: &Client, origin: &str) {
    let urls = eval(
        client,
        "[location.href].concat(performance.getEntriesByType('resource').map(e => e.name))",
    )
    .await;
    let urls = urls.as_array().expect("a list of URLs");
    assert!(
        urls.len() >= 3,
        "the page, its script and its styles: {urls:?}"
    );
    for url in urls {
        let url = url.as_str().unwrap();
        assert!(url.starts_with(origin), "{url} is not on {origin}");
    }
}

async fn vote_in(client: &Client, vote_url: &str, choice: &str) {
    client.goto(vote_url).await.unwrap();
    eval(client, "window.notReloaded = true").await;
    client
        .find(Locator::Css(&format!("#{choice}")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        client,
        &format!("document.getElementById('{choice}').classList.contains('chosen')"),
    )
    .await;
    assert_eq!(
        eval(client, "window.notReloaded === true").await,
        true,
        "voting reloaded the page"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vote_marks_the_choice_and_the_results_page_follows_live() {
    let stack = Stack::start("browser-live");
    let vote = stack.vote(&[]).await;
    let _worker = stack.worker(&[]).await;
    let result = stack.result(&[]).await.ready().await;
    let browser = Browser::start(&stack.dir).await;

    let alice = browser.session("alice").await;
    vote_in(&alice, &vote.url("/"), "a").await;
    let status = eval(&alice, "document.getElementById('status').innerText").await;
    assert_eq!(status, "You voted for Cats.");
    let hostname = eval(&alice, "document.getElementById('hostname').innerText").await;
    assert!(hostname
        .as_str()
        .unwrap()
        .starts_with("Processed by container ID "));
    assert_only_local_requests(&alice, &vote.url("/")).await;
    screenshot(&alice, "vote.png").await;
    alice.set_window_size(390, 844).await.unwrap();
    screenshot(&alice, "vote-phone.png").await;
    alice.set_window_size(1000, 800).await.unwrap();

    // The results page, in a second tab of the same browser.
    let tab = alice.new_window(true).await.unwrap();
    alice.switch_to_window(tab.handle).await.unwrap();
    alice.goto(&result.url("/")).await.unwrap();
    until(
        &alice,
        "document.getElementById('total').innerText === '1 vote'",
    )
    .await;
    assert_eq!(
        eval(&alice, "document.getElementById('percent-a').innerText").await,
        "100%"
    );
    assert_eq!(
        eval(&alice, "document.getElementById('bar').value").await,
        100
    );
    eval(&alice, "window.notReloaded = true").await;

    // Another visitor votes for the other option: 50/50, without a reload.
    let bob = browser.session("bob").await;
    vote_in(&bob, &vote.url("/"), "b").await;
    until(
        &alice,
        "document.getElementById('percent-a').innerText === '50%' \
         && document.getElementById('percent-b').innerText === '50%' \
         && document.getElementById('total').innerText === '2 votes' \
         && document.getElementById('bar').value === 50",
    )
    .await;
    assert_eq!(
        eval(&alice, "window.notReloaded === true").await,
        true,
        "the results page reloaded"
    );
    assert_only_local_requests(&alice, &result.url("/")).await;
    screenshot(&alice, "result.png").await;
    alice.set_window_size(390, 844).await.unwrap();
    screenshot(&alice, "result-phone.png").await;

    alice.close().await.unwrap();
    bob.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_results_page_reconnects_after_result_restarts() {
    let stack = Stack::migrated("browser-reconnect").await;
    let mut result = Service::spawn("result", &stack.dir, &stack.env(&[]))
        .healthy()
        .await
        .ready()
        .await;
    let browser = Browser::start(&stack.dir).await;
    let viewer = browser.session("viewer").await;
    viewer.goto(&result.url("/")).await.unwrap();
    until(
        &viewer,
        "document.getElementById('total').innerText === 'No votes yet'",
    )
    .await;
    eval(&viewer, "window.notReloaded = true").await;

    // The page reconnects to the same address: result comes back on its port.
    let port = result.port;
    result.sigterm();
    assert_eq!(
        result.exit_status(Duration::from_secs(10)).await.code(),
        Some(0)
    );
    let pg = stack.pg.client().await;
    pg.execute(
        "INSERT INTO votes (id, vote) VALUES ('while-down', 'b')",
        &[],
    )
    .await
    .unwrap();
    let _restarted = Service::spawn_on("result", &stack.dir, &stack.env(&[]), port)
        .healthy()
        .await;

    until(
        &viewer,
        "document.getElementById('total').innerText === '1 vote'",
    )
    .await;
    assert_eq!(
        eval(&viewer, "document.getElementById('percent-b').innerText").await,
        "100%"
    );
    assert_eq!(
        eval(&viewer, "document.getElementById('problem').hidden").await,
        true
    );
    assert_eq!(
        eval(&viewer, "window.notReloaded === true").await,
        true,
        "the page reloaded"
    );
    viewer.close().await.unwrap();
}

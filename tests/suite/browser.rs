//! The pages as a person uses them, in real headless Chromium: vote without a
//! reload, watch the results change live, survive a restart of `result`, and
//! load nothing from any other host; and seed's load report, opened from a
//! file, with its charts drawn.

use crate::harness::browser::{eval, screenshot, until, Browser};
use crate::harness::scripted_server::{self, ScriptedResponse};
use crate::harness::service::Service;
use crate::harness::{seed, Stack, TestDir};
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
    alice_votes_and_sees_her_choice(&alice, &vote).await;
    the_results_tab_shows_her_vote(&alice, &result).await;
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

/// Alice votes: the page says for what and which container, loads nothing
/// from elsewhere, and is captured wide and on a phone.
async fn alice_votes_and_sees_her_choice(alice: &Client, vote: &Service) {
    vote_in(alice, &vote.url("/"), "a").await;
    let status = eval(alice, "document.getElementById('status').innerText").await;
    assert_eq!(status, "You voted for Cats.");
    let hostname = eval(alice, "document.getElementById('hostname').innerText").await;
    assert!(hostname
        .as_str()
        .unwrap()
        .starts_with("Processed by container ID "));
    assert_only_local_requests(alice, &vote.url("/")).await;
    screenshot(alice, "vote.png").await;
    alice.set_window_size(390, 844).await.unwrap();
    screenshot(alice, "vote-phone.png").await;
    alice.set_window_size(1000, 800).await.unwrap();
}

/// The results page, in a second tab of the same browser: one vote, 100%.
async fn the_results_tab_shows_her_vote(alice: &Client, result: &Service) {
    let tab = alice.new_window(true).await.unwrap();
    alice.switch_to_window(tab.handle).await.unwrap();
    alice.goto(&result.url("/")).await.unwrap();
    until(
        alice,
        "document.getElementById('total').innerText === '1 vote'",
    )
    .await;
    assert_eq!(
        eval(alice, "document.getElementById('percent-a').innerText").await,
        "100%"
    );
    assert_eq!(
        eval(alice, "document.getElementById('bar').value").await,
        100
    );
    eval(alice, "window.notReloaded = true").await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_report_opens_from_a_file_with_data_in_every_chart() {
    let dir = TestDir::new("browser-report");
    let report = a_load_report_with_errors(&dir).await;
    let browser = Browser::start(&dir).await;
    let reader = browser.session("reader").await;
    reader
        .goto(&format!("file://{}", report.display()))
        .await
        .unwrap();
    until(&reader, "document.readyState === 'complete'").await;
    assert_eq!(
        eval(&reader, "document.title.startsWith('seed: ')").await,
        true
    );
    // Nothing fetched: the page, its styles and charts are all in the file.
    assert_eq!(
        eval(&reader, "performance.getEntriesByType('resource').length").await,
        0
    );
    every_chart_is_drawn(&reader).await;
    // The errors drawn are above the axis: some seconds had errors.
    let errors_highest = eval(
        &reader,
        "Math.min(...Array.from(document.querySelector('#errors polyline').points) \
           .map(p => p.y)) < document.querySelector('#errors line.axis').y1.baseVal.value",
    )
    .await;
    assert_eq!(errors_highest, true);
    screenshot(&reader, "load-report.png").await;
    reader.close().await.unwrap();
}

/// seed's report of a 4 s run against a server that refuses one vote in
/// ten, so the errors chart has something to show.
async fn a_load_report_with_errors(dir: &TestDir) -> std::path::PathBuf {
    // One vote in ten refused, so the errors chart has something to show.
    let addr = scripted_server::start(|n| ScriptedResponse {
        delay: Duration::from_millis(1),
        status: if n % 10 == 9 { 503 } else { 200 },
    })
    .await;
    let report = dir.join("report.html");
    seed::summary(
        &[
            "--url",
            &format!("http://{addr}/"),
            "--stages",
            "2s:200,2s:200",
            "--concurrency",
            "4",
            "--max-error-rate",
            "0.2",
            "--report",
            report.to_str().unwrap(),
        ],
        dir,
    )
    .await;
    report
}

/// Each chart as drawn: its size on the page, the points of its longest
/// line (as the browser parsed them), its bars, and what of it shows.
async fn every_chart_is_drawn(reader: &Client) {
    let charts = eval(
        reader,
        "Array.from(document.querySelectorAll('svg.chart')).map(svg => ({ \
           id: svg.id, \
           height: svg.getBoundingClientRect().height, \
           points: Math.max(0, ...Array.from(svg.querySelectorAll('polyline')) \
             .map(line => line.points.numberOfItems)), \
           bars: svg.querySelectorAll('rect.bar').length, \
           drawn: Array.from(svg.querySelectorAll('polyline, rect.bar')) \
             .filter(shape => { const box = shape.getBBox(); \
               return box.width > 0 || box.height > 0; }).length }))",
    )
    .await;
    let charts = charts.as_array().expect("a list of charts");
    let ids: Vec<&str> = charts.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["throughput", "schedule", "latency", "errors", "histogram"],
        "{charts:?}"
    );
    for chart in charts {
        assert!(chart["height"].as_f64().unwrap() > 100.0, "{chart}");
        assert!(chart["drawn"].as_u64().unwrap() >= 1, "{chart}");
        if chart["id"] == "histogram" {
            assert!(chart["bars"].as_u64().unwrap() >= 1, "{chart}");
        } else {
            // A point a second of the 4 s run.
            assert!(chart["points"].as_u64().unwrap() >= 4, "{chart}");
        }
    }
}

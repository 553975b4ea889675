//! "One row per voter, the last vote wins", whatever the clocks of the vote
//! replicas: two vote processes on one Redis, one with its clock seconds
//! ahead and one behind (Debian's libfaketime, preloaded into the real
//! binary), and voters who alternate between them, each vote answered
//! before the next is cast, as a browser behind a load balancer does.
//! Halfway, the clock ahead steps back to 10 s behind, as a clock that NTP
//! corrects does, and that replica restarts (within one process stamps
//! never go back; a new process starts from the stepped clock).

use crate::harness::service::Service;
use crate::harness::{cast, http_client, Stack};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How far each replica's clock is off; more than a vote takes.
const SKEW_SECONDS: i64 = 3;

/// Debian's libfaketime for threaded programs (package `faketime`).
fn libfaketime() -> Option<PathBuf> {
    let found = std::fs::read_dir("/usr/lib")
        .ok()?
        .filter_map(Result::ok)
        .map(|arch| arch.path().join("faketime/libfaketimeMT.so.1"))
        .find(|path| path.exists());
    found.or_else(|| {
        let path = PathBuf::from("/usr/lib/faketime/libfaketimeMT.so.1");
        path.exists().then_some(path)
    })
}

/// A vote replica whose wall clock reads what the file `clock` says (`+3s`,
/// `-10s`), read again at every look at the clock, so a test can step it.
async fn vote_with_clock(
    stack: &Stack,
    library: &std::path::Path,
    clock: &std::path::Path,
    offset: &str,
) -> Service {
    std::fs::write(clock, offset).expect("write the replica's clock offset");
    let (library, clock) = (library.to_string_lossy(), clock.to_string_lossy());
    let env = stack.env(&[
        ("LD_PRELOAD", &library),
        ("FAKETIME_TIMESTAMP_FILE", &clock),
        ("FAKETIME_NO_CACHE", "1"),
        // Only the wall clock: tokio's timers keep the real monotonic one.
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
    ]);
    Service::spawn("vote", &stack.dir, &env).healthy().await
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// The stamp a new visitor's vote through `vote` carries: its clock.
async fn stamp_of_a_new_voter(stack: &Stack, vote: &Service) -> i64 {
    let before = stack.queued().await;
    let res = cast(&http_client(false), &vote.url("/"), "a").await;
    assert_eq!(res.status(), 200);
    let queued = stack.list("votes").await;
    assert_eq!(queued.len() as i64, before + 1);
    let ballot: serde_json::Value = serde_json::from_str(queued.last().unwrap()).unwrap();
    ballot["ts"].as_i64().expect("our vote stamps every ballot")
}

#[tokio::test]
async fn a_voters_last_vote_wins_across_replicas_whose_clocks_disagree() {
    let Some(library) = libfaketime() else {
        crate::harness::skip::skip(
            "a_voters_last_vote_wins_across_replicas_whose_clocks_disagree",
            "libfaketime is missing (Debian's package faketime; scripts/test.sh installs it)",
        );
        return;
    };
    let stack = Stack::start("last-vote-wins");
    let ahead_clock = stack.dir.join("ahead.clock");
    let (ahead, behind) = replicas_whose_clocks_disagree(&stack, &library, &ahead_clock).await;
    let (last, _ahead) =
        six_votes_each_alternating_replicas(&stack, &library, &ahead_clock, ahead, &behind).await;
    let _worker = stack.worker(&[]).await;
    crate::harness::worker::drained(&stack).await;
    let stored = stack.stored_votes().await;
    let reversed: Vec<&String> = last
        .iter()
        .filter(|(voter, choice)| stored.get(*voter) != Some(choice))
        .map(|(voter, _)| voter)
        .collect();
    assert!(
        reversed.is_empty(),
        "{} of {} voters' rows hold an earlier choice than their last: {reversed:?}",
        reversed.len(),
        last.len()
    );
}

/// Two vote replicas, one with its clock ahead (read from `ahead_clock`)
/// and one behind; the clocks really disagree, as the replicas' stamps show.
async fn replicas_whose_clocks_disagree(
    stack: &Stack,
    library: &std::path::Path,
    ahead_clock: &std::path::Path,
) -> (Service, Service) {
    let behind_clock = stack.dir.join("behind.clock");
    let ahead = vote_with_clock(stack, library, ahead_clock, &format!("+{SKEW_SECONDS}s")).await;
    let behind = vote_with_clock(stack, library, &behind_clock, &format!("-{SKEW_SECONDS}s")).await;

    // The clocks really disagree, as the replicas' stamps show.
    let skew = SKEW_SECONDS * 1_000_000;
    let (a, now, b) = (
        stamp_of_a_new_voter(stack, &ahead).await,
        now_micros(),
        stamp_of_a_new_voter(stack, &behind).await,
    );
    assert!(
        a > now + skew / 2 && b < now - skew / 2,
        "libfaketime did not skew the replicas' clocks: ahead {a}, now {now}, behind {b}"
    );
    (ahead, behind)
}

/// Twenty voters, six votes each, alternating replicas; half start on the
/// replica ahead, half behind, so the last vote lands on either. After the
/// third vote the clock ahead steps back to 10 s behind and its replica
/// restarts. Returns each voter's last choice, and the restarted replica.
async fn six_votes_each_alternating_replicas(
    stack: &Stack,
    library: &std::path::Path,
    ahead_clock: &std::path::Path,
    mut ahead: Service,
    behind: &Service,
) -> (std::collections::BTreeMap<String, String>, Service) {
    let voters: Vec<String> = (0..20).map(|voter| format!("clocks{voter:02}")).collect();
    let browsers: Vec<reqwest::Client> = voters
        .iter()
        .map(|id| browser_of(id, &ahead.url("/")))
        .collect();
    let choices = ["a", "b", "b", "a", "a", "b"];
    for (round, choice) in choices.into_iter().enumerate() {
        if round == 3 {
            drop(ahead);
            ahead = vote_with_clock(stack, library, ahead_clock, "-10s").await;
            let stepped = stamp_of_a_new_voter(stack, &ahead).await;
            assert!(
                stepped < now_micros() - 5 * 1_000_000,
                "the clock ahead did not step back: {stepped}"
            );
        }
        for (voter, browser) in browsers.iter().enumerate() {
            let replica = if (voter + round) % 2 == 0 {
                &ahead
            } else {
                behind
            };
            let res = cast(browser, &replica.url("/"), choice).await;
            assert_eq!(res.status(), 200, "voter {}, vote {round}", voters[voter]);
        }
    }
    let last = voters
        .into_iter()
        .map(|id| (id, choices[choices.len() - 1].to_owned()))
        .collect();
    (last, ahead)
}

/// A browser that already holds the cookie `voter_id=<id>` for the host of
/// `url` (every port of it, as browsers share cookies across ports) and
/// keeps what the replicas set, as a browser's cookie jar does.
fn browser_of(id: &str, url: &str) -> reqwest::Client {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let url: reqwest::Url = url.parse().unwrap();
    jar.add_cookie_str(&format!("voter_id={id}; Path=/"), &url);
    reqwest::Client::builder()
        .no_proxy()
        .cookie_provider(jar)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

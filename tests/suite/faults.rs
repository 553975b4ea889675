//! Lose no vote: workers killed with SIGKILL at random, Postgres and Redis
//! restarted under load, Redis that stops answering, services stopped with
//! SIGTERM mid-load. Each test
//! compares the final table, row for row, with what it computed itself.

use crate::harness::service::Service;
use crate::harness::stalling_proxy::StallingProxy;
use crate::harness::worker::{counts, drained, logged, push, stamped};
use crate::harness::{eventually, metric, Stack};
use common::redis_link::{CallError, RedisLink};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use reqwest::header::{CONTENT_TYPE, COOKIE};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn seeded() -> (StdRng, u64) {
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    (StdRng::seed_from_u64(seed), seed)
}

fn expected_counts(expected: &BTreeMap<String, String>) -> (i64, i64) {
    let a = expected.values().filter(|v| *v == "a").count() as i64;
    (a, expected.len() as i64 - a)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_killed_at_random_lose_no_vote_and_each_voters_last_vote_wins() {
    const VOTES: usize = 20_000;
    let stack = Stack::start("chaos-kill-workers");
    let (mut rng, seed) = seeded();
    let mut workers: Vec<Service> = (0..3)
        .map(|i| {
            Service::spawn(
                "worker",
                &stack.dir,
                &chaos_worker_env(&stack, &format!("w{i}")),
            )
        })
        .collect();
    let (votes, expected) = every_voter_votes_four_times(&mut rng, VOTES);
    let (kills, new_ids) = push_while_killing_workers(&stack, &mut rng, &mut workers, &votes).await;
    drained(&stack).await;

    let stored = stack.stored_votes().await;
    let missing = expected.keys().filter(|k| !stored.contains_key(*k)).count();
    let wrong = expected
        .iter()
        .filter(|(k, v)| stored.get(*k).is_some_and(|s| s != *v))
        .count();
    println!(
        "chaos (seed {seed}): {VOTES} votes from {} voters, {kills} workers killed with SIGKILL \
         ({new_ids} replaced under a new id); missing {missing}, wrong {wrong}",
        expected.len()
    );
    assert!(kills >= 10, "the chaos loop killed only {kills} workers");
    assert_eq!((missing, wrong), (0, 0), "seed {seed}");
    assert_eq!(stored, expected, "seed {seed}");
    assert_eq!(counts(&stack).await, expected_counts(&expected));
}

/// A chaos worker's environment: small batches, a 1 s heartbeat.
fn chaos_worker_env(stack: &Stack, id: &str) -> Vec<(String, String)> {
    stack.env(&[
        ("WORKER_ID", id),
        ("BATCH_SIZE", "100"),
        ("HEARTBEAT_TTL_MS", "1000"),
    ])
}

/// `count` stamped votes in casting order, and each voter's last choice:
/// every voter votes four times on average, at random.
fn every_voter_votes_four_times(
    rng: &mut StdRng,
    count: usize,
) -> (Vec<String>, BTreeMap<String, String>) {
    const VOTERS: usize = 5_000;
    let mut expected = BTreeMap::new();
    let votes: Vec<String> = (0..count)
        .map(|i| {
            // The first VOTERS votes give every voter one; the rest are random.
            let voter = if i < VOTERS {
                i
            } else {
                rng.random_range(0..VOTERS)
            };
            let voter = format!("voter{voter:04}");
            let choice = if rng.random_bool(0.5) { "a" } else { "b" };
            expected.insert(voter.clone(), choice.to_owned());
            stamped(&voter, choice, i as i64 + 1)
        })
        .collect();
    (votes, expected)
}

/// Pushes `votes` 500 at a time, killing a random worker (SIGKILL) after
/// each push and on until the queue is empty (60 s at most); half come back
/// under the same id, half under a new one. Returns the kills and new ids.
async fn push_while_killing_workers(
    stack: &Stack,
    rng: &mut StdRng,
    workers: &mut [Service],
    votes: &[String],
) -> (usize, usize) {
    let mut kills = 0;
    let mut new_ids = 0;
    let mut chunks = votes.chunks(500);
    let started = Instant::now();
    loop {
        if let Some(chunk) = chunks.next() {
            push(stack, chunk).await;
        } else if stack.queued().await == 0 || started.elapsed() > Duration::from_secs(60) {
            break;
        }
        // Chaos on purpose: the workers run a random while between kills.
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..300))).await;
        let victim = rng.random_range(0..workers.len());
        workers[victim].kill9();
        kills += 1;
        // Half come back under the same id (a container restart); the others
        // as a new worker, so the dead one's batch must be recovered by expiry.
        let id = if rng.random_bool(0.5) {
            format!("w{victim}")
        } else {
            new_ids += 1;
            format!("w{victim}-{new_ids}")
        };
        workers[victim] = Service::spawn("worker", &stack.dir, &chaos_worker_env(stack, &id));
    }
    (kills, new_ids)
}

/// Voters voting again and again through the vote service until stopped,
/// 16 at a time; a vote that is not acknowledged (503) is cast again, as a
/// person would. Counts what was acknowledged and refused as it goes, so a
/// test can wait for a fault to be felt and for votes to flow again.
struct Voting {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    lanes: Vec<tokio::task::JoinHandle<BTreeMap<String, String>>>,
}

impl Voting {
    const LANES: usize = 16;

    fn start(vote_url: String, voters: usize) -> Self {
        let client = crate::harness::http_client(false);
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let lanes = (0..Self::LANES)
            .map(|lane| {
                let (client, url) = (client.clone(), vote_url.clone());
                let (stop, acknowledged, refused) =
                    (stop.clone(), acknowledged.clone(), refused.clone());
                tokio::spawn(async move {
                    let mut last = BTreeMap::new();
                    for round in 0.. {
                        for voter in (lane..voters).step_by(Self::LANES) {
                            if stop.load(Ordering::Relaxed) {
                                return last;
                            }
                            let id = format!("{voter:016x}");
                            let choice = if (voter + round * 7) % 3 == 0 {
                                "a"
                            } else {
                                "b"
                            };
                            loop {
                                let res = client
                                    .post(&url)
                                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                                    .header(COOKIE, format!("voter_id={id}"))
                                    .body(format!("vote={choice}"))
                                    .send()
                                    .await;
                                match res {
                                    Ok(res) if res.status() == 200 => break,
                                    Ok(res) => assert_eq!(
                                        res.status(),
                                        503,
                                        "only 503 (may not have been recorded) is allowed"
                                    ),
                                    Err(_) => {}
                                }
                                refused.fetch_add(1, Ordering::Relaxed);
                                // A voter's pause before trying again.
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                            acknowledged.fetch_add(1, Ordering::Relaxed);
                            last.insert(id, choice.to_owned());
                        }
                    }
                    last
                })
            })
            .collect();
        Self {
            stop,
            acknowledged,
            refused,
            lanes,
        }
    }

    fn acknowledged(&self) -> usize {
        self.acknowledged.load(Ordering::Relaxed)
    }

    fn refused(&self) -> usize {
        self.refused.load(Ordering::Relaxed)
    }

    /// Waits until `more` further votes are acknowledged.
    async fn flowing(&self, more: usize, what: &str) {
        let target = self.acknowledged() + more;
        eventually(Duration::from_secs(60), what, || async {
            (self.acknowledged() >= target).then_some(())
        })
        .await;
    }

    /// Stops the lanes; returns each voter's last acknowledged choice.
    async fn finish(self) -> BTreeMap<String, String> {
        self.stop.store(true, Ordering::Relaxed);
        let mut expected = BTreeMap::new();
        for lane in self.lanes {
            expected.extend(lane.await.unwrap());
        }
        expected
    }
}

/// A dependency taken away under load, and how its absence shows.
#[derive(Debug, Clone, Copy)]
enum Outage {
    /// Postgres stopped: the workers' stores fail (`worker_errors_total{stage="store"}`).
    Postgres,
    /// Redis (append-only) stopped: the vote service refuses votes (503).
    Redis,
}

impl Outage {
    fn stop(self, stack: &mut Stack) {
        match self {
            Self::Postgres => stack.pg.stop(),
            Self::Redis => stack.redis.stop(),
        }
    }

    fn start(self, stack: &mut Stack) {
        match self {
            Self::Postgres => stack.pg.start_again(),
            Self::Redis => stack.redis.start_again(),
        }
    }

    /// A count that grows only while the outage is felt.
    async fn felt(self, workers: &[Service], voting: &Voting) -> f64 {
        match self {
            Self::Postgres => {
                let mut failed = 0.0;
                for worker in workers {
                    failed += metric(worker, r#"worker_errors_total{stage="store"}"#).await;
                }
                failed
            }
            Self::Redis => voting.refused() as f64,
        }
    }
}

/// What a dependency's outages under load did.
struct OutageRun {
    expected: BTreeMap<String, String>,
    refused: usize,
    /// How much the outage's own count grew, per outage.
    felt: Vec<f64>,
}

/// Votes flow through `vote` to three workers while `outage` happens twice:
/// each time the dependency stays down until its absence is seen (a failed
/// store, a refused vote), then comes back and votes must flow again without
/// restarting anything. Then the queue drains and the table must hold every
/// voter's last acknowledged vote, row for row.
async fn outages_under_load(stack: &mut Stack, outage: Outage) -> OutageRun {
    let vote = stack.vote(&[]).await;
    let mut workers = Vec::new();
    for id in ["w1", "w2", "w3"] {
        workers.push(
            stack
                .worker(&[("WORKER_ID", id), ("BATCH_SIZE", "50")])
                .await,
        );
    }
    let voting = Voting::start(vote.url("/"), 800);
    let mut felt = Vec::new();
    for round in 1..=2 {
        voting
            .flowing(200, &format!("votes before outage {round}"))
            .await;
        let before = outage.felt(&workers, &voting).await;
        outage.stop(stack);
        let seen = eventually(
            Duration::from_secs(30),
            &format!("{outage:?} outage {round} to be felt"),
            || async {
                let now = outage.felt(&workers, &voting).await;
                (now > before).then_some(now - before)
            },
        )
        .await;
        felt.push(seen);
        outage.start(stack);
        voting
            .flowing(200, &format!("votes to flow again after outage {round}"))
            .await;
    }
    let refused = voting.refused();
    let expected = voting.finish().await;
    drained(stack).await;
    assert_eq!(stack.stored_votes().await, expected);
    assert_eq!(counts(stack).await, expected_counts(&expected));
    OutageRun {
        expected,
        refused,
        felt,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_loses_no_acknowledged_vote() {
    let mut stack = Stack::start("chaos-postgres-restart");
    let run = outages_under_load(&mut stack, Outage::Postgres).await;
    println!(
        "postgres stopped twice under load: failed stores seen {:?}; {} voters, {} refused, none lost",
        run.felt,
        run.expected.len(),
        run.refused
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_under_load_loses_no_acknowledged_vote() {
    let mut stack = Stack::start_with("chaos-redis-restart", true);
    let run = outages_under_load(&mut stack, Outage::Redis).await;
    println!(
        "redis (append-only) stopped twice under load: votes refused {:?}; {} voters, none lost",
        run.felt,
        run.expected.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_fails_no_request_the_vote_service_accepted() {
    let stack = Stack::start("sigterm-under-load");
    // A drain long enough that a request stamped "before the signal" but
    // delayed by a busy machine still reaches an open listener.
    let mut vote = stack.vote(&[("DRAIN_SECONDS", "2")]).await;
    let lanes = LanesAroundASignal::start(&vote.url("/"));
    // Drive the run through each phase until it is seen, not for fixed times.
    eventually(
        Duration::from_secs(30),
        "votes served before the signal",
        || async { (lanes.served.load(Ordering::Relaxed) >= 200).then_some(()) },
    )
    .await;
    lanes.signalled.set(Instant::now()).unwrap();
    vote.sigterm();
    let status = vote.exit_status(Duration::from_secs(15)).await;
    eventually(
        Duration::from_secs(30),
        "requests refused after the stop",
        || async { (lanes.refused_after.load(Ordering::Relaxed) >= 16).then_some(()) },
    )
    .await;
    let outcomes = lanes.finish().await;
    let count = |before: bool, ok: bool| outcomes.iter().filter(|o| **o == (before, ok)).count();
    let (ok_before, failed_before) = (count(true, true), count(true, false));
    let (ok_after, refused) = (count(false, true), count(false, false));
    let ok = ok_before + ok_after;
    println!(
        "sigterm under load: sent before the signal {} (failed {failed_before}); \
         after it {ok_after} served while draining, {refused} refused once stopped",
        ok_before + failed_before
    );
    assert_eq!(status.code(), Some(0));
    assert_eq!(failed_before, 0, "a request sent before SIGTERM failed");
    assert!(ok_after > 0, "nothing was served during the drain");
    // Every acknowledged vote is queued. A request cut off while the server
    // closed (after the signal) may be queued without an answer: at least once.
    let queued = stack.queued().await;
    println!("queued {queued}, acknowledged {ok}");
    assert!(queued >= ok as i64, "an acknowledged vote is missing");
}

/// 16 lanes posting votes until stopped, each request on a new connection;
/// every outcome is kept as (sent before the signal, served).
struct LanesAroundASignal {
    signalled: Arc<std::sync::OnceLock<Instant>>,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
    refused_after: Arc<AtomicUsize>,
    lanes: Vec<tokio::task::JoinHandle<Vec<(bool, bool)>>>,
}

impl LanesAroundASignal {
    fn start(url: &str) -> Self {
        // A new connection per request, so no request rides a connection the
        // server is closing; every request sent before the signal must succeed.
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let signalled: Arc<std::sync::OnceLock<Instant>> = Arc::new(std::sync::OnceLock::new());
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let refused_after = Arc::new(AtomicUsize::new(0));
        let lanes = (0..16)
            .map(|_| {
                let (client, url, signalled) = (client.clone(), url.to_owned(), signalled.clone());
                let (stop, served, refused_after) =
                    (stop.clone(), served.clone(), refused_after.clone());
                tokio::spawn(async move {
                    let mut outcomes = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let before_signal = signalled.get().is_none();
                        let res = client
                            .post(&url)
                            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                            .body("vote=a")
                            .send()
                            .await;
                        let ok = matches!(&res, Ok(res) if res.status() == 200);
                        outcomes.push((before_signal, ok));
                        if ok {
                            served.fetch_add(1, Ordering::Relaxed);
                        } else {
                            if !before_signal {
                                refused_after.fetch_add(1, Ordering::Relaxed);
                            }
                            // A client's pause before trying again.
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                    outcomes
                })
            })
            .collect();
        Self {
            signalled,
            stop,
            served,
            refused_after,
            lanes,
        }
    }

    /// Stops the lanes: every outcome, (sent before the signal, served).
    async fn finish(self) -> Vec<(bool, bool)> {
        self.stop.store(true, Ordering::Relaxed);
        let mut outcomes = Vec::new();
        for lane in self.lanes {
            outcomes.extend(lane.await.unwrap());
        }
        outcomes
    }
}

#[tokio::test]
async fn a_worker_stopped_mid_drain_exits_0_and_a_successor_stores_everything() {
    let stack = Stack::start("worker-sigterm-mid-drain");
    let votes: Vec<String> = (0..20_000)
        .map(|i| stamped(&format!("v{i}"), "b", i))
        .collect();
    push(&stack, &votes).await;
    let mut first = stack
        .worker(&[("WORKER_ID", "first"), ("BATCH_SIZE", "200")])
        .await;
    eventually(Duration::from_secs(20), "the first batches", || async {
        (stack.queued().await < 19_000).then_some(())
    })
    .await;
    first.sigterm();
    let status = first.exit_status(Duration::from_secs(5)).await;
    assert_eq!(status.code(), Some(0), "{}", first.log_text());
    assert!(
        stack.queued().await > 0,
        "stopped before the end of the queue"
    );
    let _second = stack.worker(&[("WORKER_ID", "second")]).await;
    drained(&stack).await;
    assert_eq!(stack.stored_votes().await.len(), 20_000);
    assert_eq!(counts(&stack).await, (0, 20_000));
}

/// Redis stops answering without closing anything (its pod deleted behind a
/// Service, a partition): the vote service and two workers reach it through a
/// relay that stalls every connection open at that moment, for good. Each
/// must give up on its stalled connection and dial again, without a restart;
/// votes flow again and every acknowledged one is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_that_stops_answering_under_load_is_dialled_again_and_loses_no_vote() {
    let stack = Stack::start("redis-stops-answering");
    let proxy = StallingProxy::start(([127, 0, 0, 1], stack.redis.port).into()).await;
    let url = proxy.redis_url();
    let through_proxy = vec![("REDIS_URL", url.as_str())];
    let vote = stack.vote(&through_proxy).await;
    let mut workers = Vec::new();
    for id in ["w1", "w2"] {
        let mut env = through_proxy.clone();
        env.extend([("WORKER_ID", id), ("BATCH_SIZE", "50")]);
        workers.push(stack.worker(&env).await);
    }
    let voting = Voting::start(vote.url("/"), 800);
    voting
        .flowing(300, "votes before Redis stops answering")
        .await;
    proxy.stall();
    let refused = voting.refused();
    eventually(Duration::from_secs(30), "the stall to be felt", || async {
        (voting.refused() > refused).then_some(())
    })
    .await;
    voting
        .flowing(300, "votes to flow again on new connections")
        .await;
    let expected = voting.finish().await;
    drained(&stack).await;
    assert_eq!(stack.stored_votes().await, expected);
    assert_eq!(counts(&stack).await, expected_counts(&expected));
    // A worker whose blocking wait on the queue was caught by the stall
    // notices it only when that wait's own limit runs out (its 1 s wait plus
    // the 5 s call limit), which can be after the votes above have drained.
    for service in std::iter::once(&vote).chain(&workers) {
        logged(service, "closed a stalled Redis connection").await;
    }
}

/// A connection that stalled and was given up on can come back to life; what
/// it still carried must not run after what was sent since on the new
/// connection (a visitor's earlier vote landing after their later one). The
/// new connection closes the old one on the server before it is used.
#[tokio::test]
async fn a_stalled_connection_given_up_on_never_runs_its_command_after_newer_ones() {
    let stack = Stack::start("redis-link-fence");
    let proxy = StallingProxy::start(([127, 0, 0, 1], stack.redis.port).into()).await;
    let url = common::config::RedisUrl::parse(&proxy.redis_url()).unwrap();
    let link = RedisLink::new(&url, "test", Duration::from_secs(1)).unwrap();
    let push = |item: &'static str| rpush(&link, "fence", item);
    push("first").await.expect("a healthy connection");
    proxy.stall();
    let stalled = push("earlier").await;
    assert!(matches!(stalled, Err(CallError::Silent(_))), "{stalled:?}");
    push("later").await.expect("a new connection");
    proxy.resume();
    // Letting time pass on purpose, to show that something does not happen:
    // the stalled "earlier" never lands (it would within milliseconds).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stack.list("fence").await, ["first", "later"]);
}

/// Where Redis refuses `CLIENT` (here an ACL user without it), a connection
/// is still dialled again after a stall: the fence is
/// skipped with a warning, the votes still go through.
#[tokio::test]
async fn a_redis_user_refused_client_still_dials_again_after_a_stall() {
    let stack = Stack::start("redis-link-no-client");
    let mut admin = stack.redis.connection().await;
    redis::cmd("ACL")
        .arg(vec![
            "SETUSER", "limited", "on", ">secret", "~*", "+@all", "-client",
        ])
        .query_async::<()>(&mut admin)
        .await
        .unwrap();
    let proxy = StallingProxy::start(([127, 0, 0, 1], stack.redis.port).into()).await;
    let url = proxy
        .redis_url()
        .replace("redis://", "redis://limited:secret@");
    let link = RedisLink::new(
        &common::config::RedisUrl::parse(&url).unwrap(),
        "test",
        Duration::from_secs(1),
    )
    .unwrap();
    let push = |item: &'static str| rpush(&link, "queue", item);
    push("first")
        .await
        .expect("CLIENT refused, the connection still serves");
    proxy.stall();
    assert!(matches!(push("stalled").await, Err(CallError::Silent(_))));
    push("later")
        .await
        .expect("dialled again without the fence");
    assert_eq!(stack.list("queue").await, ["first", "later"]);
}

/// RPUSH `item` onto `key` through `link`, within half a second.
async fn rpush(link: &RedisLink, key: &'static str, item: &'static str) -> Result<i64, CallError> {
    link.call(Duration::from_millis(500), move |mut redis| async move {
        redis::cmd("RPUSH")
            .arg(key)
            .arg(item)
            .query_async::<i64>(&mut redis)
            .await
    })
    .await
}

//! Casting the votes: `concurrency` tasks, each with its own connection, take
//! vote numbers from one counter, each vote a form POST with its voter's
//! cookie (none with `--fresh`), paced by the schedule in an open model. The
//! tasks are shared out over `threads` threads, each running its own
//! single-threaded runtime (tokio's work-stealing one cost about a fifth
//! more CPU per vote, and seed shares the cores with the service it loads).
//!
//! With a rate (an open model: votes arrive on a schedule whether or not the
//! service keeps up), each vote's latency is measured from the time it was
//! due, not from when a task got round to sending it, so a stall of the
//! service shows in the percentiles instead of hiding as fewer requests
//! (coordinated omission). Without a rate (a closed model), from the send.
//! Only successes go into the latency percentiles; a failure's time (a fast
//! 503, a 10 s timeout) is kept in a histogram of its own.
//!
//! Voter ids come from a nonce: drawn per run, or derived from
//! `--voter-seed`, so that a retried run (a Kubernetes Job's next attempt)
//! casts the same voters' votes and the tally ends at the planned count.
//! Before the run, the first vote is retried until vote accepts it, for up to
//! `--wait` (vote may be up before it reaches Redis); re-casting it is
//! harmless, as the last vote of a voter is the one that counts.
//!
//! Besides the totals, each thread keeps the run second by second
//! ([`crate::timeline`]) for the report, and with `--check-tally` each task
//! notes what every vote's voter was told ([`crate::ledger`]) for the check
//! of the tally after the run ([`crate::tally`]).

use crate::client::{Connection, Failure, Target};
use crate::ledger::{self, Entry, Fate};
use crate::plan::Plan;
use crate::report::{Latency, Summary};
use crate::schedule::Schedule;
use crate::tally;
use crate::timeline::{Planned, Sample, Timeline, LATE_AFTER};
use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use hyper::header::HeaderValue;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// What one task saw.
struct Observed {
    /// Successes only.
    latency: Histogram<u64>,
    failed_latency: Histogram<u64>,
    ok_a: u64,
    ok_b: u64,
    errors: BTreeMap<String, u64>,
    /// What each vote's voter was told; only with `--check-tally`.
    ledger: Vec<Entry>,
}

/// A run as the report shows it: the summary, the run second by second and
/// the successes' latencies (µs).
pub struct Run {
    pub summary: Summary,
    pub samples: Vec<Sample>,
    pub latency: Histogram<u64>,
}

/// What every connection's task shares, across the sending threads.
struct Shared {
    target: Target,
    plan: Plan,
    schedule: Schedule,
    votes: u64,
    /// What the voter ids derive from: new per run, so runs do not overwrite
    /// each other, or from `--voter-seed`, so retries do.
    run_nonce: u64,
    /// Before the first vote: the ledger's times count from here.
    epoch: Instant,
    started: Instant,
    deadline: Option<Instant>,
    /// The next vote's number, and how many were sent and failed.
    next: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
}

pub async fn cast(plan: &Plan) -> anyhow::Result<Run> {
    let target = Target::parse(&plan.url, plan.ca_file.as_deref())
        .with_context(|| format!("--url {:?}", plan.url))?;
    anyhow::ensure!(plan.concurrency > 0, "--concurrency must be at least 1");
    let run_nonce = plan
        .voter_seed
        .as_deref()
        .map_or_else(rand::random, nonce_from_seed);
    let tally_before = match &plan.check_tally {
        Some(url) => {
            let api = tally::api_url(url);
            Some(tally::Before::read(&api, plan.ca_file.as_deref(), plan.wait).await)
        }
        None => None,
    };
    let epoch = Instant::now();
    let mut first = Observed::new();
    let cast_first = !plan.wait.is_zero() && plan.votes() > 0;
    if cast_first {
        cast_first_vote(&target, plan, run_nonce, epoch, &mut first).await?;
    }
    let started = Instant::now();
    let shared = Arc::new(Shared {
        target,
        plan: plan.clone(),
        schedule: plan.schedule(),
        votes: plan.votes(),
        run_nonce,
        epoch,
        started,
        deadline: plan.duration.map(|d| started + d),
        next: AtomicU64::new(u64::from(cast_first)),
        done: AtomicU64::new(u64::from(cast_first)),
        failed: AtomicU64::new(0),
    });
    let progress = (!plan.quiet).then(|| tokio::spawn(show_progress(shared.clone())));
    let threads = plan.threads();
    let mut senders = Vec::with_capacity(threads);
    for t in 0..threads {
        let connections = plan.concurrency / threads + usize::from(t < plan.concurrency % threads);
        senders.push(send_from_thread(shared.clone(), connections)?);
    }
    let mut all = first;
    let mut timeline = Timeline::default();
    for sender in senders {
        let (tallies, seen) = sender.await.context("a sending thread stopped")??;
        for tally in tallies {
            all.add(tally)?;
        }
        timeline.merge(seen);
    }
    let Observed {
        latency,
        failed_latency,
        ok_a,
        ok_b,
        errors,
        ledger,
    } = all;
    let elapsed = started.elapsed();
    if let Some(progress) = progress {
        progress.abort();
        if std::io::stderr().is_terminal() {
            eprintln!();
        }
    }
    let sent = shared.done.load(Ordering::Relaxed);
    let open = matches!(shared.schedule, Schedule::Open { .. });
    let planned = if open {
        Planned::new(&shared.schedule, shared.votes, elapsed, plan.duration, sent)
    } else {
        Planned::default()
    };
    let tally_check = match (&plan.check_tally, tally_before) {
        (Some(url), Some(before)) => {
            let voters = plan.voters();
            let voter_of = |i: u64| (!plan.fresh).then_some(i % voters);
            let is_a = |i: u64| plan.choice(i) == "a";
            let expected = ledger::expected(&ledger, &voter_of, &is_a);
            Some(
                tally::check(
                    &tally::api_url(url),
                    before,
                    expected,
                    plan.check_tally_within,
                    plan.voter_seed.is_some(),
                )
                .await,
            )
        }
        _ => None,
    };
    let summary = Summary {
        url: plan.url.clone(),
        concurrency: plan.concurrency,
        threads,
        voters: if plan.fresh {
            ok_a + ok_b
        } else {
            plan.voters().min(sent)
        },
        split: format!("{}:{}", plan.split.0, plan.split.1),
        sent,
        ok: ok_a + ok_b,
        ok_a,
        ok_b,
        errors,
        elapsed_s: elapsed.as_secs_f64(),
        requests_per_s: Summary::rate(sent, elapsed),
        latency_ms: Latency::from_micros(&latency),
        late: open.then_some(timeline.late()),
        dropped: open.then_some(planned.dropped_total),
        tally_check,
        failed_latency_ms: (!failed_latency.is_empty())
            .then(|| Latency::from_micros(&failed_latency)),
        latency_from: match shared.schedule {
            Schedule::AsFastAsAnswered => "the time each vote was sent (closed model)",
            Schedule::Open { .. } => "the time each vote was due (open model)",
        },
    };
    Ok(Run {
        summary,
        samples: timeline.samples(elapsed, &planned),
        latency,
    })
}

/// A thread's tallies (one per connection) and what it saw second by second.
type ThreadTallies = (Vec<Observed>, Timeline);

/// A thread with its own single-threaded runtime, as wrk runs one event loop
/// per thread: its `connections` tasks are never moved to, nor woken from,
/// another thread. Their tallies come back when all have ended.
fn send_from_thread(
    shared: Arc<Shared>,
    connections: usize,
) -> anyhow::Result<oneshot::Receiver<anyhow::Result<ThreadTallies>>> {
    let (report, tallies) = oneshot::channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("seed-sender".into())
        .spawn(move || {
            let outcome = runtime.block_on(async {
                // Only this thread's tasks take its lock, one at a time.
                let timeline = Arc::new(Mutex::new(Timeline::default()));
                let tasks: Vec<_> = (0..connections)
                    .map(|_| tokio::spawn(send_votes(shared.clone(), timeline.clone())))
                    .collect();
                let mut tallies = Vec::with_capacity(connections);
                for task in tasks {
                    tallies.push(task.await?);
                }
                let timeline =
                    std::mem::take(&mut *timeline.lock().unwrap_or_else(PoisonError::into_inner));
                Ok((tallies, timeline))
            });
            let _ = report.send(outcome);
        })?;
    Ok(tallies)
}

impl Observed {
    fn new() -> Self {
        let histogram = || Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
        Self {
            latency: histogram(),
            failed_latency: histogram(),
            ok_a: 0,
            ok_b: 0,
            errors: BTreeMap::new(),
            ledger: Vec::new(),
        }
    }

    fn add(&mut self, other: Observed) -> anyhow::Result<()> {
        self.latency.add(&other.latency)?;
        self.failed_latency.add(&other.failed_latency)?;
        self.ok_a += other.ok_a;
        self.ok_b += other.ok_b;
        self.ledger.extend(other.ledger);
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        Ok(())
    }

    /// Counts one vote's outcome; its latency goes to the successes' or the
    /// failures' histogram.
    fn count(&mut self, choice: Choice, outcome: &Result<(), Failure>, micros: u64) {
        let micros = micros.clamp(1, 60_000_000);
        match outcome {
            Ok(()) => {
                let _ = self.latency.record(micros);
                match choice {
                    Choice::A => self.ok_a += 1,
                    Choice::B => self.ok_b += 1,
                }
            }
            Err(failure) => {
                let _ = self.failed_latency.record(micros);
                *self.errors.entry(failure.kind()).or_default() += 1;
            }
        }
    }
}

/// Which option a vote is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    A,
    B,
}

/// The forms of the two choices, made once per task.
struct Forms([Bytes; 2]);

impl Forms {
    fn new() -> Self {
        Self([Bytes::from_static(b"vote=a"), Bytes::from_static(b"vote=b")])
    }

    fn of(&self, choice: Choice) -> Bytes {
        self.0[usize::from(choice == Choice::B)].clone()
    }
}

/// Casts the `i`-th vote as the plan says (the page first with `--visit`):
/// its choice and outcome.
async fn cast_vote(
    connection: &mut Connection,
    plan: &Plan,
    run_nonce: u64,
    forms: &Forms,
    i: u64,
) -> (Choice, Result<(), Failure>) {
    let choice = if plan.choice(i) == "a" {
        Choice::A
    } else {
        Choice::B
    };
    let cookie = (!plan.fresh).then(|| voter_cookie(run_nonce, i % plan.voters()));
    if plan.visit {
        // The page first, as a browser loads it before the vote.
        let _ = connection.get(cookie.as_ref()).await;
    }
    let outcome = connection
        .post_form(cookie.as_ref(), forms.of(choice))
        .await;
    (choice, outcome)
}

/// Casts vote 0 until vote accepts it, for up to `--wait`: vote may answer
/// before it reaches Redis. It counts as a success of the run, without a
/// latency (its time is the wait's).
async fn cast_first_vote(
    target: &Target,
    plan: &Plan,
    run_nonce: u64,
    epoch: Instant,
    tally: &mut Observed,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut connection = Connection::new(target.clone());
    let forms = Forms::new();
    loop {
        let sent = Instant::now();
        let (choice, outcome) = cast_vote(&mut connection, plan, run_nonce, &forms, 0).await;
        if plan.check_tally.is_some() {
            tally.ledger.push(entry(epoch, 0, sent, &outcome));
        }
        match outcome {
            Ok(()) => {
                match choice {
                    Choice::A => tally.ok_a += 1,
                    Choice::B => tally.ok_b += 1,
                }
                return Ok(());
            }
            Err(failure) if started.elapsed() >= plan.wait => {
                anyhow::bail!(
                    "{target} did not accept a vote within --wait {}: {}",
                    humantime::format_duration(plan.wait),
                    failure.kind()
                );
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// The ledger's entry of vote `number`, sent at `sent` and answered now.
fn entry(epoch: Instant, number: u64, sent: Instant, outcome: &Result<(), Failure>) -> Entry {
    Entry {
        number,
        sent_us: sent.duration_since(epoch).as_micros() as u64,
        answered_us: epoch.elapsed().as_micros() as u64,
        fate: Fate::of(outcome),
    }
}

/// One connection's task: takes vote numbers until the votes or the time run
/// out; each answer also goes to its thread's `timeline`.
async fn send_votes(shared: Arc<Shared>, timeline: Arc<Mutex<Timeline>>) -> Observed {
    let plan = &shared.plan;
    let keep_ledger = plan.check_tally.is_some();
    let mut connection = Connection::new(shared.target.clone());
    let mut tally = Observed::new();
    let forms = Forms::new();
    loop {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        if i >= shared.votes || shared.deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let due = match shared.schedule.due(i) {
            None => None,
            Some(None) => break,
            Some(Some(offset)) => Some(shared.started + offset),
        };
        if let Some(due) = due {
            tokio::time::sleep_until(due.into()).await;
        }
        let sent = Instant::now();
        let late = due.is_some_and(|due| sent.duration_since(due) > LATE_AFTER);
        let (choice, outcome) = cast_vote(&mut connection, plan, shared.run_nonce, &forms, i).await;
        let answered = Instant::now();
        let micros = answered.duration_since(due.unwrap_or(sent)).as_micros() as u64;
        if outcome.is_err() {
            shared.failed.fetch_add(1, Ordering::Relaxed);
        }
        timeline
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(
                answered.duration_since(shared.started),
                outcome.is_ok().then_some(micros),
                late,
            );
        if keep_ledger {
            tally.ledger.push(entry(shared.epoch, i, sent, &outcome));
        }
        tally.count(choice, &outcome, micros);
        shared.done.fetch_add(1, Ordering::Relaxed);
    }
    tally
}

/// The nonce of `--voter-seed`: FNV-1a of its bytes, then mixed (SplitMix64's
/// finaliser) so that seeds alike (`seed-1`, `seed-2`) give unrelated ids.
/// Fixed arithmetic, so every build derives the same ids from the same seed.
fn nonce_from_seed(seed: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in seed.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// The cookie of the `voter`-th voter of this run: 16 hex digits, as the
/// ids vote issues. Distinct voters get distinct ids (a bijection of `voter`).
/// Written out digit by digit into the one buffer the header keeps: this is
/// on every vote's path.
fn voter_cookie(run_nonce: u64, voter: u64) -> HeaderValue {
    let id = run_nonce ^ voter.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut cookie = Vec::with_capacity(25);
    cookie.extend_from_slice(b"voter_id=");
    cookie.extend_from_slice(&wire::id::hex16(id));
    HeaderValue::from_maybe_shared(Bytes::from(cookie)).expect("hex digits are a valid header")
}

/// One line a second on a terminal (updated in place), one every 5 s otherwise.
async fn show_progress(shared: Arc<Shared>) {
    let terminal = std::io::stderr().is_terminal();
    let every = if terminal {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(5)
    };
    let mut last = 0;
    loop {
        tokio::time::sleep(every).await;
        let now = shared.done.load(Ordering::Relaxed);
        let line = format!(
            "  {:>6.1}s  {:>9} sent  {:>8.0}/s  {} errors",
            shared.started.elapsed().as_secs_f64(),
            now,
            (now - last) as f64 / every.as_secs_f64(),
            shared.failed.load(Ordering::Relaxed)
        );
        last = now;
        if terminal {
            eprint!("\r{line}");
        } else {
            eprintln!("{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_voter_seed_gives_the_same_voters_every_time_and_others_differ() {
        let ids = |seed: &str| -> Vec<HeaderValue> {
            (0..1000)
                .map(|v| voter_cookie(nonce_from_seed(seed), v))
                .collect()
        };
        assert_eq!(ids("seed-7f3a"), ids("seed-7f3a"));
        let distinct: std::collections::BTreeSet<_> = ids("seed-7f3a")
            .into_iter()
            .chain(ids("seed-7f3b"))
            .collect();
        assert_eq!(distinct.len(), 2000);
        let (nonce, voter) = (0x0123_4567_89ab_cdef, 42u64);
        let id = nonce ^ voter.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        assert_eq!(
            voter_cookie(nonce, voter),
            format!("voter_id={id:016x}").as_str()
        );
        let cookie = voter_cookie(nonce_from_seed("x"), 0);
        let id = cookie.to_str().unwrap().strip_prefix("voter_id=").unwrap();
        assert!(
            id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
    }
}

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

use crate::client::{Connection, Target};
use crate::plan::Plan;
use crate::report::{Latency, Summary};
use crate::schedule::Schedule;
use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use hyper::header::HeaderValue;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// What one task saw.
struct Tally {
    latency: Histogram<u64>,
    ok_a: u64,
    ok_b: u64,
    errors: BTreeMap<String, u64>,
}

/// What every connection's task shares, across the sending threads.
struct Shared {
    target: Target,
    plan: Plan,
    schedule: Schedule,
    votes: u64,
    /// A fresh set of voter ids per run, so runs do not overwrite each other.
    run_nonce: u64,
    started: Instant,
    deadline: Option<Instant>,
    /// The next vote's number, and how many were sent and failed.
    next: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
}

pub async fn cast(plan: &Plan) -> anyhow::Result<Summary> {
    let target = Target::parse(&plan.url).with_context(|| format!("--url {:?}", plan.url))?;
    anyhow::ensure!(plan.concurrency > 0, "--concurrency must be at least 1");
    wait_for_target(&target, Duration::from_secs_f64(plan.wait)).await?;
    let started = Instant::now();
    let shared = Arc::new(Shared {
        target,
        plan: plan.clone(),
        schedule: plan.schedule(),
        votes: plan.votes(),
        run_nonce: rand::random(),
        started,
        deadline: plan.duration().map(|d| started + d),
        next: AtomicU64::new(0),
        done: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    let progress = (!plan.quiet).then(|| tokio::spawn(show_progress(shared.clone())));
    let threads = plan.threads();
    let mut senders = Vec::with_capacity(threads);
    for t in 0..threads {
        let connections = plan.concurrency / threads + usize::from(t < plan.concurrency % threads);
        senders.push(send_from_thread(shared.clone(), connections)?);
    }
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut ok_a, mut ok_b) = (0, 0);
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for sender in senders {
        let tallies = sender.await.context("a sending thread stopped")??;
        for tally in tallies {
            latency.add(&tally.latency)?;
            ok_a += tally.ok_a;
            ok_b += tally.ok_b;
            for (kind, n) in tally.errors {
                *errors.entry(kind).or_default() += n;
            }
        }
    }
    let elapsed = started.elapsed();
    if let Some(progress) = progress {
        progress.abort();
        if std::io::stderr().is_terminal() {
            eprintln!();
        }
    }
    let sent = shared.done.load(Ordering::Relaxed);
    Ok(Summary {
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
        latency_from: match shared.schedule {
            Schedule::AsFastAsAnswered => "the time each vote was sent (closed model)",
            Schedule::Open { .. } => "the time each vote was due (open model)",
        },
    })
}

/// A thread with its own single-threaded runtime, as wrk runs one event loop
/// per thread: its `connections` tasks are never moved to, nor woken from,
/// another thread. Their tallies come back when all have ended.
fn send_from_thread(
    shared: Arc<Shared>,
    connections: usize,
) -> anyhow::Result<oneshot::Receiver<anyhow::Result<Vec<Tally>>>> {
    let (report, tallies) = oneshot::channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("seed-sender".into())
        .spawn(move || {
            let outcome = runtime.block_on(async {
                let tasks: Vec<_> = (0..connections)
                    .map(|_| tokio::spawn(send_votes(shared.clone())))
                    .collect();
                let mut tallies = Vec::with_capacity(connections);
                for task in tasks {
                    tallies.push(task.await?);
                }
                Ok(tallies)
            });
            let _ = report.send(outcome);
        })?;
    Ok(tallies)
}

/// One connection's task: takes vote numbers until the votes or the time run out.
async fn send_votes(shared: Arc<Shared>) -> Tally {
    let plan = &shared.plan;
    let mut connection = Connection::new(shared.target.clone());
    let mut tally = Tally {
        latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
        ok_a: 0,
        ok_b: 0,
        errors: BTreeMap::new(),
    };
    let forms = [Bytes::from_static(b"vote=a"), Bytes::from_static(b"vote=b")];
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
        let choice = plan.choice(i);
        let cookie = (!plan.fresh).then(|| voter_cookie(shared.run_nonce, i % plan.voters()));
        let sent = Instant::now();
        if plan.visit {
            // The page first, as a browser loads it before the vote.
            let _ = connection.get(cookie.as_ref()).await;
        }
        let form = forms[usize::from(choice == "b")].clone();
        let outcome = connection.post_form(cookie.as_ref(), form).await;
        let micros = due.unwrap_or(sent).elapsed().as_micros().max(1) as u64;
        let _ = tally.latency.record(micros.min(60_000_000));
        match outcome {
            Ok(()) if choice == "a" => tally.ok_a += 1,
            Ok(()) => tally.ok_b += 1,
            Err(failure) => {
                shared.failed.fetch_add(1, Ordering::Relaxed);
                *tally.errors.entry(failure.kind()).or_default() += 1;
            }
        }
        shared.done.fetch_add(1, Ordering::Relaxed);
    }
    tally
}

/// The cookie of the `voter`-th voter of this run.
fn voter_cookie(run_nonce: u64, voter: u64) -> HeaderValue {
    let id = run_nonce ^ voter.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    HeaderValue::from_str(&format!("voter_id={id:016x}")).expect("hex digits are a valid header")
}

/// Waits until the vote page answers 200 (the service may still be starting).
async fn wait_for_target(target: &Target, limit: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let mut connection = Connection::new(target.clone());
        match connection.get(None).await {
            Ok(()) => return Ok(()),
            Err(failure) => {
                if started.elapsed() >= limit {
                    anyhow::bail!("{target} is not ready after {limit:?}: {}", failure.kind());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
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

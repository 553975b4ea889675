//! Casting the votes: `concurrency` tasks, each with its own connection, take
//! vote numbers from one counter, each vote a form POST with its voter's
//! cookie (none with `--fresh`), paced by the schedule in an open model.
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

/// What one task saw.
struct Tally {
    latency: Histogram<u64>,
    ok_a: u64,
    ok_b: u64,
    errors: BTreeMap<String, u64>,
}

pub async fn cast(plan: &Plan) -> anyhow::Result<Summary> {
    let target = Target::parse(&plan.url).with_context(|| format!("--url {:?}", plan.url))?;
    anyhow::ensure!(plan.concurrency > 0, "--concurrency must be at least 1");
    wait_for_target(&target, Duration::from_secs_f64(plan.wait)).await?;
    // A fresh set of voter ids per run, so runs do not overwrite each other.
    let run_nonce: u64 = rand::random();
    let schedule = Arc::new(plan.schedule());
    let votes = plan.votes();
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = plan.duration().map(|d| started + d);
    let progress =
        (!plan.quiet).then(|| tokio::spawn(show_progress(done.clone(), failed.clone(), started)));
    let mut tasks = Vec::with_capacity(plan.concurrency);
    for _ in 0..plan.concurrency {
        let (target, plan, schedule) = (target.clone(), plan.clone(), schedule.clone());
        let (next, done, failed) = (next.clone(), done.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut connection = Connection::new(target);
            let mut tally = Tally {
                latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
                ok_a: 0,
                ok_b: 0,
                errors: BTreeMap::new(),
            };
            let forms = [Bytes::from_static(b"vote=a"), Bytes::from_static(b"vote=b")];
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= votes || deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let due = match schedule.due(i) {
                    None => None,
                    Some(None) => break,
                    Some(Some(offset)) => Some(started + offset),
                };
                if let Some(due) = due {
                    tokio::time::sleep_until(due.into()).await;
                }
                let choice = plan.choice(i);
                let cookie = (!plan.fresh).then(|| voter_cookie(run_nonce, i % plan.voters()));
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
                        failed.fetch_add(1, Ordering::Relaxed);
                        *tally.errors.entry(failure.kind()).or_default() += 1;
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            tally
        }));
    }
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut ok_a, mut ok_b) = (0, 0);
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for task in tasks {
        let tally = task.await?;
        latency.add(&tally.latency)?;
        ok_a += tally.ok_a;
        ok_b += tally.ok_b;
        for (kind, n) in tally.errors {
            *errors.entry(kind).or_default() += n;
        }
    }
    let elapsed = started.elapsed();
    if let Some(progress) = progress {
        progress.abort();
        if std::io::stderr().is_terminal() {
            eprintln!();
        }
    }
    let sent = done.load(Ordering::Relaxed);
    Ok(Summary {
        url: plan.url.clone(),
        concurrency: plan.concurrency,
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
        latency_from: match *schedule {
            Schedule::AsFastAsAnswered => "the time each vote was sent (closed model)",
            Schedule::Open { .. } => "the time each vote was due (open model)",
        },
    })
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
async fn show_progress(done: Arc<AtomicU64>, failed: Arc<AtomicU64>, started: Instant) {
    let terminal = std::io::stderr().is_terminal();
    let every = if terminal {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(5)
    };
    let mut last = 0;
    loop {
        tokio::time::sleep(every).await;
        let now = done.load(Ordering::Relaxed);
        let line = format!(
            "  {:>6.1}s  {:>9} sent  {:>8.0}/s  {} errors",
            started.elapsed().as_secs_f64(),
            now,
            (now - last) as f64 / every.as_secs_f64(),
            failed.load(Ordering::Relaxed)
        );
        last = now;
        if terminal {
            eprint!("\r{line}");
        } else {
            eprintln!("{line}");
        }
    }
}

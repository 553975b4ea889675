//! Worker throughput: queue N stamped votes, start the worker, and time it
//! until the queue and every processing list are empty.

use anyhow::Context;
use std::process::Stdio;
use std::time::{Duration, Instant};
use wire::ballot::{Ballot, Choice, VoterId};
use wire::queue::{PROCESSING_PREFIX, VOTES};

/// The `WORKER_ID` the measured worker runs under.
const WORKER_ID: &str = "bench";

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    redis: String,
    #[arg(long)]
    database: String,
    #[arg(long)]
    worker_bin: String,
    #[arg(long, default_value_t = 1_000_000)]
    votes: u64,
    /// Prints the worker's resident memory while it drains, in MB.
    #[arg(long)]
    rss_out: Option<String>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut redis = redis::Client::open(args.redis.as_str())?
        .get_multiplexed_async_connection()
        .await
        .context("connecting to Redis")?;
    let _: () = redis::cmd("DEL").arg(VOTES).query_async(&mut redis).await?;
    let filled = Instant::now();
    let chunk = 10_000u64;
    for start in (0..args.votes).step_by(chunk as usize) {
        let messages = (start..(start + chunk).min(args.votes))
            .map(|i| {
                let ballot = Ballot {
                    voter_id: VoterId::parse(&format!("bench{i:012x}"))?,
                    choice: if i % 3 == 2 { Choice::B } else { Choice::A },
                    cast_at: Some(i as i64 + 1),
                };
                Ok(ballot.to_json())
            })
            .collect::<anyhow::Result<Vec<String>>>()?;
        let _: i64 = redis::cmd("RPUSH")
            .arg(VOTES)
            .arg(messages)
            .query_async(&mut redis)
            .await?;
    }
    eprintln!(
        "queued {} votes in {:.1} s",
        args.votes,
        filled.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let mut worker = std::process::Command::new(&args.worker_bin)
        .env("REDIS_URL", &args.redis)
        .env("DATABASE_URL", &args.database)
        .env("PORT", "0")
        .env("WORKER_ID", WORKER_ID)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .context("starting the worker")?;
    let mut peak_rss = 0.0f64;
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        peak_rss = peak_rss.max(crate::procfs::rss_mb(worker.id()).unwrap_or(0.0));
        let queued: i64 = redis::cmd("LLEN")
            .arg(VOTES)
            .query_async(&mut redis)
            .await?;
        let held: i64 = redis::cmd("LLEN")
            .arg(format!("{PROCESSING_PREFIX}{WORKER_ID}"))
            .query_async(&mut redis)
            .await?;
        if queued == 0 && held == 0 {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the worker did not drain within 10 minutes"
        );
    }
    let elapsed = started.elapsed();
    let _ = worker.kill();
    let _ = worker.wait();
    let rate = args.votes as f64 / elapsed.as_secs_f64();
    eprintln!(
        "worker drained {} votes in {:.2} s: {rate:.0} votes/s",
        args.votes,
        elapsed.as_secs_f64()
    );
    if let Some(path) = args.rss_out {
        std::fs::write(path, format!("{peak_rss:.1}\n"))?;
    }
    println!("{rate:.0}");
    Ok(())
}

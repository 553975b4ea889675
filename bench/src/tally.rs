//! Tally cost: the median time of our tally read (two rows of `vote_counts`)
//! and of the original result service's `GROUP BY` over the whole table.

use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    database: String,
    #[arg(long, default_value_t = 21)]
    runs: usize,
}

const OURS: &str = "SELECT vote, count FROM vote_counts";
const ORIGINAL: &str = "SELECT vote, COUNT(id) AS count FROM votes GROUP BY vote";

pub async fn run(args: Args) -> anyhow::Result<()> {
    let (client, connection) =
        tokio_postgres::connect(&args.database, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let voters: i64 = client
        .query_one("SELECT count(*) FROM votes", &[])
        .await?
        .get(0);
    let ours = median(&client, OURS, args.runs).await?;
    let original = median(&client, ORIGINAL, args.runs.min(5)).await?;
    eprintln!(
        "tally at {voters} voters: ours {:.3} ms, original GROUP BY {:.3} ms",
        ms(ours),
        ms(original)
    );
    println!("ours_ms {:.4}", ms(ours));
    println!("original_ms {:.4}", ms(original));
    Ok(())
}

async fn median(
    client: &tokio_postgres::Client,
    sql: &str,
    runs: usize,
) -> anyhow::Result<Duration> {
    let statement = client.prepare(sql).await?;
    client.query(&statement, &[]).await?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        client.query(&statement, &[]).await?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

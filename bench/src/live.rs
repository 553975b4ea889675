//! Live-update latency: N browsers hold `/events` open on `result`; for each
//! sample one vote is POSTed to `vote`, and the time until each browser sees
//! the new total is recorded.

use anyhow::Context;
use hdrhistogram::Histogram;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    vote: String,
    #[arg(long)]
    result: String,
    #[arg(long, default_value_t = 1000)]
    viewers: usize,
    #[arg(long, default_value_t = 30)]
    samples: usize,
    /// PID of `result`: its resident memory with every viewer connected is printed.
    #[arg(long)]
    result_pid: Option<u32>,
}

/// One viewer: a plain TCP connection holding `/events` open, reporting each
/// total it reads. It does the least a browser must (find the number in the
/// bytes, note the time as they arrive), so that with thousands of viewers
/// on the same cores as `result`, the figure is `result`'s and not this
/// tool's.
async fn watch_totals(
    result: std::net::SocketAddr,
    viewer: usize,
    seen: mpsc::UnboundedSender<Seen>,
) {
    let Ok(mut stream) = TcpStream::connect(result).await else {
        return;
    };
    let request =
        format!("GET /events HTTP/1.1\r\nHost: {result}\r\nAccept: text/event-stream\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return;
    }
    let mut pending = Vec::with_capacity(512);
    let mut chunk = [0u8; 2048];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let at = Instant::now();
        pending.extend_from_slice(&chunk[..n]);
        while let Some((total, used)) = next_total(&pending) {
            pending.drain(..used);
            if seen.send(Seen { viewer, total, at }).is_err() {
                return;
            }
        }
        if pending.len() > 4096 {
            // Headers and keep-alives: nothing to keep but a possible partial frame.
            pending.drain(..pending.len() - 256);
        }
    }
}

/// The first complete `"total":N` in `bytes`, and how many bytes it ends at.
fn next_total(bytes: &[u8]) -> Option<(i64, usize)> {
    const KEY: &[u8] = b"\"total\":";
    let start = bytes.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits = bytes[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let end = start + digits;
    if digits == 0 || end == bytes.len() {
        return None; // not all of the number has arrived
    }
    let total = std::str::from_utf8(&bytes[start..end]).ok()?.parse().ok()?;
    Some((total, end))
}

/// A total seen by one viewer, and when.
struct Seen {
    viewer: usize,
    total: i64,
    at: Instant,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let result: std::net::SocketAddr = args
        .result
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .context("--result must be http://<ip>:<port>")?;
    let (seen_tx, mut seen) = mpsc::unbounded_channel::<Seen>();
    for viewer in 0..args.viewers {
        tokio::spawn(watch_totals(result, viewer, seen_tx.clone()));
    }
    drop(seen_tx);

    // Every viewer has its first total.
    let mut first = vec![None; args.viewers];
    let mut connected = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while connected < args.viewers {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let s = tokio::time::timeout(remaining, seen.recv())
            .await
            .context("not every viewer connected within 60 s")?
            .context("every viewer stream ended")?;
        if first[s.viewer].is_none() {
            first[s.viewer] = Some(s.total);
            connected += 1;
        }
    }
    let base = first.iter().flatten().copied().max().unwrap_or(0);
    eprintln!("{connected} viewers connected; total {base}");
    if let Some(pid) = args.result_pid {
        if let Some(mb) = crate::drain::rss_mb(pid) {
            println!("rss_mb {mb:.1}");
        }
    }

    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let cpu_before = args.result_pid.and_then(crate::drain::cpu_seconds);
    for sample in 0..args.samples {
        let expected = base + sample as i64 + 1;
        let sent = Instant::now();
        let res = client
            .post(format!("{}/", args.vote))
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                "cookie",
                format!("voter_id=live{sample:08}{:08x}", std::process::id()),
            )
            .body("vote=a")
            .send()
            .await?;
        anyhow::ensure!(
            res.status().is_success(),
            "the vote was refused: {}",
            res.status()
        );
        let mut reached = vec![false; args.viewers];
        let mut count = 0;
        while count < args.viewers {
            let s = tokio::time::timeout(Duration::from_secs(10), seen.recv())
                .await
                .with_context(|| {
                    format!("sample {sample}: only {count} viewers saw the vote within 10 s")
                })?
                .context("the viewer streams ended")?;
            if s.total >= expected && !reached[s.viewer] {
                reached[s.viewer] = true;
                count += 1;
                latency.record(s.at.duration_since(sent).as_micros().max(1) as u64)?;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cpu_after = args.result_pid.and_then(crate::drain::cpu_seconds);
    if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
        // What result itself spends pushing one update to every viewer.
        let per_update_ms = (after - before) * 1000.0 / args.samples as f64;
        println!("result_cpu_ms_per_update {per_update_ms:.1}");
        eprintln!(
            "result CPU per update: {per_update_ms:.1} ms for {} viewers ({:.1} us each)",
            args.viewers,
            per_update_ms * 1000.0 / args.viewers as f64
        );
    }
    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    eprintln!(
        "vote-to-screen latency over {} samples x {} viewers: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        args.samples,
        args.viewers,
        ms(0.5),
        ms(0.99),
        latency.max() as f64 / 1000.0
    );
    println!("p50_ms {:.2}", ms(0.5));
    println!("p99_ms {:.2}", ms(0.99));
    Ok(())
}

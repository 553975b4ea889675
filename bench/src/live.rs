//! Live-update latency: N browsers hold `/events` open on `result`; for each
//! sample one vote is POSTed to `vote`, and the time until each browser sees
//! the new total is recorded.

use anyhow::Context;
use hdrhistogram::Histogram;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// Threads reading the viewers' streams, each with its own epoll set.
    #[arg(long, default_value_t = 1)]
    viewer_threads: usize,
    /// PID of `result`: its resident memory with every viewer connected is printed.
    #[arg(long)]
    result_pid: Option<u32>,
}

/// What the viewer threads and the sampling loop share.
struct Board {
    /// The total the current sample waits for, and when its vote was sent
    /// (microseconds since `epoch`).
    expected: AtomicI64,
    sent_us: AtomicU64,
    epoch: Instant,
    /// Viewers that have seen their first total, the highest of those totals,
    /// and how many have seen the current sample's total.
    connected: AtomicUsize,
    first_max: AtomicI64,
    reached: AtomicUsize,
    stop: AtomicBool,
}

/// One thread's share of the viewers: plain TCP connections holding
/// `/events` open, polled with one epoll set (no task or channel per
/// viewer). Each read is timed as it returns and its `"total":N` found in the
/// bytes: the least a browser must do, so that with thousands of viewers on
/// the same cores as `result`, the figure is `result`'s and not this tool's.
fn watch_totals(
    mut viewers: Vec<mio::net::TcpStream>,
    board: Arc<Board>,
) -> anyhow::Result<Histogram<u64>> {
    let mut poll = mio::Poll::new()?;
    for (i, viewer) in viewers.iter_mut().enumerate() {
        poll.registry()
            .register(viewer, mio::Token(i), mio::Interest::READABLE)?;
    }
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut pending: Vec<Vec<u8>> = vec![Vec::new(); viewers.len()];
    let mut seen: Vec<Option<i64>> = vec![None; viewers.len()];
    let mut events = mio::Events::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    while !board.stop.load(Ordering::Relaxed) {
        poll.poll(&mut events, Some(Duration::from_millis(50)))?;
        for event in events.iter() {
            let i = event.token().0;
            loop {
                let n = match viewers[i].read(&mut chunk) {
                    Ok(0) => anyhow::bail!("viewer {i}: result closed the stream"),
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e).context(format!("viewer {i}")),
                };
                let at = board.epoch.elapsed().as_micros() as u64;
                let bytes = &mut pending[i];
                bytes.extend_from_slice(&chunk[..n]);
                while let Some((total, used)) = next_total(bytes) {
                    bytes.drain(..used);
                    let before = seen[i].replace(total);
                    if before.is_none() {
                        board.first_max.fetch_max(total, Ordering::Relaxed);
                        board.connected.fetch_add(1, Ordering::Release);
                    }
                    let expected = board.expected.load(Ordering::Acquire);
                    if total >= expected && before.is_none_or(|b| b < expected) {
                        let sent = board.sent_us.load(Ordering::Acquire);
                        latency.record(at.saturating_sub(sent).max(1))?;
                        board.reached.fetch_add(1, Ordering::Release);
                    }
                }
                if bytes.len() > 4096 {
                    // Headers and keep-alives: nothing to keep but a possible partial frame.
                    bytes.drain(..bytes.len() - 256);
                }
            }
        }
    }
    Ok(latency)
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

/// Opens `count` viewers' `/events` streams, non-blocking from then on.
fn open_viewers(
    result: std::net::SocketAddr,
    count: usize,
) -> anyhow::Result<Vec<mio::net::TcpStream>> {
    let request =
        format!("GET /events HTTP/1.1\r\nHost: {result}\r\nAccept: text/event-stream\r\n\r\n");
    (0..count)
        .map(|viewer| {
            let mut stream = std::net::TcpStream::connect(result)
                .with_context(|| format!("viewer {viewer} connecting to {result}"))?;
            stream.set_nodelay(true)?;
            stream.write_all(request.as_bytes())?;
            stream.set_nonblocking(true)?;
            Ok(mio::net::TcpStream::from_std(stream))
        })
        .collect()
}

/// Waits until `done` holds, failing with `what` after `limit`.
async fn until(
    limit: Duration,
    what: impl Fn() -> String,
    done: impl Fn() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while !done() {
        anyhow::ensure!(Instant::now() < deadline, "{}", what());
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

/// Stops the viewer threads; their latencies in one histogram.
fn stop_viewers(
    board: &Board,
    threads: Vec<std::thread::JoinHandle<anyhow::Result<Histogram<u64>>>>,
) -> anyhow::Result<Histogram<u64>> {
    board.stop.store(true, Ordering::Relaxed);
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for thread in threads {
        let latency = thread
            .join()
            .map_err(|_| anyhow::anyhow!("a viewer thread panicked"))??;
        all.add(latency)?;
    }
    Ok(all)
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let result: std::net::SocketAddr = args
        .result
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .context("--result must be http://<ip>:<port>")?;
    let board = Arc::new(Board {
        expected: AtomicI64::new(i64::MAX),
        sent_us: AtomicU64::new(0),
        epoch: Instant::now(),
        connected: AtomicUsize::new(0),
        first_max: AtomicI64::new(0),
        reached: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
    });
    let mut viewers = open_viewers(result, args.viewers)?;
    let share = args.viewers.div_ceil(args.viewer_threads.max(1));
    let mut threads = Vec::new();
    while !viewers.is_empty() {
        let mine = viewers.split_off(viewers.len().saturating_sub(share));
        let board = board.clone();
        threads.push(std::thread::spawn(move || watch_totals(mine, board)));
    }

    // Every viewer has its first total.
    until(
        Duration::from_secs(60),
        || {
            format!(
                "only {} of {} viewers had a first total within 60 s",
                board.connected.load(Ordering::Relaxed),
                args.viewers
            )
        },
        || {
            board.connected.load(Ordering::Relaxed) >= args.viewers
                || threads.iter().any(|t| t.is_finished())
        },
    )
    .await?;
    if threads.iter().any(|t| t.is_finished()) {
        stop_viewers(&board, threads)?;
        anyhow::bail!("the viewer threads stopped");
    }
    let base = board.first_max.load(Ordering::Relaxed);
    eprintln!("{} viewers connected; total {base}", args.viewers);
    if let Some(pid) = args.result_pid {
        if let Some(mb) = crate::procfs::rss_mb(pid) {
            println!("rss_mb {mb:.1}");
        }
    }

    let cpu_before = args.result_pid.and_then(crate::procfs::cpu_seconds);
    let own_before = crate::procfs::cpu_seconds(std::process::id());
    let machine_before = crate::procfs::machine_cpu();
    for sample in 0..args.samples {
        board.reached.store(0, Ordering::Relaxed);
        board
            .sent_us
            .store(board.epoch.elapsed().as_micros() as u64, Ordering::Release);
        board
            .expected
            .store(base + sample as i64 + 1, Ordering::Release);
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
        until(
            Duration::from_secs(10),
            || {
                format!(
                    "sample {sample}: only {} viewers saw the vote within 10 s",
                    board.reached.load(Ordering::Relaxed)
                )
            },
            || board.reached.load(Ordering::Acquire) >= args.viewers,
        )
        .await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cpu_after = args.result_pid.and_then(crate::procfs::cpu_seconds);
    if let (Some(before), Some(after)) = (machine_before, crate::procfs::machine_cpu()) {
        // Everything the machine did, the kernel's network work for the
        // viewers' acknowledgements included, which no process is charged.
        let per_update = |i: usize| (after[i] - before[i]) * 1000.0 / args.samples as f64;
        println!("machine_busy_ms_per_update {:.1}", per_update(0));
        eprintln!(
            "the machine's busy CPU per update: {:.1} ms, of it softirq {:.1} ms",
            per_update(0),
            per_update(1)
        );
    }
    if let (Some(before), Some(after)) =
        (own_before, crate::procfs::cpu_seconds(std::process::id()))
    {
        // The viewers' side, on the same cores: what is left for `result`.
        let per_update_ms = (after - before) * 1000.0 / args.samples as f64;
        println!("viewers_cpu_ms_per_update {per_update_ms:.1}");
        eprintln!("the viewers' CPU (this tool) per update: {per_update_ms:.1} ms");
    }
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
    let latency = stop_viewers(&board, threads)?;
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

//! What Linux's `/proc` says about a process (resident memory, CPU time) and
//! the machine (busy CPU), read in one place for the Rust tools and, through
//! `bench proc`, for `scripts/bench.sh`. CPU times in `/proc` are in clock
//! ticks of 1/100 s (Linux's USER_HZ, whatever the kernel's own HZ).

use std::time::Duration;

/// Clock ticks per second in `/proc/<pid>/stat` and `/proc/stat`.
const USER_HZ: f64 = 100.0;

/// How often `bench proc … peak-rss-mb` samples.
const PEAK_SAMPLE: Duration = Duration::from_secs(1);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The process to read.
    #[arg(long)]
    pid: u32,
    /// What to print.
    #[arg(value_enum)]
    figure: Figure,
    /// With `peak-rss-mb`: the file rewritten with the peak each time it rises.
    #[arg(long, required_if_eq("figure", "peak-rss-mb"))]
    out: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Figure {
    /// Resident memory now, in MB.
    RssMb,
    /// CPU time used so far, user and system, in seconds.
    CpuSeconds,
    /// CPU time used so far in user space, in seconds.
    UserSeconds,
    /// Resident memory sampled every second until the process ends; the
    /// peak so far is kept in `--out` (so it can be read while it runs).
    PeakRssMb,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let pid = args.pid;
    let gone = || anyhow::anyhow!("no process {pid} to read in /proc");
    match args.figure {
        Figure::RssMb => println!("{:.1}", rss_mb(pid).ok_or_else(gone)?),
        Figure::CpuSeconds => println!("{}", cpu_seconds(pid).ok_or_else(gone)?),
        Figure::UserSeconds => println!("{}", user_seconds(pid).ok_or_else(gone)?),
        Figure::PeakRssMb => {
            let out = args
                .out
                .ok_or_else(|| anyhow::anyhow!("peak-rss-mb needs --out"))?;
            let mut peak = 0.0f64;
            while let Some(now) = rss_mb(pid) {
                if now > peak {
                    peak = now;
                    std::fs::write(&out, format!("{peak:.1}\n"))?;
                }
                tokio::time::sleep(PEAK_SAMPLE).await;
            }
        }
    }
    Ok(())
}

/// Resident memory of a process in MB, from `/proc/<pid>/status`.
pub fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// CPU time the process has used so far (user + system), in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let [user, system] = cpu_times(pid)?;
    Some(user + system)
}

/// CPU time the process has used so far in user space, in seconds.
pub fn user_seconds(pid: u32) -> Option<f64> {
    Some(cpu_times(pid)?[0])
}

/// utime and stime of `/proc/<pid>/stat`, in seconds.
fn cpu_times(pid: u32) -> Option<[f64; 2]> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| Some(fields.get(i)?.parse::<f64>().ok()? / USER_HZ);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    Some([ticks(11)?, ticks(12)?])
}

/// Seconds of CPU the whole machine has been busy, and of it in softirq
/// (from /proc/stat's first line).
pub fn machine_cpu() -> Option<[f64; 2]> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let idle = ticks.get(3)? + ticks.get(4)?;
    let busy = ticks.iter().take(8).sum::<f64>() - idle;
    Some([busy / USER_HZ, ticks.get(6)? / USER_HZ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_resident_memory_and_cpu_time() {
        let me = std::process::id();
        assert!(rss_mb(me).is_some_and(|mb| mb > 0.0));
        let (all, user) = (cpu_seconds(me).unwrap(), user_seconds(me).unwrap());
        assert!(all >= user && user >= 0.0);
        assert!(machine_cpu().is_some_and(|[busy, softirq]| busy >= softirq && busy > 0.0));
    }
}

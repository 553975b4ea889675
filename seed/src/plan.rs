//! What to cast: the command line, with environment variables as fallbacks.

use crate::schedule::{self, Schedule, Stages};
use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

/// Casts votes at a vote service and reports what it measured.
#[derive(Debug, Clone, Parser)]
#[command(name = "seed", version, about)]
pub struct Plan {
    /// The vote page to post to.
    #[arg(long, env = "VOTE_URL", default_value = "http://vote/")]
    pub url: String,
    /// How many votes to cast (with --duration: at most this many).
    #[arg(long, env = "SEED_VOTES", default_value_t = 3000)]
    pub votes: u64,
    /// Stop after this long even if votes remain (a duration: `30s`, `2m`,
    /// `1m30s`, `500ms`).
    #[arg(long, env = "SEED_DURATION", value_parser = schedule::parse_duration)]
    pub duration: Option<Duration>,
    /// Requests in flight at once.
    #[arg(long, env = "SEED_CONCURRENCY", default_value_t = 50)]
    pub concurrency: usize,
    /// Sending threads, each with its own share of the connections, as
    /// wrk's `-t` (default: one per core).
    #[arg(long, env = "SEED_THREADS")]
    pub threads: Option<usize>,
    /// Votes per second, on a schedule whether or not the service keeps up
    /// (an open model; default: as fast as the service answers).
    #[arg(long, env = "SEED_RATE", value_parser = parse_rate, conflicts_with = "stages")]
    pub rate: Option<f64>,
    /// Ramp stages, DURATION:RATE,... (e.g. `30s:500,1m:2000,10s:0`, durations
    /// as --duration takes them): the rate
    /// moves linearly from 0 through each stage's target; the run ends with
    /// the last stage (--votes is then ignored).
    #[arg(long, env = "SEED_STAGES", value_parser = schedule::parse_stages)]
    pub stages: Option<Stages>,
    /// Ratio of votes for option a to option b, as A:B.
    #[arg(long, env = "SEED_SPLIT", default_value = "2:1", value_parser = parse_split)]
    pub split: (u32, u32),
    /// Distinct voters (each a voter_id cookie); fewer voters than votes means
    /// returning voters who change their vote. Default: one voter per vote.
    #[arg(long, env = "SEED_VOTERS")]
    pub voters: Option<u64>,
    /// Derive the voter ids from this text (a Job's name or uid), so a run
    /// retried casts the same voters' votes again and the tally ends at the
    /// planned count however many attempts it took. Default: new ids per run.
    #[arg(long, env = "SEED_VOTER_SEED", conflicts_with = "fresh")]
    pub voter_seed: Option<String>,
    /// Before the run, retry the first vote for up to this long until vote
    /// accepts it (vote may still be starting or not yet reach Redis), and
    /// the first read of --check-tally until result answers; `0s` starts at
    /// once.
    #[arg(long, env = "SEED_WAIT", default_value = "60s", value_parser = schedule::parse_duration)]
    pub wait: Duration,
    /// Every vote from a new visitor: no cookie is sent, so the service
    /// issues a voter id each time (the path of a first visit).
    #[arg(long, env = "SEED_FRESH", conflicts_with = "voters")]
    pub fresh: bool,
    /// Act as a visitor: GET the page (with the voter's cookie), then POST the
    /// vote; latency is the whole visit.
    #[arg(long, env = "SEED_VISIT")]
    pub visit: bool,
    /// PEM file of the CA certificates that sign an https:// target's
    /// certificate (a private CA); default: the system's roots.
    #[arg(long, env = "SEED_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Fail (exit 1) when the successes' p99 latency exceeds this many ms.
    #[arg(long, env = "SEED_MAX_P99_MS", value_parser = parse_milliseconds)]
    pub max_p99_ms: Option<f64>,
    /// Fail (exit 1) when more than this fraction of the requests fail
    /// (`0.01` is 1%); the default 0 fails on any error.
    #[arg(long, env = "SEED_MAX_ERROR_RATE", default_value_t = 0.0, value_parser = parse_fraction)]
    pub max_error_rate: f64,
    /// Also write the summary as JSON to this file.
    #[arg(long, env = "SEED_JSON")]
    pub json: Option<PathBuf>,
    /// Also write a report to this file: one HTML page that opens without a
    /// network, with the run's charts second by second and its settings.
    #[arg(long, env = "SEED_REPORT")]
    pub report: Option<PathBuf>,
    /// After the run, read the result service at this URL (its
    /// `/api/results`) and check that every vote acknowledged reached the
    /// tally; a vote missing fails the run (exit 1), as does a check that
    /// could not be made.
    #[arg(long, env = "SEED_CHECK_TALLY")]
    pub check_tally: Option<String>,
    /// How long --check-tally waits for the worker to count the run's votes.
    #[arg(long, env = "SEED_CHECK_TALLY_WITHIN", default_value = "60s", value_parser = schedule::parse_duration)]
    pub check_tally_within: Duration,
    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
}

impl Plan {
    pub fn schedule(&self) -> Schedule {
        match (&self.stages, self.rate) {
            (Some(stages), _) => Schedule::ramp(stages.clone()),
            (None, Some(rate)) => Schedule::constant(rate),
            (None, None) => Schedule::AsFastAsAnswered,
        }
    }

    /// Votes to send: the stages' total when they are set, else --votes.
    pub fn votes(&self) -> u64 {
        self.schedule().total().unwrap_or(self.votes)
    }

    /// Sending threads: as asked, else one per core, never more than connections.
    pub fn threads(&self) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        self.threads
            .unwrap_or(cores)
            .clamp(1, self.concurrency.max(1))
    }

    pub fn voters(&self) -> u64 {
        // votes(), not --votes: stages set the count (one voter per vote).
        self.voters.unwrap_or_else(|| self.votes()).max(1)
    }

    /// The choice of the `i`-th vote: exactly A:B over every A+B votes.
    pub fn choice(&self, i: u64) -> &'static str {
        let (a, b) = self.split;
        if i % u64::from(a + b) < u64::from(a) {
            "a"
        } else {
            "b"
        }
    }
}

fn parse_rate(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        Ok(_) => Err("the rate is votes per second, more than 0".into()),
        Err(e) => Err(format!("{raw:?}: {e}")),
    }
}

fn parse_milliseconds(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(ms) if ms.is_finite() && ms > 0.0 => Ok(ms),
        Ok(_) => Err("a latency in ms, more than 0".into()),
        Err(e) => Err(format!("{raw:?}: {e}")),
    }
}

fn parse_fraction(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        Ok(_) => Err("a fraction from 0 to 1, e.g. 0.01 for 1%".into()),
        Err(e) => Err(format!("{raw:?}: {e}")),
    }
}

fn parse_split(raw: &str) -> Result<(u32, u32), String> {
    let (a, b) = raw
        .split_once(':')
        .ok_or_else(|| format!("{raw:?} is not A:B, e.g. 2:1"))?;
    let a: u32 = a.trim().parse().map_err(|e| format!("{a:?}: {e}"))?;
    let b: u32 = b.trim().parse().map_err(|e| format!("{b:?}: {e}"))?;
    if a + b == 0 {
        return Err("the split needs at least one side above 0".into());
    }
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_two_to_one_split_is_exact_over_every_three_votes() {
        let plan = Plan::parse_from(["seed", "--split", "2:1"]);
        let a = (0..3000).filter(|i| plan.choice(*i) == "a").count();
        assert_eq!(a, 2000);
        assert!(parse_split("x").is_err());
        assert!(parse_split("0:0").is_err());
        assert_eq!(parse_split("1:0"), Ok((1, 0)));
    }

    #[test]
    fn threads_never_outnumber_the_connections() {
        let plan = Plan::parse_from(["seed", "--concurrency", "1"]);
        assert_eq!(plan.threads(), 1);
        let plan = Plan::parse_from(["seed", "--concurrency", "3", "--threads", "8"]);
        assert_eq!(plan.threads(), 3);
        let plan = Plan::parse_from(["seed", "--concurrency", "50", "--threads", "2"]);
        assert_eq!(plan.threads(), 2);
    }

    #[test]
    fn stages_set_the_votes_and_exclude_a_rate() {
        let plan = Plan::parse_from(["seed", "--stages", "10s:100", "--votes", "5"]);
        assert_eq!(plan.votes(), 500);
        assert_eq!(plan.voters(), 500, "one voter per vote, as --help says");
        assert!(Plan::try_parse_from(["seed", "--stages", "10s:100", "--rate", "5"]).is_err());
        assert!(Plan::try_parse_from(["seed", "--rate", "0"]).is_err());
        assert!(Plan::try_parse_from(["seed", "--fresh", "--voters", "3"]).is_err());
    }

    #[test]
    fn every_number_refuses_nan_and_infinity() {
        for flag in ["--rate", "--max-error-rate", "--max-p99-ms"] {
            for value in ["NaN", "inf", "-inf"] {
                assert!(
                    Plan::try_parse_from(["seed", flag, value]).is_err(),
                    "{flag} {value}"
                );
            }
        }
        assert!(Plan::try_parse_from(["seed", "--stages", "10s:NaN"]).is_err());
        let plan = Plan::parse_from(["seed", "--max-p99-ms", "250"]);
        assert_eq!(plan.max_p99_ms, Some(250.0));
    }

    #[test]
    fn durations_read_alike_everywhere() {
        let plan = Plan::parse_from(["seed", "--duration", "1m30s", "--wait", "500ms"]);
        assert_eq!(plan.duration, Some(Duration::from_secs(90)));
        assert_eq!(plan.wait, Duration::from_millis(500));
        assert!(Plan::try_parse_from(["seed", "--duration", "30"]).is_err());
        assert!(Plan::try_parse_from(["seed", "--max-error-rate", "2"]).is_err());
        assert!(Plan::try_parse_from(["seed", "--fresh", "--voter-seed", "x"]).is_err());
    }
}

//! What to cast: the command line, with environment variables as fallbacks.

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
    /// Stop after this many seconds even if votes remain.
    #[arg(long, env = "SEED_DURATION")]
    pub duration: Option<f64>,
    /// Requests in flight at once.
    #[arg(long, env = "SEED_CONCURRENCY", default_value_t = 50)]
    pub concurrency: usize,
    /// Votes per second at most (default: as fast as the service answers).
    #[arg(long, env = "SEED_RATE")]
    pub rate: Option<f64>,
    /// Ratio of votes for option a to option b, as A:B.
    #[arg(long, env = "SEED_SPLIT", default_value = "2:1", value_parser = parse_split)]
    pub split: (u32, u32),
    /// Distinct voters (each a voter_id cookie); fewer voters than votes means
    /// returning voters who change their vote. Default: one voter per vote.
    #[arg(long, env = "SEED_VOTERS")]
    pub voters: Option<u64>,
    /// Wait up to this many seconds for the vote page to answer before casting.
    #[arg(long, env = "SEED_WAIT", default_value_t = 60.0)]
    pub wait: f64,
    /// Act as a visitor: GET the page (with the voter's cookie), then POST the
    /// vote; latency is the whole visit.
    #[arg(long, env = "SEED_VISIT")]
    pub visit: bool,
    /// Also write the summary as JSON to this file.
    #[arg(long, env = "SEED_JSON")]
    pub json: Option<PathBuf>,
    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
}

impl Plan {
    pub fn duration(&self) -> Option<Duration> {
        self.duration.map(Duration::from_secs_f64)
    }

    pub fn voters(&self) -> u64 {
        self.voters.unwrap_or(self.votes).max(1)
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
}

//! When each vote is due in an open model: a constant rate (`--rate`) or ramp
//! stages (`--stages`), each stage moving the rate linearly from where the
//! last one ended to its own target over its duration, as k6's stages do.

use std::time::Duration;

/// One ramp stage: reach `rate` votes/s by the end of `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    pub rate: f64,
}

/// Ramp stages in their order, as given on the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Stages(pub Vec<Stage>);

/// Parses a duration as humantime reads it (`30s`, `2m`, `1m30s`, `500ms`):
/// the one syntax of every duration seed takes. A bare number is refused, so
/// that `30` is never read as 30 ms or 30 min.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    if raw.parse::<f64>().is_ok() {
        return Err(format!("{raw:?} has no unit: say e.g. {raw}s"));
    }
    humantime::parse_duration(raw).map_err(|e| format!("{raw:?}: {e} (e.g. 30s, 2m, 1m30s)"))
}

/// Parses `30s:500,1m:2000,10s:0` (durations as [`parse_duration`] reads
/// them, rates in votes/s).
pub fn parse_stages(raw: &str) -> Result<Stages, String> {
    let stages = raw
        .split(',')
        .map(|part| {
            let (duration, rate) = part
                .trim()
                .split_once(':')
                .ok_or_else(|| format!("{part:?} is not DURATION:RATE, e.g. 30s:500"))?;
            let duration = parse_duration(duration)?;
            let rate: f64 = rate.trim().parse().map_err(|e| format!("{rate:?}: {e}"))?;
            if duration.is_zero() {
                return Err(format!("{duration:?}: a stage lasts more than 0 s"));
            }
            if !(rate.is_finite() && rate >= 0.0) {
                return Err(format!("{rate:?}: a rate is 0 or more votes/s"));
            }
            Ok(Stage { duration, rate })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if stages.iter().all(|s| s.rate == 0.0) {
        return Err("every stage has rate 0: nothing would be sent".into());
    }
    Ok(Stages(stages))
}

/// The arrival schedule of a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// Closed model: send as fast as the service answers.
    AsFastAsAnswered,
    /// Open model, ramping through the stages (a constant rate is one stage
    /// that starts and ends at it).
    Open { start_rate: f64, stages: Vec<Stage> },
}

impl Schedule {
    pub fn constant(rate: f64) -> Self {
        Schedule::Open {
            start_rate: rate,
            stages: vec![Stage {
                duration: Duration::MAX,
                rate,
            }],
        }
    }

    /// Stages start from a rate of 0, as a ramp-up does.
    pub fn ramp(stages: Stages) -> Self {
        Schedule::Open {
            start_rate: 0.0,
            stages: stages.0,
        }
    }

    /// When the `i`-th vote (from 0) is due after the start; `None` in a
    /// closed model, and `Some(None)` once the stages have ended.
    pub fn due(&self, i: u64) -> Option<Option<Duration>> {
        let Schedule::Open { start_rate, stages } = self else {
            return None;
        };
        // The i-th vote is due when the arrivals so far reach i + 0.5 (the
        // middle of its slot), so a constant rate r sends at 0.5/r, 1.5/r...
        // like a rate of r over whole seconds.
        let mut wanted = i as f64 + 0.5;
        let mut offset = 0.0;
        let mut from = *start_rate;
        for stage in stages {
            let length = stage.duration.as_secs_f64();
            let to = stage.rate;
            let arrivals = (from + to) / 2.0 * length;
            if wanted <= arrivals {
                return Some(Some(Duration::from_secs_f64(
                    offset + time_to_reach(wanted, from, to, length),
                )));
            }
            wanted -= arrivals;
            offset += length;
            from = to;
        }
        Some(None)
    }

    /// Votes the stages amount to, if they end.
    pub fn total(&self) -> Option<u64> {
        let Schedule::Open { start_rate, stages } = self else {
            return None;
        };
        let mut from = *start_rate;
        let mut total = 0.0;
        for stage in stages {
            if stage.duration == Duration::MAX {
                return None;
            }
            total += (from + stage.rate) / 2.0 * stage.duration.as_secs_f64();
            from = stage.rate;
        }
        Some(total.round() as u64)
    }
}

/// Time t in [0, length] at which a rate moving linearly from `from` to `to`
/// has produced `arrivals`: solves from*t + (to-from)/(2*length)*t^2 = arrivals.
fn time_to_reach(arrivals: f64, from: f64, to: f64, length: f64) -> f64 {
    let slope = if length.is_finite() {
        (to - from) / length
    } else {
        0.0
    };
    if slope.abs() < 1e-12 {
        return arrivals / from;
    }
    let discriminant = (from * from + 2.0 * slope * arrivals).max(0.0);
    ((discriminant.sqrt() - from) / slope).clamp(0.0, length)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(due: Option<Option<Duration>>) -> f64 {
        due.unwrap().unwrap().as_secs_f64()
    }

    #[test]
    fn a_constant_rate_spaces_votes_evenly() {
        let schedule = Schedule::constant(100.0);
        assert!((secs(schedule.due(0)) - 0.005).abs() < 1e-9);
        assert!((secs(schedule.due(99)) - 0.995).abs() < 1e-9);
        assert_eq!(schedule.total(), None);
        assert_eq!(Schedule::AsFastAsAnswered.due(5), None);
    }

    #[test]
    fn a_ramp_sends_what_its_area_says_and_then_ends() {
        // 0 -> 100/s over 10 s (500 votes), then 100/s for 5 s (500 votes).
        let schedule = Schedule::ramp(parse_stages("10s:100,5s:100").unwrap());
        assert_eq!(schedule.total(), Some(1000));
        // Half the ramp's votes arrive in its last 30% (area under a line).
        let half = secs(schedule.due(250));
        assert!((half - 10.0 * 0.5f64.sqrt()).abs() < 0.01, "{half}");
        let dues: Vec<f64> = (0..1000).map(|i| secs(schedule.due(i))).collect();
        assert!(dues.windows(2).all(|w| w[0] < w[1]));
        assert!(*dues.last().unwrap() < 15.0);
        assert_eq!(schedule.due(1000), Some(None));
    }

    #[test]
    fn stages_are_checked() {
        assert_eq!(
            parse_stages("30s:500, 1m:2000,10s:0").unwrap().0[1],
            Stage {
                duration: Duration::from_secs(60),
                rate: 2000.0
            }
        );
        assert!(parse_stages("30s").is_err());
        assert!(parse_stages("0s:5").is_err());
        assert!(parse_stages("5s:-1").is_err());
        assert!(parse_stages("5s:0").is_err());
        assert!(parse_stages("xs:5").is_err());
        assert!(parse_stages("30:5").is_err());
        assert_eq!(
            parse_stages("1m30s:5").unwrap().0[0].duration,
            Duration::from_secs(90)
        );
    }
}

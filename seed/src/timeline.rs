//! The run second by second, for the report's charts: votes answered, errors,
//! late votes and the successes' latency in each second of the run.
//!
//! Each sending thread keeps a timeline of its own behind a mutex that only
//! its tasks take (one single-threaded runtime per thread, so the lock is
//! never contended); a second's latency histogram is made when its first
//! vote is answered, so a vote costs a lock, two counter bumps and a
//! histogram record, and no allocation. The threads' timelines are merged
//! once the run has ended.
//!
//! What was planned per second (an open model's target rate and the votes
//! it dropped) comes from the schedule afterwards, not from the hot path.

use crate::schedule::Schedule;
use hdrhistogram::Histogram;
use std::time::Duration;

/// A vote sent more than this after it was due counts as late: tokio's timer
/// wakes a task within about a millisecond of its time, so a vote this late
/// waited for a connection (every one was busy) or for seed itself.
pub const LATE_AFTER: Duration = Duration::from_millis(10);

/// Significant digits of a second's latency histogram: 1% is finer than a
/// chart shows, and keeps each second's histogram to a few kilobytes.
const SECOND_PRECISION: u8 = 2;

/// A last second shorter than this is drawn as part of the one before: a
/// rate over a few milliseconds (the answers still in flight at the end)
/// would be noise.
const SHORTEST_SAMPLE_S: f64 = 0.5;

/// What one thread saw in one second of the run.
#[derive(Default)]
struct Second {
    ok: u64,
    errors: u64,
    late: u64,
    /// Microseconds of the successes; made by the first success of the second.
    latency: Option<Histogram<u32>>,
}

impl Second {
    fn add(&mut self, other: Second) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.late += other.late;
        match (&mut self.latency, other.latency) {
            (Some(mine), Some(theirs)) => {
                let _ = mine.add(&theirs);
            }
            (mine @ None, theirs) => *mine = theirs,
            (Some(_), None) => {}
        }
    }
}

/// One thread's run, second by second (by when each vote was answered).
#[derive(Default)]
pub struct Timeline {
    seconds: Vec<Second>,
}

impl Timeline {
    /// Counts a vote answered `at` after the start; `micros` is its latency
    /// when it succeeded.
    pub fn record(&mut self, at: Duration, success: Option<u64>, late: bool) {
        let index = at.as_secs() as usize;
        if self.seconds.len() <= index {
            // Once a second at most: the vector grows by the seconds passed.
            self.seconds.resize_with(index + 1, Second::default);
        }
        let second = &mut self.seconds[index];
        second.late += u64::from(late);
        match success {
            Some(micros) => {
                second.ok += 1;
                let histogram = second.latency.get_or_insert_with(|| {
                    Histogram::new(SECOND_PRECISION).expect("valid precision")
                });
                let _ = histogram.record(micros.max(1));
            }
            None => second.errors += 1,
        }
    }

    /// Adds another thread's timeline, second by second.
    pub fn merge(&mut self, other: Timeline) {
        if self.seconds.len() < other.seconds.len() {
            self.seconds
                .resize_with(other.seconds.len(), Second::default);
        }
        for (mine, theirs) in self.seconds.iter_mut().zip(other.seconds) {
            mine.add(theirs);
        }
    }

    /// Votes sent later than [`LATE_AFTER`] after they were due, in all.
    pub fn late(&self) -> u64 {
        self.seconds.iter().map(|second| second.late).sum()
    }

    /// The samples of a run that lasted `elapsed`: one per second, the last
    /// one shorter or longer by the fraction of a second the run had at its
    /// end. Rates are per second of the sample's length.
    pub fn samples(mut self, elapsed: Duration, plan: &Planned) -> Vec<Sample> {
        let elapsed = elapsed.as_secs_f64();
        let whole = elapsed.ceil().max(1.0) as usize;
        let count = whole.max(self.seconds.len());
        self.seconds.resize_with(count, Second::default);
        let mut due: Vec<u64> = plan.due.clone();
        let mut dropped = plan.dropped.clone();
        due.resize(count.max(due.len()), 0);
        dropped.resize(count.max(dropped.len()), 0);
        let last_length = elapsed - (count - 1) as f64;
        let count = if count >= 2 && last_length < SHORTEST_SAMPLE_S {
            if let Some(last) = self.seconds.pop() {
                self.seconds[count - 2].add(last);
            }
            due[count - 2] += due[count - 1];
            dropped[count - 2] += dropped[count - 1];
            count - 1
        } else {
            count
        };
        let open = !plan.due.is_empty();
        self.seconds
            .iter()
            .enumerate()
            .map(|(i, second)| {
                let length = if i + 1 == count {
                    (elapsed - i as f64).max(1e-3)
                } else {
                    1.0
                };
                let ms = |q: f64| {
                    second
                        .latency
                        .as_ref()
                        .map(|h| h.value_at_quantile(q) as f64 / 1000.0)
                };
                Sample {
                    second: i as u64,
                    length_s: length,
                    ok: second.ok,
                    errors: second.errors,
                    late: second.late,
                    p50_ms: ms(0.5),
                    p99_ms: ms(0.99),
                    due: open.then(|| due[i]),
                    dropped: dropped[i],
                }
            })
            .collect()
    }
}

/// One second of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Seconds since the start: the sample covers [second, second + length_s).
    pub second: u64,
    pub length_s: f64,
    pub ok: u64,
    pub errors: u64,
    /// Votes answered in this second that had been sent late ([`LATE_AFTER`]).
    pub late: u64,
    /// Of the successes answered in this second; `None` when there were none.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Votes the schedule made due in this second (open model only).
    pub due: Option<u64>,
    /// Votes due in this second that were never sent (the run ended first).
    pub dropped: u64,
}

impl Sample {
    pub fn ok_per_s(&self) -> f64 {
        self.ok as f64 / self.length_s
    }

    /// Votes answered, successes and errors alike.
    pub fn answered_per_s(&self) -> f64 {
        (self.ok + self.errors) as f64 / self.length_s
    }

    pub fn errors_per_s(&self) -> f64 {
        self.errors as f64 / self.length_s
    }

    pub fn due_per_s(&self) -> Option<f64> {
        self.due.map(|due| due as f64 / self.length_s)
    }
}

/// What the schedule planned for each second of an open-model run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Planned {
    /// Votes due in each second (empty in a closed model).
    pub due: Vec<u64>,
    /// Votes due in each second that were never sent.
    pub dropped: Vec<u64>,
    /// All the votes that were due before the run ended and never sent.
    pub dropped_total: u64,
}

impl Planned {
    /// The schedule's plan for a run of `votes` at most that lasted `elapsed`
    /// (ending at `deadline` if it had one) and sent `sent` votes. Votes are
    /// numbered in the order they are due and taken in that order, so the
    /// votes never sent are the last ones due: those between `sent` and the
    /// last one due before the run ended.
    pub fn new(
        schedule: &Schedule,
        votes: u64,
        elapsed: Duration,
        deadline: Option<Duration>,
        sent: u64,
    ) -> Self {
        let mut due = Vec::new();
        let mut dropped = Vec::new();
        let end = deadline.map_or(elapsed, |d| d.min(elapsed));
        let mut i = 0;
        while i < votes {
            let Some(Some(at)) = schedule.due(i) else {
                break;
            };
            if at >= end {
                break;
            }
            let second = at.as_secs() as usize;
            if due.len() <= second {
                due.resize(second + 1, 0);
                dropped.resize(second + 1, 0);
            }
            due[second] += 1;
            if i >= sent && deadline.is_some() {
                dropped[second] += 1;
            }
            i += 1;
        }
        let dropped_total = dropped.iter().sum();
        Self {
            due,
            dropped,
            dropped_total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_merge_second_by_second_and_the_last_second_is_a_rate() {
        let mut one = Timeline::default();
        let mut two = Timeline::default();
        for _ in 0..99 {
            one.record(Duration::from_millis(300), Some(1_000), false);
        }
        one.record(Duration::from_millis(900), Some(100_000), true);
        two.record(Duration::from_millis(1_100), None, false);
        two.record(Duration::from_millis(1_200), Some(2_000), false);
        one.merge(two);
        let samples = one.samples(Duration::from_millis(1_500), &Planned::default());
        assert_eq!(samples[1].length_s, 0.5);
        assert_eq!(samples.len(), 2);
        assert_eq!(
            (samples[0].ok, samples[0].errors, samples[0].late),
            (100, 0, 1)
        );
        // To the second's histogram's precision (1%).
        assert!(
            (samples[0].p50_ms.unwrap() - 1.0).abs() <= 0.01,
            "{:?}",
            samples[0]
        );
        assert!(
            (samples[0].p99_ms.unwrap() - 1.0).abs() <= 0.01,
            "{:?}",
            samples[0]
        );
        assert_eq!((samples[1].ok, samples[1].errors), (1, 1));
        // One answer in the half second the run had of its last second.
        assert_eq!(samples[1].ok_per_s(), 2.0);
        assert!((samples[1].p50_ms.unwrap() - 2.0).abs() < 0.02);
    }

    #[test]
    fn a_last_second_too_short_to_be_a_rate_joins_the_one_before() {
        let mut timeline = Timeline::default();
        timeline.record(Duration::from_millis(1_500), Some(1_000), false);
        timeline.record(Duration::from_millis(2_050), None, false);
        let plan = Planned {
            due: vec![10, 10, 1],
            dropped: vec![0, 0, 1],
            dropped_total: 1,
        };
        let samples = timeline.samples(Duration::from_millis(2_100), &plan);
        assert_eq!(samples.len(), 2);
        let last = &samples[1];
        assert!((last.length_s - 1.1).abs() < 1e-9, "{last:?}");
        assert_eq!(
            (last.ok, last.errors, last.due, last.dropped),
            (1, 1, Some(11), 1)
        );
    }

    #[test]
    fn votes_due_before_the_deadline_and_not_sent_are_dropped() {
        // 10 votes/s for a 3 s run that sent 25 of the 30 due.
        let schedule = Schedule::constant(10.0);
        let plan = Planned::new(
            &schedule,
            1_000,
            Duration::from_secs(3),
            Some(Duration::from_secs(3)),
            25,
        );
        assert_eq!(plan.due, vec![10, 10, 10]);
        assert_eq!(plan.dropped, vec![0, 0, 5]);
        assert_eq!(plan.dropped_total, 5);
        // Without a deadline every vote is sent, however late.
        let plan = Planned::new(&schedule, 30, Duration::from_secs(4), None, 30);
        assert_eq!((plan.due.iter().sum::<u64>(), plan.dropped_total), (30, 0));
    }
}

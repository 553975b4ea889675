//! `--check-tally URL`: whether every vote vote acknowledged reached the
//! result service's tally. seed reads `/api/results` before the run and,
//! after it, until the counts are where the ledger says they must be
//! ([`crate::ledger`]) or stop moving, within a time limit (the worker may
//! still be draining the queue when the last vote is answered).
//!
//! What is compared is the growth of each count over the run, so the tally
//! need not start empty; that assumes seed's are the only votes cast
//! meanwhile, and that its voters are new (with `--voter-seed` they may have
//! voted in an earlier run: then only an empty tally can be checked). Where
//! the check cannot be made, it says so and why; it never passes instead.

use crate::client::{Connection, Target};
use crate::ledger::Expected;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// How often the tally is read while waiting.
const POLL: Duration = Duration::from_millis(250);
/// A count that is in range but could still grow (votes whose outcome is
/// unknown may yet land) is final once it has not moved for this long.
const SETTLED: Duration = Duration::from_secs(2);
/// A count short of the range that has not moved for this long has stopped
/// (the worker is down or the votes are lost): waiting longer shows nothing.
const STALLED: Duration = Duration::from_secs(15);

/// The counts `/api/results` serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub a: i64,
    pub b: i64,
}

impl Totals {
    pub fn total(&self) -> i64 {
        self.a + self.b
    }

    fn since(&self, before: &Totals) -> Totals {
        Totals {
            a: self.a - before.a,
            b: self.b - before.b,
        }
    }
}

/// The outcome of the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every count grew as the acknowledged votes say it must.
    Reached,
    /// A count grew by less: acknowledged votes are missing.
    Missing,
    /// The tally could not be read, or could not tell.
    CouldNotCheck,
}

#[derive(Debug, Clone, Serialize)]
pub struct TallyCheck {
    /// The API read.
    pub url: String,
    pub verdict: Verdict,
    /// The verdict in a sentence, with the figures compared.
    pub detail: String,
    pub before: Option<Totals>,
    pub after: Option<Totals>,
    /// The growth each count must show.
    pub expected: Option<Expected>,
    /// How long the counts were waited for after the run.
    pub waited_s: f64,
}

impl TallyCheck {
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Reached
    }

    fn could_not(url: &str, detail: String, before: Option<Totals>) -> Self {
        Self {
            url: url.to_owned(),
            verdict: Verdict::CouldNotCheck,
            detail: format!("could not check: {detail}"),
            before,
            after: None,
            expected: None,
            waited_s: 0.0,
        }
    }
}

/// The result service's API: `/api/results` under the URL given (a URL that
/// already names it is taken as it is).
pub fn api_url(url: &str) -> String {
    if url.trim_end_matches('/').ends_with("/api/results") {
        url.to_owned()
    } else {
        format!("{}/api/results", url.trim_end_matches('/'))
    }
}

/// Reads the totals once.
pub async fn read(target: &Target) -> Result<Totals, String> {
    let mut connection = Connection::new(target.clone());
    let body = connection
        .get_body()
        .await
        .map_err(|failure| format!("{target} answered {}", failure.kind()))?;
    serde_json::from_slice(&body)
        .map_err(|e| format!("{target} did not serve the totals as JSON ({e})"))
}

/// What the check needs from before the run.
pub struct Before {
    pub target: Result<Target, String>,
    pub totals: Result<Totals, String>,
}

impl Before {
    /// Reads the totals, retrying every half second for up to `wait`: result
    /// may still be starting, as vote may (`--wait`).
    pub async fn read(url: &str, ca_file: Option<&std::path::Path>, wait: Duration) -> Self {
        let started = Instant::now();
        let target = Target::parse(url, ca_file).map_err(|e| format!("{e:#}"));
        let totals = match &target {
            Ok(target) => loop {
                match read(target).await {
                    Err(_) if started.elapsed() < wait => {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    totals => break totals,
                }
            },
            Err(e) => Err(e.clone()),
        };
        Self { target, totals }
    }
}

/// Waits for the tally to take in the run's votes (up to `within`), then
/// compares its growth with `expected`. `voters_may_exist` is set when the
/// run's voters may have voted in an earlier run (`--voter-seed`).
pub async fn check(
    url: &str,
    before: Before,
    expected: Expected,
    within: Duration,
    voters_may_exist: bool,
) -> TallyCheck {
    let target = match before.target {
        Ok(target) => target,
        Err(e) => return TallyCheck::could_not(url, e, None),
    };
    let before = match before.totals {
        Ok(totals) => totals,
        Err(e) => return TallyCheck::could_not(url, format!("before the run: {e}"), None),
    };
    if voters_may_exist && before.total() > 0 {
        return TallyCheck::could_not(
            url,
            format!(
                "the tally held {} votes before the run, and with --voter-seed this run's \
                 voters may be among them (a vote again changes no count)",
                before.total()
            ),
            Some(before),
        );
    }
    let started = Instant::now();
    let mut last: Option<(Totals, Instant)> = None;
    let mut last_error = None;
    loop {
        match read(&target).await {
            Ok(now) => {
                if last.is_none_or(|(seen, _)| seen != now) {
                    last = Some((now, Instant::now()));
                }
                let still = last.map_or(Duration::ZERO, |(_, since)| since.elapsed());
                let grown = now.since(&before);
                let in_range = fits(&grown, &expected);
                let exact = [expected.a, expected.b].iter().all(|r| r.low == r.high);
                if (in_range && (exact || still >= SETTLED)) || still >= STALLED {
                    break;
                }
                last_error = None;
            }
            // result may be restarting: keep reading until the limit.
            Err(e) => last_error = Some(e),
        }
        if started.elapsed() >= within {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    let waited_s = started.elapsed().as_secs_f64();
    let Some((after, _)) = last else {
        let why = last_error.unwrap_or_else(|| "no answer".into());
        let mut check = TallyCheck::could_not(url, format!("after the run: {why}"), Some(before));
        check.waited_s = waited_s;
        return check;
    };
    let (verdict, detail) = judge(&after.since(&before), &expected);
    TallyCheck {
        url: url.to_owned(),
        verdict,
        detail,
        before: Some(before),
        after: Some(after),
        expected: Some(expected),
        waited_s,
    }
}

fn fits(grown: &Totals, expected: &Expected) -> bool {
    expected.a.contains(grown.a)
        && expected.b.contains(grown.b)
        && expected.total.contains(grown.total())
}

/// The verdict on counts that grew by `grown`.
fn judge(grown: &Totals, expected: &Expected) -> (Verdict, String) {
    let figures = format!(
        "a grew by {} (expected {}), b by {} (expected {}), {} voters acknowledged",
        grown.a, expected.a, grown.b, expected.b, expected.acknowledged_voters
    );
    let short = |n: i64, low: u64| n < low as i64;
    if fits(grown, expected) {
        (
            Verdict::Reached,
            format!("every acknowledged vote reached the tally: {figures}"),
        )
    } else if short(grown.a, expected.a.low)
        || short(grown.b, expected.b.low)
        || short(grown.total(), expected.total.low)
    {
        let missing = (expected.total.low as i64 - grown.total()).max(0);
        (
            Verdict::Missing,
            format!(
                "acknowledged votes are missing from the tally ({missing} voters fewer than \
                 acknowledged, or counted for the wrong choice): {figures}"
            ),
        )
    } else {
        (
            Verdict::CouldNotCheck,
            format!(
                "could not check: the tally grew by more than this run could make it \
                 (someone else voted meanwhile?): {figures}"
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Range;

    fn expected(a: (u64, u64), b: (u64, u64)) -> Expected {
        Expected {
            a: Range {
                low: a.0,
                high: a.1,
            },
            b: Range {
                low: b.0,
                high: b.1,
            },
            total: Range {
                low: a.0 + b.0,
                high: a.1 + b.1,
            },
            acknowledged_voters: a.0 + b.0,
        }
    }

    #[test]
    fn growth_below_the_range_is_missing_and_above_it_is_not_a_pass() {
        let want = expected((20, 20), (10, 12));
        assert_eq!(judge(&Totals { a: 20, b: 11 }, &want).0, Verdict::Reached);
        let (verdict, detail) = judge(&Totals { a: 19, b: 10 }, &want);
        assert_eq!(verdict, Verdict::Missing);
        assert!(detail.contains("1 voters fewer"), "{detail}");
        assert!(detail.contains("expected 10 to 12"), "{detail}");
        assert_eq!(
            judge(&Totals { a: 25, b: 10 }, &want).0,
            Verdict::CouldNotCheck
        );
    }

    #[test]
    fn the_api_is_found_under_the_result_url() {
        assert_eq!(api_url("http://result/"), "http://result/api/results");
        assert_eq!(api_url("http://result"), "http://result/api/results");
        assert_eq!(
            api_url("http://result/api/results"),
            "http://result/api/results"
        );
    }
}

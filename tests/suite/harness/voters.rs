//! Returning voters who change their minds: each voter votes again and
//! again, one vote in flight at a time, carrying the cookies the vote service
//! set (its id and its stamp, as a browser does), and every answer is kept in
//! order, so that a checker can say what the store may hold for each voter.
//!
//! The rule: a voter's stored choice is the choice of its last acknowledged
//! vote, or of a vote it sent after that one which was not acknowledged (a
//! 503 says "may not have been recorded"; a timeout says nothing).

use crate::harness::http_client;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the vote service answered one vote.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Answer {
    /// 200: acknowledged.
    Recorded,
    /// 503: refused, "may not have been recorded".
    Refused,
    /// No answer, or another one: the vote may or may not land.
    Unknown,
}

#[derive(Clone, Copy, Debug)]
struct Cast {
    choice: &'static str,
    answer: Answer,
}

#[derive(Default)]
struct Record {
    histories: HashMap<String, Vec<Cast>>,
    /// When each acknowledgement arrived, in order.
    recorded_at: Vec<Instant>,
}

/// Lanes of returning voters, voting until stopped.
pub struct ReturningVoters {
    stop: Arc<AtomicBool>,
    record: Arc<Mutex<Record>>,
    lanes: Vec<tokio::task::JoinHandle<()>>,
}

/// Of a lane's votes, the share cast by a voter new to the lane; the others
/// come back.
const NEW_VOTER: f64 = 0.2;

impl ReturningVoters {
    /// Starts `lanes` lanes posting to `url`; lane `n` draws its voters and
    /// choices from `seed + n`. Voter ids: `<prefix>-<lane>-<n>`.
    pub fn start(url: &str, prefix: &str, lanes: u64, seed: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let record = Arc::new(Mutex::new(Record::default()));
        let lanes = (0..lanes)
            .map(|lane| {
                let (stop, record) = (stop.clone(), record.clone());
                let (url, prefix) = (url.to_owned(), format!("{prefix}-{lane}"));
                tokio::spawn(async move {
                    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(lane));
                    vote_until_stopped(&url, &prefix, &mut rng, &stop, &record).await
                })
            })
            .collect();
        Self {
            stop,
            record,
            lanes,
        }
    }

    /// Votes acknowledged so far.
    pub fn recorded(&self) -> usize {
        self.record.lock().unwrap().recorded_at.len()
    }

    /// Waits up to `limit` for `more` further acknowledgements; false if
    /// they did not come.
    pub async fn flowing(&self, more: usize, limit: Duration) -> bool {
        let target = self.recorded() + more;
        super::within(limit, || async {
            (self.recorded() >= target).then_some(())
        })
        .await
        .is_some()
    }

    /// The longest time without an acknowledgement from `since` on, and
    /// when (from `since`) the acknowledgement that ended it came: for a
    /// fault at `since`, how long votes went unacknowledged and by when
    /// they were accepted again. A flow that never stopped has only short
    /// gaps; the caller decides what counts as an outage.
    pub fn longest_gap(&self, since: Instant) -> (f64, f64) {
        longest_gap(since, &self.record.lock().unwrap().recorded_at)
    }

    pub async fn finish(self) -> Histories {
        self.stop.store(true, Ordering::Relaxed);
        for lane in self.lanes {
            lane.await.unwrap();
        }
        let record = std::mem::take(&mut *self.record.lock().unwrap());
        Histories(record.histories)
    }
}

/// Of the moments `times` (in order), the longest interval from `since`
/// on without one, and when (from `since`) the moment that ended it came.
pub fn longest_gap(since: Instant, times: &[Instant]) -> (f64, f64) {
    let mut last = since;
    let mut worst = (Duration::ZERO, since);
    for &at in times.iter().filter(|at| **at > since) {
        if at - last > worst.0 {
            worst = (at - last, at);
        }
        last = at;
    }
    (worst.0.as_secs_f64(), (worst.1 - since).as_secs_f64())
}

async fn vote_until_stopped(
    url: &str,
    prefix: &str,
    rng: &mut StdRng,
    stop: &AtomicBool,
    record: &Mutex<Record>,
) {
    let client = http_client(false);
    // Each voter's stamp cookie, as its browser would keep it.
    let mut voters: Vec<(String, Option<String>)> = Vec::new();
    // A voter whose vote was not acknowledged votes again (after a pause),
    // as a person told "please vote again" does: during an outage the lane
    // retries, it does not bring in a stream of new voters.
    let mut again: Option<usize> = None;
    // Bounded: at most 500,000 votes a lane, and it stops when told.
    for _ in 0..500_000u32 {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let which = match again {
            Some(which) => which,
            None => {
                if voters.is_empty() || rng.random_bool(NEW_VOTER) {
                    voters.push((format!("{prefix}-{}", voters.len()), None));
                }
                rng.random_range(0..voters.len())
            }
        };
        let choice = if rng.random_bool(0.5) { "a" } else { "b" };
        let (id, stamp) = &mut voters[which];
        let (answer, new_stamp) = cast(&client, url, id, stamp.as_deref(), choice).await;
        if new_stamp.is_some() {
            *stamp = new_stamp;
        }
        {
            let mut record = record.lock().unwrap();
            record
                .histories
                .entry(id.clone())
                .or_default()
                .push(Cast { choice, answer });
            if answer == Answer::Recorded {
                record.recorded_at.push(Instant::now());
            }
        }
        again = (answer != Answer::Recorded).then_some(which);
        // Pacing, not waiting: a lane sends at most ~200 votes a second.
        let pause = if again.is_some() { 200 } else { 5 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// POSTs one vote; the answer and the stamp cookie it set, if any.
async fn cast(
    client: &reqwest::Client,
    url: &str,
    id: &str,
    stamp: Option<&str>,
    choice: &str,
) -> (Answer, Option<String>) {
    let cookie = match stamp {
        Some(stamp) => format!("voter_id={id}; voter_stamp={stamp}"),
        None => format!("voter_id={id}"),
    };
    let sent = client
        .post(url)
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("vote={choice}"))
        .send()
        .await;
    let Ok(response) = sent else {
        return (Answer::Unknown, None);
    };
    let stamp = response
        .cookies()
        .find(|c| c.name() == "voter_stamp")
        .map(|c| c.value().to_owned());
    let answer = match response.status().as_u16() {
        200 => Answer::Recorded,
        503 => Answer::Refused,
        _ => Answer::Unknown,
    };
    (answer, stamp)
}

/// Every voter's votes, in the order sent, with their answers.
pub struct Histories(HashMap<String, Vec<Cast>>);

impl Histories {
    /// The voters whose stored choice (`stored`: voter -> choice) breaks
    /// the rule, each with what was stored and what was allowed.
    pub fn violations(&self, stored: &HashMap<String, String>) -> Vec<String> {
        let mut broken: Vec<String> = self
            .0
            .iter()
            .filter_map(|(id, casts)| {
                let last = casts.iter().rposition(|c| c.answer == Answer::Recorded)?;
                let allowed: Vec<&str> = casts[last..].iter().map(|c| c.choice).collect();
                let held = stored.get(id).map(String::as_str);
                (!held.is_some_and(|h| allowed.contains(&h)))
                    .then(|| format!("{id}: stored {held:?}, allowed {allowed:?}"))
            })
            .collect();
        broken.sort();
        broken
    }

    /// Votes sent, by answer.
    pub fn answers(&self) -> BTreeMap<String, usize> {
        let mut counted = BTreeMap::new();
        for cast in self.0.values().flatten() {
            *counted.entry(format!("{:?}", cast.answer)).or_default() += 1;
        }
        counted
    }

    /// Voters with at least one acknowledged vote.
    pub fn acknowledged_voters(&self) -> usize {
        self.0
            .values()
            .filter(|casts| casts.iter().any(|c| c.answer == Answer::Recorded))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(casts: &[(&'static str, Answer)]) -> Vec<Cast> {
        casts
            .iter()
            .map(|&(choice, answer)| Cast { choice, answer })
            .collect()
    }

    #[test]
    fn the_last_acknowledged_vote_or_a_later_unacknowledged_one_may_be_stored() {
        use Answer::*;
        let histories = Histories(HashMap::from([
            (
                "kept".to_owned(),
                history(&[("a", Recorded), ("b", Recorded)]),
            ),
            (
                "later".to_owned(),
                history(&[("a", Recorded), ("b", Refused)]),
            ),
            ("lost".to_owned(), history(&[("b", Recorded)])),
            (
                "older".to_owned(),
                history(&[("a", Recorded), ("b", Recorded)]),
            ),
            ("never".to_owned(), history(&[("a", Unknown)])),
        ]));
        let stored: HashMap<String, String> = [("kept", "b"), ("later", "b"), ("older", "a")]
            .into_iter()
            .map(|(id, choice)| (id.to_owned(), choice.to_owned()))
            .collect();
        assert_eq!(
            histories.violations(&stored),
            [
                r#"lost: stored None, allowed ["b"]"#,
                r#"older: stored Some("a"), allowed ["b"]"#
            ]
        );
    }
}

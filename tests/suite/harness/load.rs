//! Votes flowing while something happens to the services: lanes of new
//! voters posting to a vote URL, recording what was acknowledged (so a test
//! can check that every acknowledged vote was stored) and what was refused.

use crate::harness::http_client;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// POSTs one vote as voter `id`: `Ok` when the vote service acknowledged it,
/// otherwise what went wrong (`HTTP 503`, `connect`, `timeout`, ...).
pub async fn vote_as(
    client: &reqwest::Client,
    url: &str,
    id: &str,
    choice: &str,
) -> Result<(), String> {
    let sent = client
        .post(url)
        .header("cookie", format!("voter_id={id}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("vote={choice}"))
        .send()
        .await;
    match sent {
        Ok(res) if res.status() == 200 => Ok(()),
        Ok(res) => Err(format!("HTTP {}", res.status().as_u16())),
        Err(e) if e.is_connect() => Err("connect".to_owned()),
        Err(e) if e.is_timeout() => Err("timeout".to_owned()),
        Err(e) => {
            let mut cause: &dyn std::error::Error = &e;
            while let Some(next) = cause.source() {
                cause = next;
            }
            Err(cause.to_string())
        }
    }
}

/// What a load run saw: the acknowledged votes (voter -> choice) and the
/// failed requests by what went wrong.
pub struct Outcome {
    pub acknowledged: HashMap<String, &'static str>,
    pub failures: BTreeMap<String, usize>,
}

impl Outcome {
    pub fn failed(&self) -> usize {
        self.failures.values().sum()
    }

    /// Of the votes acknowledged after the mark `before` (from
    /// [`Load::acknowledged_voters`]): how many, and how many of them
    /// [`Outcome::lost`] counts.
    pub fn lost_after<'s>(
        &self,
        before: &HashSet<String>,
        stored: impl Fn(&str) -> Option<&'s str>,
    ) -> (usize, usize) {
        let after = self
            .acknowledged
            .keys()
            .filter(|id| !before.contains(*id))
            .count();
        let lost = self
            .lost(stored)
            .into_iter()
            .filter(|id| !before.contains(*id))
            .count();
        (after, lost)
    }

    /// The acknowledged votes that the store lacks or holds with another
    /// choice; `stored` gives a voter's stored choice (any map of them:
    /// `|id| map.get(id).map(String::as_str)`).
    pub fn lost<'a, 's>(&'a self, stored: impl Fn(&str) -> Option<&'s str>) -> Vec<&'a String> {
        self.acknowledged
            .iter()
            .filter(|(id, choice)| stored(id) != Some(**choice))
            .map(|(id, _)| id)
            .collect()
    }
}

/// Votes from new voters, from a few lanes, until stopped: what was
/// acknowledged (voter -> choice), and how many were refused or failed.
pub struct Load {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<HashMap<String, &'static str>>>,
    failures: Arc<Mutex<BTreeMap<String, usize>>>,
    lanes: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Starts `lanes` lanes posting to `url`, voter ids `<prefix>-<lane>-<n>`.
    pub fn start(url: &str, prefix: &str, lanes: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(Mutex::new(HashMap::new()));
        let failures = Arc::new(Mutex::new(BTreeMap::new()));
        let lanes = (0..lanes)
            .map(|lane| {
                let (stop, acknowledged, failures) =
                    (stop.clone(), acknowledged.clone(), failures.clone());
                let (url, prefix) = (url.to_owned(), prefix.to_owned());
                tokio::spawn(async move {
                    let client = http_client(false);
                    // Bounded: at most 200,000 votes a lane, and it stops when told.
                    for i in 0..200_000u32 {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let id = format!("{prefix}-{lane}-{i}");
                        let choice = if i % 3 == 0 { "b" } else { "a" };
                        match vote_as(&client, &url, &id, choice).await {
                            Ok(()) => {
                                acknowledged.lock().unwrap().insert(id, choice);
                            }
                            Err(why) => *failures.lock().unwrap().entry(why).or_default() += 1,
                        }
                        // Pacing, not waiting: a lane sends at most ~250 votes a second.
                        tokio::time::sleep(Duration::from_millis(4)).await;
                    }
                })
            })
            .collect();
        Self {
            stop,
            acknowledged,
            failures,
            lanes,
        }
    }

    pub fn acknowledged(&self) -> usize {
        self.acknowledged.lock().unwrap().len()
    }

    /// The voters acknowledged so far: a mark in the run, so that a test can
    /// tell the votes acknowledged after it from the ones before.
    pub fn acknowledged_voters(&self) -> HashSet<String> {
        self.acknowledged.lock().unwrap().keys().cloned().collect()
    }

    /// Votes answered so far, acknowledged or not.
    pub fn answered(&self) -> usize {
        self.acknowledged() + self.failures.lock().unwrap().values().sum::<usize>()
    }

    /// Waits (60 s at most) until `more` further votes are acknowledged: the
    /// pipeline takes votes again. On failure the message counts the refusals
    /// by cause and adds `context()` (a test's pod logs, say).
    pub async fn flowing(&self, more: usize, what: &str, context: impl Fn() -> String) {
        let target = self.acknowledged() + more;
        let flowing = super::within(Duration::from_secs(60), || async {
            (self.acknowledged() >= target).then_some(())
        })
        .await;
        assert!(
            flowing.is_some(),
            "timed out after 60s waiting for votes acknowledged {what}: {} of {target}; \
             refused or failed so far: {:?}\n{}",
            self.acknowledged(),
            self.failures.lock().unwrap(),
            context()
        );
    }

    pub async fn finish(self) -> Outcome {
        self.stop.store(true, Ordering::Relaxed);
        for lane in self.lanes {
            lane.await.unwrap();
        }
        let acknowledged = self.acknowledged.lock().unwrap().clone();
        let failures = self.failures.lock().unwrap().clone();
        Outcome {
            acknowledged,
            failures,
        }
    }
}

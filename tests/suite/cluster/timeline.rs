//! What the Redis pods logged around a failover, in order, for the figures
//! and for a failure's reader: the stopping pods' own lines (the preStop's
//! handover, the shutdown), the Sentinels' failover events, the start
//! scripts' decisions, and vote's warnings. Printed, never asserted: it
//! tells where the seconds between a deletion and the next vote went.

use super::app::NAMESPACE;
use crate::harness::cluster::Cluster;
use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};

/// The lines worth a place in the timeline: the Sentinels' failover steps,
/// the start and stop scripts, and the servers' role changes and shutdown.
const MARKS: &[&str] = &[
    "+sdown",
    "+odown",
    "+try-failover",
    "+elected-leader",
    "+selected-slave",
    "+promoted-slave",
    "+switch-master",
    "+failover-end",
    "-failover-abort",
    "+convert-to-slave",
    "+fix-slave-config",
    "+slave-reconf-sent",
    "+slave-reconf-done",
    "+new-epoch",
    "preStop:",
    "starting as",
    "waiting for another Sentinel",
    "no Sentinel answers",
    "no config yet",
    "starting from this Sentinel",
    "MASTER MODE",
    "Connecting to MASTER",
    "SIGTERM",
    "bye bye",
];

/// Follows pods from just before they are deleted (a pod's log ends with it).
pub struct Timeline {
    began: String,
    what: String,
    followers: Vec<Child>,
}

impl Timeline {
    /// Starts following every container of `pods`, before `what` is done
    /// to them.
    pub fn follow(cluster: &Cluster, what: &str, pods: &[&str]) -> Self {
        let followers = pods
            .iter()
            .map(|pod| {
                cluster
                    .kubectl()
                    .args(["logs", "-f", "--timestamps", "--tail=0", "--all-containers"])
                    .args(["--prefix", "-n", NAMESPACE, pod])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("follow a Redis pod's log")
            })
            .collect();
        Self {
            began: now(),
            what: what.to_owned(),
            followers,
        }
    }

    /// Prints, in time order, what was logged since [`Timeline::follow`]:
    /// by the followed pods, by the Redis pods running now, and vote's
    /// first warnings.
    pub fn print(self, cluster: &Cluster) {
        let mut lines = BTreeSet::new();
        for mut follower in self.followers {
            let _ = follower.kill();
            if let Ok(out) = follower.wait_with_output() {
                lines.extend(marked(&out.stdout));
            }
        }
        let redis = since(
            cluster,
            &["-l", "app.kubernetes.io/name=redis", "--all-containers"],
        );
        lines.extend(marked(&redis));
        let vote = since(cluster, &["-l", "app.kubernetes.io/name=vote"]);
        let warnings: Vec<String> = String::from_utf8_lossy(&vote)
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .filter_map(|l| stamped("vote", l))
            .filter(|l| l.as_str() >= self.began.as_str())
            .collect();
        lines.extend(warnings.iter().take(12).cloned());
        lines.insert(format!("{} -- {}", self.began, self.what));
        let shown: Vec<&String> = lines.range(self.began.clone()..).collect();
        eprintln!(
            "cluster: replicated-data: timeline of {} ({} warnings from vote):\n  {}",
            self.what,
            warnings.len(),
            shown
                .iter()
                .map(|l| l.as_str())
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
}

/// `kubectl logs ARGS --prefix --timestamps` in the namespace, over the
/// last five minutes.
fn since(cluster: &Cluster, args: &[&str]) -> Vec<u8> {
    let mut all = vec!["logs"];
    all.extend(args);
    all.extend(["--prefix", "--timestamps", "--since=5m", "--tail=-1"]);
    all.extend(["--max-log-requests=10", "-n", NAMESPACE]);
    cluster.kubectl_output(&all).stdout
}

/// The marked lines of a `--prefix --timestamps` log, as
/// "TIMESTAMP [pod/container] text".
fn marked(log: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(log)
        .lines()
        .filter(|l| MARKS.iter().any(|m| l.contains(m)))
        .filter_map(|l| {
            let (prefix, rest) = l.split_once("] ")?;
            let source = prefix.trim_start_matches("[pod/");
            stamped(source, rest)
        })
        .collect()
}

/// "TIMESTAMP [source] text" from "TIMESTAMP text", the time with nine
/// digits of fraction so that times sort as text (kubectl drops a
/// fraction's trailing zeros).
fn stamped(source: &str, line: &str) -> Option<String> {
    let (at, text) = line.split_once(' ')?;
    let (seconds, fraction) = at.strip_suffix('Z')?.split_once('.').unwrap_or((at, ""));
    Some(format!(
        "{seconds}.{fraction:0<9}Z [{source}] {}",
        text.trim()
    ))
}

/// The time now, as kubectl's `--timestamps` writes it (RFC 3339, UTC).
fn now() -> String {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%S.%NZ"])
        .output()
        .expect("run date");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

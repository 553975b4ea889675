//! The compose stack's Postgres nodes as Patroni sees them: which node leads,
//! which follow, on what timeline, asked of any node that answers.

use crate::harness::compose::{output, ComposeStack};
use crate::harness::within;
use std::time::Duration;

/// The Postgres nodes' services (compose.replicated.yaml); `db` is node 0.
pub const NODES: [&str; 3] = ["db", "db-1", "db-2"];

/// One node in `patronictl list`.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// Patroni's name for it: the node's host name, `db-N`.
    pub name: String,
    /// `Leader`, `Sync Standby`, `Replica`.
    pub role: String,
    /// `running`, `streaming`, `starting`, `stopped`, ...
    pub state: String,
    pub timeline: i64,
}

impl Member {
    /// The compose service this member runs in.
    pub fn service(&self) -> &'static str {
        match self.name.as_str() {
            "db-1" => "db-1",
            "db-2" => "db-2",
            _ => "db",
        }
    }

    fn serves(&self) -> bool {
        matches!(self.state.as_str(), "running" | "streaming")
    }

    pub fn leads(&self) -> bool {
        self.role == "Leader" && self.serves()
    }

    pub fn follows(&self) -> bool {
        self.role != "Leader" && self.serves()
    }
}

/// The cluster as the first node that answers sees it (within 5 s each);
/// empty when none does.
pub fn members(stack: &ComposeStack) -> Vec<Member> {
    NODES
        .iter()
        .find_map(|node| {
            let asked = output(&mut stack.command(&[
                "exec",
                "-T",
                node,
                "timeout",
                "5",
                "patronictl",
                "-c",
                "/etc/patroni/patroni.yml",
                "list",
                "--format",
                "json",
            ]));
            if !asked.status.success() {
                return None;
            }
            let listed: Vec<serde_json::Value> = serde_json::from_slice(&asked.stdout).ok()?;
            Some(listed.iter().map(member).collect())
        })
        .unwrap_or_default()
}

fn member(listed: &serde_json::Value) -> Member {
    let text = |key: &str| listed[key].as_str().unwrap_or_default().to_owned();
    Member {
        name: text("Member"),
        role: text("Role"),
        state: text("State"),
        timeline: listed["TL"].as_i64().unwrap_or_default(),
    }
}

/// The running leader, if there is one now.
pub fn leader(stack: &ComposeStack) -> Option<Member> {
    members(stack).into_iter().find(Member::leads)
}

/// Waits up to `limit` for a running leader other than `not`.
pub async fn new_leader(stack: &ComposeStack, not: &str, limit: Duration) -> Option<Member> {
    within(limit, || async {
        leader(stack).filter(|member| member.name != not)
    })
    .await
}

/// Waits up to `limit` until `name` follows the leader on the leader's
/// timeline: it rejoined (rewound or cloned again), never a second primary.
pub async fn rejoined(stack: &ComposeStack, name: &str, limit: Duration) -> Option<Member> {
    within(limit, || async {
        let all = members(stack);
        let leader = all.iter().find(|m| m.leads())?;
        all.iter()
            .find(|m| m.name == name && m.follows() && m.timeline == leader.timeline)
            .cloned()
    })
    .await
}

/// Waits up to `limit` until `name` is the running leader.
pub async fn within_leader(stack: &ComposeStack, name: &str, limit: Duration) -> Option<Member> {
    within(limit, || async { leader(stack).filter(|m| m.name == name) }).await
}

/// Waits up to `limit` until a leader runs and every other node follows it
/// on its timeline.
pub async fn all_following(stack: &ComposeStack, limit: Duration) -> Option<()> {
    within(limit, || async {
        let all = members(stack);
        let leader = all.iter().find(|m| m.leads())?;
        let following = all
            .iter()
            .filter(|m| m.follows() && m.timeline == leader.timeline)
            .count();
        (all.len() == NODES.len() && following == NODES.len() - 1).then_some(())
    })
    .await
}

/// The Postgres nodes' last log lines (Patroni's decisions among them), for
/// a failure message.
pub fn events(stack: &ComposeStack) -> String {
    let mut args = vec!["logs", "--no-color", "--timestamps", "--tail", "40"];
    args.extend(NODES);
    let logs = output(&mut stack.command(&args));
    String::from_utf8_lossy(&logs.stdout).into_owned()
}

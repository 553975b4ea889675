//! k8s/app with components/replicated-data on the test cluster: three Redis
//! pods with their Sentinels and three Postgres pods run by Patroni. While
//! votes flow, the Redis master's server is stopped (SIGSTOP: it stops
//! answering, as a lost machine does) until the Sentinels promote a replica,
//! then the Patroni leader's pod is deleted: Patroni promotes the
//! synchronous standby, the Service db follows the leader lock, and the
//! deleted pod comes back as a standby. Then the Redis master's pod is
//! deleted (back at its Service's address: it resumes as the master or a
//! replica is promoted, and the tier settles on one master), and then all
//! three Redis pods at once (no two start as the master under one config epoch; the tier
//! settles on one master every Sentinel names).
//! Every acknowledged vote must be in the new leader.

use super::app::{kustomization, stored_votes, stores_reached, NAMESPACE};
use super::timeline::Timeline;
use super::{cluster_or_skip, Exercise, READY};
use crate::harness::cluster::Cluster;
use crate::harness::compose::{docker, docker_output};
use crate::harness::load::Load;
use crate::harness::{eventually, get_json};
use std::time::{Duration, Instant};

/// The Redis StatefulSet's pods.
const REDIS_PODS: [&str; 3] = ["redis-0", "redis-1", "redis-2"];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicated_data_loses_no_vote_when_the_redis_master_and_the_primary_go() {
    let test = "replicated_data_loses_no_vote_when_the_redis_master_and_the_primary_go";
    let Some(cluster) = cluster_or_skip(test) else {
        return;
    };
    if let Some(reason) = cluster.node_unavailable() {
        crate::harness::skip::skip(test, &reason);
        return;
    }
    let app = Exercise::new(&cluster, NAMESPACE);
    the_replicated_tier_comes_up(&cluster).await;
    let first_master = sentinel_master(&cluster);
    let run = Run::start(&cluster).await;
    let silenced = run.silence_the_redis_master(first_master).await;
    let patroni = run.delete_the_patroni_leader().await;
    let deleted = run.delete_the_redis_masters_pod().await;
    run.delete_every_redis_pod(&deleted).await;
    run.every_acknowledged_vote_stored(&silenced, &patroni)
        .await;
    old_leader_rejoins_as_a_standby(&cluster, &patroni).await;
    drop(app);
}

/// k8s/app with replicated-data on one node, every pod Ready, every vote
/// and result pod reaching its store, and the Sentinels formed.
async fn the_replicated_tier_comes_up(cluster: &Cluster) {
    cluster.run(&["create", "namespace", NAMESPACE]);
    let dir = kustomization(
        "replicated-cluster",
        // One node: the Redis pods share it (required anti-affinity otherwise).
        &["replicated-data", "single-node", "network-policies"],
        false,
    );
    cluster.run(&["apply", "-k", &dir]);
    for (name, count) in [
        ("redis", 3),
        ("db", 3),
        ("vote", 1),
        ("result", 1),
        ("worker", 1),
    ] {
        cluster.wait_ready(
            NAMESPACE,
            &format!("app.kubernetes.io/name={name}"),
            count,
            READY,
        );
    }
    stores_reached(cluster).await;
    // The Sentinels learn a replica from the master's INFO, every 10 s: the
    // pods all start at once, and a master lost before they know a replica
    // leaves that replica following the lost master (60 s of refused votes
    // seen, until the kubelet restarted it). The tier is formed first.
    eventually(
        Duration::from_secs(60),
        "every Sentinel to know both replicas and both other Sentinels",
        || async { sentinels_formed(cluster).then_some(()) },
    )
    .await;
}

/// The master `redis-1`'s Sentinel names (`redis-announce-N`), empty
/// when it does not answer.
fn sentinel_master(cluster: &Cluster) -> String {
    redis_cli(
        cluster,
        "redis-1",
        "sentinel",
        &["SENTINEL", "get-master-addr-by-name", "votingapp"],
    )
    .lines()
    .next()
    .unwrap_or_default()
    .trim()
    .to_owned()
}

/// The run: votes flowing through the vote Service, and the result
/// Service's address (`http://<cluster IP>`).
struct Run<'a> {
    cluster: &'a Cluster,
    votes: Load,
    result: String,
}

/// The Redis master silenced (SIGSTOP) until the Sentinels promoted a replica.
struct SilencedMaster {
    first_master: String,
    promoted: String,
    failed_over: Duration,
    accepted_again: Duration,
}

/// The Patroni leader's pod deleted, and the standby Patroni promoted.
struct PatroniFailover {
    first_leader: Leader,
    new_leader: Leader,
    promoted_after: Duration,
    stored_again: Duration,
}

/// The Redis master's pod deleted, and the master the tier settled on (the
/// same node resumed, or a replica promoted).
struct DeletedMaster {
    master: String,
    settled_on: String,
    votes_again: Duration,
    settled: Duration,
}

impl<'a> Run<'a> {
    /// Starts votes through the vote Service, flowing before the failovers.
    async fn start(cluster: &'a Cluster) -> Run<'a> {
        let ip = cluster.run(&[
            "get",
            "service",
            "vote",
            "-n",
            NAMESPACE,
            "-o",
            "jsonpath={.spec.clusterIP}",
        ]);
        let result_ip = cluster.run(&[
            "get",
            "service",
            "result",
            "-n",
            NAMESPACE,
            "-o",
            "jsonpath={.spec.clusterIP}",
        ]);
        let result = format!("http://{}", result_ip.trim());
        let votes = Load::start(&format!("http://{}/", ip.trim()), "rd", 4);
        let run = Run {
            cluster,
            votes,
            result,
        };
        run.flowing("before the failovers").await;
        run
    }

    /// Waits for 100 more votes acknowledged `what`; on failure, the pods' last lines.
    async fn flowing(&self, what: &str) {
        self.votes
            .flowing(100, what, || super::failure_report(self.cluster, NAMESPACE))
            .await;
    }

    /// The result Service's total.
    async fn total(&self) -> Option<i64> {
        get_json(&format!("{}/api/results", self.result)).await?["total"].as_i64()
    }

    /// The Redis master stops answering until the Sentinels replace it.
    async fn silence_the_redis_master(&self, first_master: String) -> SilencedMaster {
        let pod = pod_of(&first_master);
        let pod_filter = format!("label=io.kubernetes.pod.name={pod}");
        let container = docker(&[
            "ps",
            "-q",
            "--filter",
            &pod_filter,
            "--filter",
            "label=io.kubernetes.container.name=redis",
        ]);
        let container = container.trim().to_owned();
        assert!(!container.is_empty(), "no redis container for {pod}");
        // SIGSTOP to the container's redis-server (its first process), not
        // `docker pause`: a probe's `docker exec` caught by the freeze hangs,
        // and holds the container so that `docker unpause` hung with it (seen
        // in CI).
        let timeline =
            Timeline::follow(self.cluster, &format!("SIGSTOP to {pod}'s Redis"), &[&pod]);
        docker(&["kill", "--signal=STOP", &container]);
        let stopped = Instant::now();
        let promoted = eventually(
            Duration::from_secs(60),
            "the Sentinels to promote a replica",
            || async {
                let master = sentinel_master(self.cluster);
                (!master.is_empty() && master != first_master).then_some(master)
            },
        )
        .await;
        let failed_over = stopped.elapsed();
        self.flowing("after the Redis failover").await;
        let accepted_again = stopped.elapsed();
        // The kubelet may have restarted the silent container meanwhile (its
        // liveness probe): then there is nothing left to continue.
        let _ = docker_output(&["kill", "--signal=CONT", &container]);
        // Resumed, it is a master no Sentinel names: they turn it into a
        // replica of the new one (after 8 s of it reporting the old role),
        // and the tier is whole again before the next fault.
        let resumed = Instant::now();
        eventually(
            Duration::from_secs(60),
            &format!("{pod} back as a connected replica of {promoted}"),
            || async {
                let role = redis_role(self.cluster, &pod);
                (role.len() >= 4
                    && role[0] == "slave"
                    && role[1] == promoted
                    && role[3] == "connected")
                    .then_some(())
            },
        )
        .await;
        timeline.print(self.cluster);
        eprintln!(
            "cluster: replicated-data: {pod} resumed: a replica of {promoted} after {:.1} s",
            resumed.elapsed().as_secs_f64()
        );
        SilencedMaster {
            first_master,
            promoted,
            failed_over,
            accepted_again,
        }
    }

    /// The Patroni leader's pod goes; the synchronous standby takes its place.
    async fn delete_the_patroni_leader(&self) -> PatroniFailover {
        let cluster = self.cluster;
        let first_leader = patroni_leader(cluster).expect("a Patroni leader before the failover");
        let stored_before = self.total().await.unwrap_or_default();
        delete_pods(cluster, &[&first_leader.pod]);
        let deleted = Instant::now();
        let new_leader = eventually(
            Duration::from_secs(90),
            "Patroni to promote another db pod",
            || async { patroni_leader(cluster).filter(|l| l.pod != first_leader.pod) },
        )
        .await;
        let promoted_after = deleted.elapsed();
        eventually(
            Duration::from_secs(90),
            "votes stored again (the result's total past the one at the deletion)",
            || async { (self.total().await? > stored_before).then_some(()) },
        )
        .await;
        let stored_again = deleted.elapsed();
        self.flowing("after the Patroni failover").await;
        PatroniFailover {
            first_leader,
            new_leader,
            promoted_after,
            stored_again,
        }
    }

    /// The Redis master's pod deleted. Its replacement is back at the same
    /// address (its Service, redis-announce-N), so either it answers before
    /// the Sentinels' down-after and resumes as the master they name, or
    /// they promote a replica and it comes back as one (start-redis.sh
    /// follows the latest config epoch, not its own file). Either way votes
    /// flow, and the tier settles on one master every Sentinel names.
    async fn delete_the_redis_masters_pod(&self) -> DeletedMaster {
        let cluster = self.cluster;
        let master = agreed_master(cluster).expect("the Sentinels agree before the pod goes");
        let pod = pod_of(&master);
        eprintln!(
            "cluster: replicated-data: before {pod}'s deletion: {:?}",
            roles(cluster)
        );
        let timeline = Timeline::follow(cluster, &format!("{pod} deleted"), &[&pod]);
        let pod_deleted = Instant::now();
        delete_pods(cluster, &[&pod]);
        self.flowing("after the Redis master's pod went").await;
        let votes_again = pod_deleted.elapsed();
        cluster.wait_ready(NAMESPACE, "app.kubernetes.io/name=redis", 3, READY);
        let settled_on = settled_master(
            cluster,
            Duration::from_secs(60),
            "the tier to settle on one master every Sentinel names after the master's pod went",
        )
        .await;
        timeline.print(cluster);
        DeletedMaster {
            master,
            settled_on,
            votes_again,
            settled: pod_deleted.elapsed(),
        }
    }

    /// All three Redis pods at once, as a power cut would. Each start script
    /// follows the master the Sentinels name with the highest epoch, so no
    /// two start as the master under one epoch. The Sentinels may still fail over once
    /// more after (a pod back at a new address is down to a Sentinel that
    /// resolved its name before: seen in CI), so what must hold is that the
    /// tier settles on one master that all of them name, and votes flow.
    async fn delete_every_redis_pod(&self, deleted: &DeletedMaster) {
        let cluster = self.cluster;
        let timeline = Timeline::follow(cluster, "every Redis pod deleted", &REDIS_PODS);
        let all_deleted = Instant::now();
        delete_pods(cluster, &REDIS_PODS);
        cluster.wait_ready(NAMESPACE, "app.kubernetes.io/name=redis", 3, READY);
        let after_restart = settled_master(
            cluster,
            Duration::from_secs(90),
            "the restarted nodes to settle on one master that every Sentinel names",
        )
        .await;
        self.flowing("after all Redis pods restarted").await;
        let restarted_votes_again = all_deleted.elapsed();
        timeline.print(cluster);
        let decisions = start_decisions(cluster);
        let DeletedMaster {
            master, settled_on, ..
        } = deleted;
        let how = if settled_on == master {
            "the pod resumed as the master"
        } else {
            "a replica promoted"
        };
        eprintln!(
            "cluster: replicated-data: Redis master pod {master} deleted: votes taken again by \
             {:.1} s, settled on the master {settled_on} by {:.1} s ({how}); all three Redis pods \
             deleted: the start scripts decided {decisions:?}, the master {after_restart} \
             ({settled_on} before), votes taken again by {:.1} s",
            deleted.votes_again.as_secs_f64(),
            deleted.settled.as_secs_f64(),
            restarted_votes_again.as_secs_f64(),
        );
        // Nodes may start as the master one after another when the
        // Sentinels fail over between their starts (seen here); two under
        // the same config epoch would be two masters at once.
        let master_epochs: Vec<&str> = decisions
            .iter()
            .filter_map(|(_, decided)| decided.last()?.strip_prefix("starting as master "))
            .collect();
        let distinct: std::collections::HashSet<&&str> = master_epochs.iter().collect();
        assert_eq!(
            distinct.len(),
            master_epochs.len(),
            "two nodes started as the master under one config epoch: {decisions:?}"
        );
    }

    /// Votes stop; every acknowledged vote is in the new Patroni leader.
    async fn every_acknowledged_vote_stored(
        self,
        silenced: &SilencedMaster,
        patroni: &PatroniFailover,
    ) {
        let outcome = self.votes.finish().await;
        let api = format!("{}/api/results", self.result);
        let acknowledged = outcome.acknowledged.len() as i64;
        eventually(
            Duration::from_secs(60),
            "every acknowledged vote in result",
            || async {
                let total = get_json(&api).await?["total"].as_i64()?;
                (total >= acknowledged).then_some(())
            },
        )
        .await;
        let stored = stored_votes(self.cluster, &patroni.new_leader.pod);
        let lost = outcome.lost(|id| stored.get(id).map(String::as_str));
        let SilencedMaster {
            first_master,
            promoted,
            ..
        } = silenced;
        eprintln!(
            "cluster: replicated-data: {first_master} stopped, {promoted} promoted after {:.1} s, \
             votes taken again by {:.1} s; then the Patroni leader {} deleted: {} promoted after {:.1} s, \
             votes stored again after {:.1} s; {acknowledged} votes acknowledged, {} lost; \
             requests that failed (not acknowledged): {:?}",
            silenced.failed_over.as_secs_f64(),
            silenced.accepted_again.as_secs_f64(),
            patroni.first_leader.pod,
            patroni.new_leader.pod,
            patroni.promoted_after.as_secs_f64(),
            patroni.stored_again.as_secs_f64(),
            lost.len(),
            outcome.failures
        );
        assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    }
}

/// The deleted pod comes back as a standby of the new leader, and the
/// Service still reaches the new leader alone.
async fn old_leader_rejoins_as_a_standby(cluster: &Cluster, patroni: &PatroniFailover) {
    let PatroniFailover {
        first_leader,
        new_leader,
        ..
    } = patroni;
    cluster.wait_ready(NAMESPACE, "app.kubernetes.io/name=db", 3, READY);
    eventually(
        Duration::from_secs(90),
        "the old leader to rejoin as a standby",
        || async {
            let state = cluster.kubectl_output(&[
                "exec",
                "-n",
                NAMESPACE,
                &first_leader.pod,
                "--",
                "psql",
                "-U",
                "postgres",
                "-tAc",
                "SELECT pg_is_in_recovery()",
            ]);
            (String::from_utf8_lossy(&state.stdout).trim() == "t").then_some(())
        },
    )
    .await;
    assert_eq!(
        patroni_leader(cluster).map(|l| l.pod),
        Some(new_leader.pod.clone())
    );
    eprintln!(
        "cluster: replicated-data: {} back as a standby of {}",
        first_leader.pod, new_leader.pod
    );
}

/// `redis-cli ARGS...` in a Redis pod's container (`redis` or `sentinel`, on
/// the Sentinel's port); its standard output, empty when it fails.
fn redis_cli(cluster: &Cluster, pod: &str, container: &str, args: &[&str]) -> String {
    let mut all = vec![
        "exec",
        "-n",
        NAMESPACE,
        pod,
        "-c",
        container,
        "--",
        "redis-cli",
    ];
    if container == "sentinel" {
        all.extend(["-p", "26379"]);
    }
    all.extend_from_slice(args);
    String::from_utf8_lossy(&cluster.kubectl_output(&all).stdout).into_owned()
}

/// The master all three Sentinels name (`redis-announce-N`), when they
/// all answer and agree.
fn agreed_master(cluster: &Cluster) -> Option<String> {
    let answers: Vec<String> = REDIS_PODS
        .into_iter()
        .map(|pod| {
            let text = redis_cli(
                cluster,
                pod,
                "sentinel",
                &["SENTINEL", "get-master-addr-by-name", "votingapp"],
            );
            text.lines().next().unwrap_or_default().trim().to_owned()
        })
        .collect();
    let first = answers[0].clone();
    (first.starts_with("redis-") && answers.iter().all(|a| *a == first)).then_some(first)
}

/// Waits up to `limit` for the tier to settle: one master every Sentinel
/// names, and it the only Redis that says it is a master.
async fn settled_master(cluster: &Cluster, limit: Duration, what: &str) -> String {
    eventually(limit, what, || async {
        let agreed = agreed_master(cluster)?;
        (redis_masters(cluster) == [pod_of(&agreed)]).then_some(agreed)
    })
    .await
}

/// Whether each Sentinel knows two replicas and two other Sentinels.
fn sentinels_formed(cluster: &Cluster) -> bool {
    REDIS_PODS.into_iter().all(|pod| {
        let text = redis_cli(
            cluster,
            pod,
            "sentinel",
            &["SENTINEL", "MASTER", "votingapp"],
        );
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        let field = |name: &str| {
            lines
                .iter()
                .position(|line| *line == name)
                .and_then(|i| lines.get(i + 1).copied())
        };
        field("num-slaves") == Some("2") && field("num-other-sentinels") == Some("2")
    })
}

/// The pod of a node's address: `redis-1` of `redis-announce-1`.
fn pod_of(address: &str) -> String {
    let ordinal = address.rsplit('-').next().unwrap_or_default();
    format!("redis-{ordinal}")
}

/// The role (`master`, `slave`) the pod's Redis gives itself.
/// Each Redis pod's `ROLE` on one line (a replica's master and link state).
fn roles(cluster: &Cluster) -> Vec<String> {
    REDIS_PODS
        .into_iter()
        .map(|pod| format!("{pod}: {}", redis_role(cluster, pod)[..].join(" ")))
        .collect()
}

/// The first four lines of a Redis pod's `ROLE` reply: a master's role and
/// offset, a replica's role, master, port and link state; none when the
/// pod does not answer.
fn redis_role(cluster: &Cluster, pod: &str) -> Vec<String> {
    redis_cli(cluster, pod, "redis", &["ROLE"])
        .lines()
        .take(4)
        .map(|line| line.trim().to_owned())
        .collect()
}

/// The pods whose Redis says it is a master.
fn redis_masters(cluster: &Cluster) -> Vec<&'static str> {
    REDIS_PODS
        .into_iter()
        .filter(|pod| redis_role(cluster, pod).first().map(String::as_str) == Some("master"))
        .collect()
}

/// What each pod's start script said (`start-redis.sh`): whether it waited
/// and what it started as, and when the pod was created and its server
/// started.
fn start_decisions(cluster: &Cluster) -> Vec<(String, Vec<String>)> {
    REDIS_PODS
        .into_iter()
        .map(|pod| {
            let started = cluster.kubectl_output(&[
                "get", "pod", "-n", NAMESPACE, pod, "-o",
                "jsonpath={.metadata.creationTimestamp} {.status.containerStatuses[?(@.name==\"redis\")].state.running.startedAt}",
            ]);
            let log = cluster.kubectl_output(&["logs", "-n", NAMESPACE, pod, "-c", "redis"]);
            let decided = String::from_utf8_lossy(&log.stdout)
                .lines()
                .filter(|l| ["starting", "only ", "no Sentinel"].iter().any(|p| l.starts_with(p)))
                .map(str::to_owned)
                .collect();
            let started = String::from_utf8_lossy(&started.stdout).into_owned();
            (format!("{pod} created/started {started}"), decided)
        })
        .collect()
}

fn delete_pods(cluster: &Cluster, pods: &[&str]) {
    let mut args = vec!["delete", "pod", "-n", NAMESPACE, "--wait=false"];
    args.extend_from_slice(pods);
    cluster.run(&args);
}

/// The Patroni leader as the Endpoints db show it, once it serves: the pod
/// named in the leader annotation (the lock) when the one address the
/// Service db reaches is that pod's.
struct Leader {
    pod: String,
}

fn patroni_leader(cluster: &Cluster) -> Option<Leader> {
    let out = cluster.kubectl_output(&[
        "get",
        "endpoints",
        "db",
        "-n",
        NAMESPACE,
        "-o",
        "jsonpath={.metadata.annotations.leader} {.subsets[*].addresses[*].ip}",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    let pod = words.next()?.to_owned();
    let addresses: Vec<&str> = words.collect();
    let pod_ip = cluster.kubectl_output(&[
        "get",
        "pod",
        "-n",
        NAMESPACE,
        &pod,
        "-o",
        "jsonpath={.status.podIP}",
    ]);
    let pod_ip = String::from_utf8_lossy(&pod_ip.stdout).trim().to_owned();
    // Patroni writes both in one object: the address is the holder's once
    // it is the primary, and no one's before.
    (addresses == [pod_ip.as_str()]).then_some(Leader { pod })
}

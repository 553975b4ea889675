//! k8s/app with components/replicated-data on the test cluster: three Redis
//! pods with their Sentinels and a synchronous Postgres standby. While votes
//! flow, the Redis master's server is stopped (SIGSTOP: it stops answering,
//! as a lost machine does) until the Sentinels promote a replica,
//! then the standby is promoted (`pg_ctl promote`, standing in for a
//! failover manager) and the primary scaled to 0. Every acknowledged vote
//! must be in the promoted standby; the primary scaled to 1 again must
//! refuse to start as a second one.

use super::app::{kustomization, stored_votes, stores_reached, NAMESPACE};
use super::{cluster_or_skip, Exercise, CLUSTER, READY};
use crate::harness::compose::{docker, docker_output};
use crate::harness::load::Load;
use crate::harness::{eventually, get_json};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicated_data_loses_no_vote_when_the_redis_master_and_the_primary_go() {
    let test = "replicated_data_loses_no_vote_when_the_redis_master_and_the_primary_go";
    let Some(cluster) = cluster_or_skip(test) else {
        return;
    };
    let _one = CLUSTER.lock().await;
    if let Some(reason) = cluster.node_unavailable() {
        crate::harness::skip::skip(test, &reason);
        return;
    }
    let _engine = crate::harness::compose::ENGINE.lock().await;
    let app = Exercise::new(&cluster, NAMESPACE);
    cluster.run(&["create", "namespace", NAMESPACE]);
    let dir = kustomization(
        "replicated-cluster",
        &["replicated-data", "network-policies"],
        false,
    );
    cluster.run(&["apply", "-k", &dir]);
    for (name, count) in [
        ("redis", 3),
        ("db", 1),
        ("db-standby", 1),
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
    stores_reached(&cluster).await;
    let sentinel_master = || {
        let answer = cluster.run(&[
            "exec",
            "-n",
            NAMESPACE,
            "redis-1",
            "-c",
            "sentinel",
            "--",
            "redis-cli",
            "-p",
            "26379",
            "SENTINEL",
            "get-master-addr-by-name",
            "votingapp",
        ]);
        answer.lines().next().unwrap_or_default().trim().to_owned()
    };
    let first_master = sentinel_master();
    let ip = cluster.run(&[
        "get",
        "service",
        "vote",
        "-n",
        NAMESPACE,
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    let report = || super::failure_report(&cluster, NAMESPACE);
    let votes = Load::start(&format!("http://{}/", ip.trim()), "rd", 4);
    votes.flowing(100, "before the failovers", report).await;

    // The Redis master stops answering until the Sentinels replace it.
    let pod = first_master
        .split('.')
        .next()
        .unwrap_or_default()
        .to_owned();
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
    docker(&["kill", "--signal=STOP", &container]);
    let stopped = Instant::now();
    let promoted = eventually(
        Duration::from_secs(60),
        "the Sentinels to promote a replica",
        || async {
            let master = sentinel_master();
            (!master.is_empty() && master != first_master).then_some(master)
        },
    )
    .await;
    let failed_over = stopped.elapsed();
    votes.flowing(100, "after the Redis failover", report).await;
    let accepted_again = stopped.elapsed();
    // The kubelet may have restarted the silent container meanwhile (its
    // liveness probe): then there is nothing left to continue.
    let _ = docker_output(&["kill", "--signal=CONT", &container]);

    // The primary goes; the standby takes its place.
    cluster.run(&[
        "exec",
        "-n",
        NAMESPACE,
        "db-standby-0",
        "--",
        "pg_ctl",
        "promote",
        "-w",
    ]);
    cluster.run(&["scale", "-n", NAMESPACE, "statefulset/db", "--replicas=0"]);
    votes
        .flowing(100, "after the standby was promoted", report)
        .await;
    let outcome = votes.finish().await;

    let result_ip = cluster.run(&[
        "get",
        "service",
        "result",
        "-n",
        NAMESPACE,
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    let api = format!("http://{}/api/results", result_ip.trim());
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
    let stored = stored_votes(&cluster, "db-standby-0");
    let lost = outcome.lost(|id| stored.get(id).map(String::as_str));
    eprintln!(
        "cluster: replicated-data: {first_master} stopped, {promoted} promoted after {:.1} s, \
         votes taken again by {:.1} s; then the standby promoted and db scaled to 0: \
         {acknowledged} votes acknowledged, {} lost; requests that failed (not acknowledged): {:?}",
        failed_over.as_secs_f64(),
        accepted_again.as_secs_f64(),
        lost.len(),
        outcome.failures
    );
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");

    // The old primary back: it refuses to be a second primary.
    cluster.run(&["scale", "-n", NAMESPACE, "statefulset/db", "--replicas=1"]);
    let said = eventually(
        Duration::from_secs(120),
        "db to refuse to be a second primary",
        || async {
            // The attempt running now, else the one before it.
            [None, Some("--previous")].into_iter().find_map(|previous| {
                let mut args = vec!["logs", "-n", NAMESPACE, "db-0", "-c", "db"];
                args.extend(previous);
                let logs = cluster.kubectl_output(&args);
                String::from_utf8_lossy(&logs.stdout)
                    .lines()
                    .find(|line| line.starts_with("refusing to start"))
                    .map(str::to_owned)
            })
        },
    )
    .await;
    // A failure exit (not a message and a start).
    eventually(
        Duration::from_secs(60),
        "db to exit with a failure",
        || async {
            let codes = [
                "status.containerStatuses[0].state.terminated.exitCode",
                "status.containerStatuses[0].lastState.terminated.exitCode",
            ]
            .map(|field| super::pod_field(&cluster, NAMESPACE, "app.kubernetes.io/name=db", field));
            codes.iter().flatten().any(|code| code == "1").then_some(())
        },
    )
    .await;
    eprintln!("cluster: replicated-data: db scaled to 1 again: {said}");
    drop(app);
}

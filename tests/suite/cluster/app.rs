//! k8s/app on the test cluster: the base with the NetworkPolicy and Ingress
//! components and two replicas of each service, applied as a platform team
//! would (`kubectl apply -k`), then every Deployment restarted, one rollout
//! after another, while votes flow: no acknowledged vote may be lost.
//!
//! The cluster is Kubernetes 1.20: the high-availability component's
//! PodDisruptionBudget (policy/v1) and HorizontalPodAutoscaler
//! (autoscaling/v2) kinds do not exist there, and the PodMonitor needs the
//! Prometheus Operator's CRD; those are schema-checked by check-deploy.sh and
//! their refusal here is printed. Its network does not enforce NetworkPolicy:
//! the policies are accepted here and their intent is checked by
//! app_deployment.rs.

use super::{cluster_or_skip, Exercise, READY};
use crate::harness::cluster::Cluster;
use crate::harness::compose::repo_root;
use crate::harness::load::Load;
use crate::harness::{eventually, get_json, TestDir};
use std::collections::HashMap;
use std::time::Duration;

pub(super) const NAMESPACE: &str = "votingapp";

/// A kustomization in target/ around k8s/app: the components under test, two
/// replicas each, and the local stand-ins for the official Redis and
/// Postgres images and for the Patroni image (no registry here). With
/// replicated-data, what the Patroni stand-in and Kubernetes 1.20 differ in:
/// the stand-in's postgres user (70, the Debian image's is 999) and the
/// PodDisruptionBudget's API (policy/v1beta1; policy/v1 from 1.21).
pub(super) fn kustomization(name: &str, components: &[&str], replicas: bool) -> String {
    let dir = repo_root().join("target/k8s-app-tests").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::from("resources:\n  - ../../../k8s/app/base\ncomponents:\n");
    for component in components {
        text.push_str(&format!("  - ../../../k8s/app/components/{component}\n"));
    }
    if replicas {
        text.push_str("replicas:\n");
        for deployment in ["vote", "result", "worker"] {
            text.push_str(&format!("  - name: {deployment}\n    count: 2\n"));
        }
    }
    text.push_str(
        "images:\n\
         \x20 - name: redis\n    newName: votingapp-offline/redis-standin\n    newTag: \"7\"\n\
         \x20 - name: postgres\n    newName: votingapp-offline/postgres-standin\n    newTag: \"15\"\n\
         \x20 - name: localhost/votingapp/postgres-patroni\n    newName: votingapp-offline/patroni-standin\n    newTag: \"15\"\n",
    );
    if components.contains(&"replicated-data") {
        text.push_str(
            "patches:\n\
             \x20 - target: {kind: StatefulSet, name: db}\n    patch: |-\n\
             \x20     - {op: replace, path: /spec/template/spec/securityContext/runAsUser, value: 70}\n\
             \x20     - {op: replace, path: /spec/template/spec/securityContext/runAsGroup, value: 70}\n\
             \x20     - {op: replace, path: /spec/template/spec/securityContext/fsGroup, value: 70}\n\
             \x20 - target: {kind: PodDisruptionBudget, name: db|redis}\n    patch: |-\n\
             \x20     - {op: replace, path: /apiVersion, value: policy/v1beta1}\n",
        );
    }
    std::fs::write(dir.join("kustomization.yaml"), text).unwrap();
    dir.to_string_lossy().into_owned()
}

/// Waits until every vote pod reaches Redis and every result pod Postgres
/// (each pod's `/readyz` on its metrics port).
pub(super) async fn stores_reached(cluster: &crate::harness::cluster::Cluster) {
    super::pods_reach(
        cluster,
        NAMESPACE,
        9090,
        &[
            ("app.kubernetes.io/name=vote", "redis"),
            ("app.kubernetes.io/name=result", "postgres"),
        ],
    )
    .await;
}

/// voter id -> vote, as stored in the app's Postgres (the pod `db_pod`).
pub(super) fn stored_votes(
    cluster: &crate::harness::cluster::Cluster,
    db_pod: &str,
) -> HashMap<String, String> {
    cluster
        .run(&[
            "exec",
            "-n",
            NAMESPACE,
            db_pod,
            "--",
            "psql",
            "-U",
            "postgres",
            "-tA",
            "-F",
            " ",
            "-c",
            "SELECT id, vote FROM votes",
        ])
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(id, vote)| (id.to_owned(), vote.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_app_deployment_restarts_every_deployment_under_load_losing_no_vote() {
    let test = "the_app_deployment_restarts_every_deployment_under_load_losing_no_vote";
    let Some(cluster) = cluster_or_skip(test) else {
        return;
    };
    let app = Exercise::new(&cluster, NAMESPACE);

    cluster.run(&["create", "namespace", NAMESPACE]);
    let cluster = &cluster;
    let mut steps = crate::harness::steps::Steps::new("k8s/app");
    steps
        .run(
            "what 1.20 cannot take is said plainly",
            what_1_20_cannot_take_is_said_plainly(cluster),
        )
        .await;
    steps
        .run(
            "replicated-data passes a server dry run",
            replicated_data_passes_a_server_dry_run(cluster),
        )
        .await;

    if let Some(reason) = cluster.node_unavailable() {
        let dir = kustomization("dry-run", &["network-policies", "ingress"], true);
        cluster.run(&["apply", "--dry-run=server", "-k", &dir]);
        crate::harness::skip::skip(&format!("{test} past a server dry run"), &reason);
        return;
    }
    steps
        .require(
            "the base with policies and ingress comes up",
            the_base_comes_up(cluster),
        )
        .await;
    let (vote, result) = (service_url(cluster, "vote"), service_url(cluster, "result"));
    let client = crate::harness::http_client(false);
    steps
        .require(
            "the vote Service answers and every pod reaches its store",
            the_vote_service_answers_and_pods_reach_their_stores(cluster, &client, &vote),
        )
        .await;
    steps
        .run(
            "the Services expose neither readiness nor metrics",
            the_services_expose_neither_readiness_nor_metrics(&client, &vote, &result),
        )
        .await;
    steps
        .run(
            "every Deployment restarted under load loses no vote",
            every_deployment_restarted_under_load_loses_no_vote(cluster, &vote, &result),
        )
        .await;
    steps.finish();
    drop(app);
}

/// What 1.20 cannot take, said plainly (a server dry run of each component).
async fn what_1_20_cannot_take_is_said_plainly(cluster: &Cluster) {
    for component in ["high-availability", "pod-monitor"] {
        let dir = kustomization(component, &[component], false);
        let out = cluster.kubectl_output(&["apply", "--dry-run=server", "-k", &dir]);
        let refused: std::collections::BTreeSet<String> = String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| l.contains("no matches for kind"))
            .map(|l| {
                l.rsplit("no matches for kind")
                    .next()
                    .unwrap_or(l)
                    .trim()
                    .to_owned()
            })
            .collect();
        eprintln!(
            "cluster: k8s/app component {component} on Kubernetes 1.20: kinds missing here: {refused:?}"
        );
        assert!(
            !out.status.success(),
            "{component}: expected 1.20 to lack its kinds"
        );
    }
}

/// Redis with Sentinels and a Postgres standby: kinds 1.20 has.
async fn replicated_data_passes_a_server_dry_run(cluster: &Cluster) {
    let dir = kustomization(
        "replicated",
        &["replicated-data", "network-policies"],
        false,
    );
    let accepted = cluster.run(&["apply", "--dry-run=server", "-k", &dir]);
    eprintln!(
        "cluster: k8s/app component replicated-data on Kubernetes 1.20: {} objects accepted (server dry run)",
        accepted.lines().count()
    );
}

/// The base with the NetworkPolicy and Ingress components, two replicas of
/// each service: every pod Ready.
async fn the_base_comes_up(cluster: &Cluster) {
    let dir = kustomization("cluster", &["network-policies", "ingress"], true);
    cluster.run(&["apply", "-k", &dir]);
    for (name, count) in [
        ("vote", 2),
        ("result", 2),
        ("worker", 2),
        ("redis", 1),
        ("db", 1),
    ] {
        cluster.wait_ready(
            NAMESPACE,
            &format!("app.kubernetes.io/name={name}"),
            count,
            READY,
        );
    }
}

/// `http://<cluster IP>/` of the app's Service `service`.
fn service_url(cluster: &Cluster, service: &str) -> String {
    let ip = cluster.run(&[
        "get",
        "service",
        service,
        "-n",
        NAMESPACE,
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    format!("http://{}/", ip.trim())
}

/// The status a GET of `url` answers, if it answers.
async fn status(client: &reqwest::Client, url: &str) -> Option<u16> {
    Some(client.get(url).send().await.ok()?.status().as_u16())
}

/// The vote Service answers, and every vote pod reaches Redis and every
/// result pod Postgres.
async fn the_vote_service_answers_and_pods_reach_their_stores(
    cluster: &Cluster,
    client: &reqwest::Client,
    vote: &str,
) {
    eventually(READY, "the vote Service to answer", || async {
        (status(client, vote).await? == 200).then_some(())
    })
    .await;
    // Votes only once every vote pod reaches Redis through its Service (and
    // every result pod Postgres): a vote pod is Ready whatever Redis does, and
    // the Redis Service's endpoint reaches kube-proxy's rules a moment after
    // the Redis pod is Ready. Load started in that moment is refused (seen as
    // 13 "Connection refused" 503s in CI, all within 40 ms, before any restart).
    stores_reached(cluster).await;
}

/// The Services for users carry the pages only: readiness and metrics are
/// on each pod's metrics port (9090), which they do not expose.
async fn the_services_expose_neither_readiness_nor_metrics(
    client: &reqwest::Client,
    vote: &str,
    result: &str,
) {
    for service in [vote, result] {
        for path in ["readyz", "metrics"] {
            let url = format!("{service}{path}");
            assert_eq!(status(client, &url).await, Some(404), "{url}");
        }
    }
}

/// vote, result and worker restarted one rollout after another while votes
/// flow: every acknowledged vote stored, at most 1 request in 1,000 failed.
async fn every_deployment_restarted_under_load_loses_no_vote(
    cluster: &Cluster,
    vote: &str,
    result: &str,
) {
    let logs = TestDir::new("app-restarts");
    let first_vote_pods_log = logs.join("first-vote-pods.log");
    let mut follow_first_vote_pods = follow_vote_pods(cluster, &first_vote_pods_log);
    let votes = Load::start(vote, "app", 4);
    restart_each_deployment(cluster, &votes).await;
    let outcome = votes.finish().await;
    let acknowledged = outcome.acknowledged.len() as i64;
    eventually(
        Duration::from_secs(60),
        "every acknowledged vote in result",
        || async {
            let api = get_json(&format!("{result}api/results")).await?;
            (api["total"].as_i64()? >= acknowledged).then_some(())
        },
    )
    .await;
    let stored = stored_votes(cluster, "db-0");
    let lost = outcome.lost(|id| stored.get(id).map(String::as_str));
    eprintln!(
        "cluster: k8s/app: vote, result and worker restarted one after another under load: \
         {acknowledged} votes acknowledged, {} lost; requests that failed (not acknowledged, \
         so free to be lost): {:?}",
        lost.len(),
        outcome.failures
    );
    let _ = follow_first_vote_pods.kill();
    let _ = follow_first_vote_pods.wait();
    if outcome.failed() > 0 {
        print_vote_pods_warnings(cluster, &first_vote_pods_log);
    }
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    // A request on a kept-alive connection at the instant an old pod closes
    // it can fail (the client sees the close, the vote is not acknowledged):
    // allowed, but rare.
    assert!(
        outcome.failed() * 1000 <= outcome.acknowledged.len(),
        "more than 1 in 1,000 requests failed: {:?}",
        outcome.failures
    );
}

/// The first vote pods end in the restarts, and their logs with them:
/// followed into `log` from now on, so that a refusal they answered can be
/// explained (the pods at the end are read after the run).
fn follow_vote_pods(cluster: &Cluster, log: &std::path::Path) -> std::process::Child {
    cluster
        .kubectl()
        .args(["logs", "-f", "-n", NAMESPACE, "--prefix", "--tail=-1"])
        .args(["-l", "app.kubernetes.io/name=vote"])
        .stdout(std::fs::File::create(log).expect("a file for the vote logs"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("kubectl logs -f")
}

/// Votes flow before, then vote, result and worker are restarted one
/// rollout after another, votes flowing after each.
async fn restart_each_deployment(cluster: &Cluster, votes: &Load) {
    votes
        .flowing(100, "before the restarts", || {
            super::failure_report(cluster, NAMESPACE)
        })
        .await;
    for deployment in ["vote", "result", "worker"] {
        let target = format!("deploy/{deployment}");
        cluster.run(&["rollout", "restart", "-n", NAMESPACE, &target]);
        cluster.run(&[
            "rollout",
            "status",
            "-n",
            NAMESPACE,
            &target,
            "--timeout=180s",
        ]);
        votes
            .flowing(100, &format!("after {deployment} restarted"), || {
                super::failure_report(cluster, NAMESPACE)
            })
            .await;
    }
}

/// The warnings and errors of the first vote pods (followed into
/// `first_log`) and of the last ones, to explain failed requests.
fn print_vote_pods_warnings(cluster: &Cluster, first_log: &std::path::Path) {
    // Pods that have ended make kubectl logs exit 1; what it printed is kept.
    let last_vote_pods = cluster.kubectl_output(&[
        "logs",
        "-n",
        NAMESPACE,
        "-l",
        "app.kubernetes.io/name=vote",
        "--prefix",
        "--tail=-1",
    ]);
    let first_vote_pods = std::fs::read(first_log).unwrap_or_default();
    for (pods, text) in [("first", first_vote_pods), ("last", last_vote_pods.stdout)] {
        for line in String::from_utf8_lossy(&text)
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        {
            eprintln!("cluster: k8s/app: {pods} vote pods' log: {line}");
        }
    }
}

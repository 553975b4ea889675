//! The manifests on a real Kubernetes (1.20, from scripts/cluster.sh): every
//! folder of k8s/ through the API server's own validation, and, where the
//! cluster has a node, the workshop's exercises run as a learner runs them.
//!
//! Without a cluster each test says why it was skipped (and fails in CI:
//! harness::skip); scripts/test.sh starts one (the API server always, the
//! node where Docker answers) and runs these tests after the rest of the suite.

mod app;
mod replicated;
mod timeline;

use crate::harness::cluster::{cluster, Cluster};
use crate::harness::compose::{offline_images, repo_root, APP_IMAGES};
use crate::harness::load::Load;
use crate::harness::{eventually, get_json, http_client, page_text, TestDir};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn cluster_or_skip(test: &str) -> Option<Cluster> {
    match cluster() {
        Ok(cluster) => Some(cluster),
        Err(reason) => {
            crate::harness::skip::skip(test, &reason);
            None
        }
    }
}

/// Every folder under k8s/ that holds manifests, as `k8s/ex5/v1`.
fn manifest_folders() -> Vec<PathBuf> {
    fn walk(dir: PathBuf, found: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        if entries
            .iter()
            .any(|p| p.extension().is_some_and(|x| x == "yaml"))
        {
            found.push(dir.clone());
        }
        // k8s/app is a kustomization: the_app_deployment_* tests apply it rendered.
        for sub in entries
            .into_iter()
            .filter(|p| p.is_dir() && !p.ends_with("k8s/app"))
        {
            walk(sub, found);
        }
    }
    let mut found = Vec::new();
    walk(repo_root().join("k8s"), &mut found);
    found
}

/// The namespace the folders' objects live in, created for real so that a
/// server-side dry run of the objects inside it can be checked.
fn workshop_namespace(cluster: &Cluster) {
    let ns = "workshop-day1-solutions";
    if !cluster
        .kubectl_output(&["get", "namespace", ns])
        .status
        .success()
    {
        cluster.run(&["create", "namespace", ns]);
    }
}

#[test]
fn every_k8s_folder_passes_a_real_api_servers_dry_run() {
    let Some(cluster) = cluster_or_skip("every_k8s_folder_passes_a_real_api_servers_dry_run")
    else {
        return;
    };
    workshop_namespace(&cluster);
    let folders = manifest_folders();
    assert!(folders.len() >= 10, "found only {folders:?}");
    for folder in folders {
        let path = folder.to_string_lossy().into_owned();
        let out = cluster.kubectl_output(&["apply", "--dry-run=server", "-f", &path]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{path}: the API server refused it:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("(server dry run)"), "{path}: {stdout}");
        eprintln!(
            "cluster: {path}: {} objects accepted (server dry run)",
            stdout.lines().count()
        );
    }
}

#[test]
fn the_api_server_rejects_what_the_schema_alone_lets_through() {
    let Some(cluster) =
        cluster_or_skip("the_api_server_rejects_what_the_schema_alone_lets_through")
    else {
        return;
    };
    workshop_namespace(&cluster);
    let dir = TestDir::new("k8s-broken");
    let original = std::fs::read_to_string(repo_root().join("k8s/ex4/voting-rs.yaml")).unwrap();
    for (what, broken, expected) in [
        (
            "a selector that does not match the template",
            original.replacen("matchLabels: {app: voter}", "matchLabels: {app: nobody}", 1),
            "does not match template",
        ),
        (
            "negative replicas",
            original.replacen("replicas: 1", "replicas: -1", 1),
            "replicas",
        ),
    ] {
        assert_ne!(
            broken, original,
            "the mutation for {what} found nothing to change"
        );
        let file = dir.join("broken.yaml");
        std::fs::write(&file, broken).unwrap();
        let out =
            cluster.kubectl_output(&["apply", "--dry-run=server", "-f", file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: accepted");
        assert!(stderr.contains(expected), "{what}: {stderr}");
    }
}

const VOTE: &str = "http://127.0.0.1:31000/";
const RESULTS: &str = "http://127.0.0.1:31001/api/results";
const READY: Duration = Duration::from_secs(180);

/// Waits for the result NodePort to show a total of `expected`; on failure
/// says what it showed and what the namespace's pods logged last.
async fn total_reaches(cluster: &Cluster, ns: &str, expected: i64) {
    let shown = std::cell::Cell::new(None);
    let reached = crate::harness::within(Duration::from_secs(60), || async {
        shown.set(get_json(RESULTS).await.and_then(|t| t["total"].as_i64()));
        (shown.get() == Some(expected)).then_some(())
    })
    .await;
    assert!(
        reached.is_some(),
        "the result NodePort shows a total of {:?} after 60s, not {expected}; the pods' last lines:\n{}",
        shown.get(),
        failure_report(cluster, ns)
    );
}

/// For failure messages: the last lines of every container in `ns`, each
/// prefixed with its pod and container, the DNS stand-in's state, and what
/// each pod resolves and reaches.
fn failure_report(cluster: &Cluster, ns: &str) -> String {
    let pods = cluster.kubectl_output(&["get", "pods", "-n", ns, "-o", "name"]);
    let mut logs = String::new();
    for pod in String::from_utf8_lossy(&pods.stdout).lines() {
        let out = cluster.kubectl_output(&[
            "logs",
            "-n",
            ns,
            pod,
            "--all-containers",
            "--prefix",
            "--tail=25",
        ]);
        logs.push_str(&String::from_utf8_lossy(&out.stdout));
        logs.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    format!(
        "{logs}{}\n{}",
        cluster.dns_state(ns),
        cluster.network_state(ns)
    )
}

/// Waits (30 s at most) until the vote NodePort's page offers `a` and `b`:
/// old pods drain for a few seconds after a rollout is reported done, until
/// kube-proxy drops them; each poll is a new connection.
async fn vote_page_offers(a: &str, b: &str) {
    eventually(
        Duration::from_secs(30),
        &format!("the vote page to offer {a} vs {b}"),
        || async {
            let page = page_text(VOTE).await;
            (page.contains(a) && page.contains(b)).then_some(())
        },
    )
    .await;
}

/// Waits until both NodePorts answer (kube-proxy has the endpoints) and every
/// vote and result pod reaches its dependency (`/readyz` on the pod's own
/// address reports Redis or Postgres "ok": the DNS stand-in has the Services).
async fn node_ports_answer(cluster: &Cluster, ns: &str) {
    for url in [VOTE, "http://127.0.0.1:31001/"] {
        eventually(
            Duration::from_secs(60),
            &format!("{url} to answer"),
            || async {
                let res = http_client(false).get(url).send().await.ok()?;
                (res.status() == 200).then_some(())
            },
        )
        .await;
    }
    pods_reach(
        cluster,
        ns,
        80,
        &[("app=voter", "redis"), ("app=results", "postgres")],
    )
    .await;
}

/// Waits until every pod matching each selector reports its dependency "ok"
/// on `/readyz` at the pod's own address and `port`: the pod resolves the
/// dependency's Service and kube-proxy routes it to a ready endpoint. A pod's
/// readiness says nothing of this (by design it ignores shared dependencies),
/// and a Service's endpoints reach kube-proxy's rules a moment after the
/// dependency's pod is Ready; until then a vote is refused ("Connection
/// refused": the rule that rejects traffic to a Service with no endpoint).
async fn pods_reach(cluster: &Cluster, ns: &str, port: u16, pods: &[(&str, &str)]) {
    for &(selector, dependency) in pods {
        for ip in pod_field(cluster, ns, selector, "status.podIP") {
            let url = format!("http://{ip}:{port}/readyz");
            // The last answer goes into the failure: it says why not.
            let last = std::sync::Mutex::new(None);
            let reached = crate::harness::within(Duration::from_secs(60), || async {
                let body = get_json(&url).await?;
                let ok = body["dependencies"][dependency] == "ok";
                *last.lock().unwrap() = Some(body);
                ok.then_some(())
            })
            .await;
            assert!(
                reached.is_some(),
                "timed out after 60s waiting for {url} to report {dependency} ok; last answer: {:?}",
                last.lock().unwrap()
            );
        }
    }
}

/// Casts one vote per new voter through the vote NodePort, each on a new
/// connection; all must be acknowledged. Returns the vote pods that answered.
async fn cast_all(cluster: &Cluster, ns: &str, prefix: &str, count: usize) -> HashSet<String> {
    node_ports_answer(cluster, ns).await;
    let mut served_by = HashSet::new();
    for i in 0..count {
        // A new connection each time, so that the Service spreads them.
        let res = http_client(false)
            .post(VOTE)
            .header("cookie", format!("voter_id={prefix}-{i}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("vote=a")
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {VOTE}: {e}"));
        assert_eq!(res.status(), 200);
        let page = res.text().await.unwrap();
        if let Some(host) = page.split("container ID").nth(1) {
            served_by.insert(host.split('<').next().unwrap_or_default().trim().to_owned());
        }
    }
    served_by
}

/// One field of every pod matching `selector`, e.g. `metadata.name`.
fn pod_field(cluster: &Cluster, ns: &str, selector: &str, field: &str) -> Vec<String> {
    let jsonpath = format!("jsonpath={{.items[*].{field}}}");
    cluster
        .run(&["get", "pods", "-n", ns, "-l", selector, "-o", &jsonpath])
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// A namespace for one exercise, deleted (with everything in it) when dropped.
struct Exercise<'a> {
    cluster: &'a Cluster,
    ns: String,
}

impl<'a> Exercise<'a> {
    fn new(cluster: &'a Cluster, ns: &str) -> Self {
        cluster.delete_namespace(ns);
        Self {
            cluster,
            ns: ns.to_owned(),
        }
    }

    /// A new namespace `ns` with the workshop's `folder` applied to it.
    fn applied(cluster: &'a Cluster, ns: &str, folder: &str, work: &std::path::Path) -> Self {
        let ex = Self::new(cluster, ns);
        cluster.apply_exercise(folder, &ex.ns, work);
        ex
    }
}

impl Drop for Exercise<'_> {
    /// The namespace goes while the next exercise runs (its pods may take
    /// their grace period to stop); the workshop test waits for all of
    /// them at its end.
    fn drop(&mut self) {
        self.cluster.delete_namespace_in_background(&self.ns);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_workshop_runs_on_a_real_cluster() {
    let Some(cluster) = cluster_or_skip("the_workshop_runs_on_a_real_cluster") else {
        return;
    };
    if let Some(reason) = cluster.node_unavailable() {
        crate::harness::skip::skip("the_workshop_runs_on_a_real_cluster", &reason);
        return;
    }
    let work = TestDir::new("workshop");
    images_on_the_node();
    let (cluster, work) = (&cluster, work.path.as_path());
    let mut steps = crate::harness::steps::Steps::new("workshop");
    steps.run("ex1", ex1_one_pod(cluster, work)).await;
    steps
        .run("ex3", ex3_votes_cross_node_ports(cluster, work))
        .await;
    steps
        .run("ex4", ex4_replica_set_replaces_a_pod(cluster, work))
        .await;
    steps
        .run("ex5", ex5_new_template_spares_pods(cluster, work))
        .await;
    steps.run("ex6", ex6(cluster, work)).await;
    steps
        .run("ex7", ex7_volume_keeps_the_votes(cluster, work))
        .await;
    steps.run("ex8", ex8(cluster, work)).await;
    let namespaces = cluster.run(&["get", "namespaces", "-o", "name"]);
    for ns in namespaces
        .lines()
        .filter_map(|n| n.strip_prefix("namespace/"))
        .filter(|n| n.starts_with("wk-"))
    {
        cluster.delete_namespace(ns);
    }
    steps.finish();
}

/// Every image the workshop runs is on the node: it can pull nothing.
fn images_on_the_node() {
    for image in APP_IMAGES
        .iter()
        .map(|i| i.to_string())
        .chain(offline_images())
    {
        let present = crate::harness::compose::docker_output(&["image", "inspect", &image]);
        assert!(
            present.status.success(),
            "{image} is missing: the node can pull nothing; build it with \
             ./scripts/offline-images.sh and ./scripts/build-images.sh --offline"
        );
    }
}

/// ex1: one Pod.
async fn ex1_one_pod(cluster: &Cluster, work: &Path) {
    let ex = Exercise::applied(cluster, "wk-ex1", "ex1", work);
    cluster.wait_ready(&ex.ns, "app=redis", 1, READY);
    eprintln!("cluster: ex1: pod redis Running and Ready");
}

/// ex3: two Pods and three Services; a vote through one NodePort shows on the other.
async fn ex3_votes_cross_node_ports(cluster: &Cluster, work: &Path) {
    let ex = Exercise::applied(cluster, "wk-ex3", "ex3", work);
    cluster.wait_ready(&ex.ns, "app=voter", 1, READY);
    cluster.wait_ready(&ex.ns, "app=results", 1, READY);
    cast_all(cluster, &ex.ns, "ex3", 3).await;
    total_reaches(cluster, &ex.ns, 3).await;
    eprintln!("cluster: ex3: 3 votes through NodePort 31000 shown on NodePort 31001");
}

/// ex4: a ReplicaSet replaces a deleted pod.
async fn ex4_replica_set_replaces_a_pod(cluster: &Cluster, work: &Path) {
    let ex = Exercise::applied(cluster, "wk-ex4", "ex4", work);
    let before = cluster.wait_ready(&ex.ns, "app=voter", 1, READY);
    cluster.run(&["delete", "pod", "-n", &ex.ns, &before[0], "--wait=false"]);
    let after = cluster.wait_ready(&ex.ns, "app=voter", 1, READY);
    assert_ne!(before, after, "the ReplicaSet did not replace the pod");
    eprintln!(
        "cluster: ex4: deleted {}, the ReplicaSet started {}",
        before[0], after[0]
    );
}

/// ex5: a ReplicaSet's new template does not touch running pods; votes never fail.
async fn ex5_new_template_spares_pods(cluster: &Cluster, work: &Path) {
    let ex = Exercise::applied(cluster, "wk-ex5", "ex5/v1", work);
    let v1 = cluster.wait_ready(&ex.ns, "app=voter", 1, READY);
    cluster.wait_ready(&ex.ns, "app=results", 1, READY);
    node_ports_answer(cluster, &ex.ns).await;
    let votes = Load::start(VOTE, "ex5", 2);
    votes
        .flowing(50, "before v2", || failure_report(cluster, &ex.ns))
        .await;
    cluster.apply_exercise("ex5/v2", &ex.ns, work);
    votes
        .flowing(100, "after v2", || failure_report(cluster, &ex.ns))
        .await;
    let outcome = votes.finish().await;
    assert_eq!(
        pod_field(cluster, &ex.ns, "app=voter", "metadata.name"),
        v1,
        "a ReplicaSet replaced its pod"
    );
    assert_eq!(
        outcome.failed(),
        0,
        "votes failed while v2 was applied: {:?}",
        outcome.failures
    );
    eprintln!(
        "cluster: ex5: v2 applied, pods untouched, {} votes, 0 failed",
        outcome.acknowledged.len()
    );
}

/// ex6: Deployments roll v1 -> v2 while votes flow; then the data tier apart.
async fn ex6(cluster: &Cluster, work: &Path) {
    let ex = Exercise::applied(cluster, "wk-ex6", "ex6/v1", work);
    ex6_rolling_update_fails_no_vote(cluster, &ex.ns, work).await;
    ex6_result_stays_without_redis(cluster, &ex.ns).await;
    ex6_data_tier_counts_every_replica(cluster, &ex.ns, work).await;
}

/// ex6/v1 rolled to ex6/v2 while votes flow: none fails.
async fn ex6_rolling_update_fails_no_vote(cluster: &Cluster, ns: &str, work: &Path) {
    cluster.wait_ready(ns, "app=voter", 1, READY);
    cluster.wait_ready(ns, "app=results", 1, READY);
    node_ports_answer(cluster, ns).await;
    let votes = Load::start(VOTE, "ex6", 2);
    votes
        .flowing(50, "before the rolling update", || {
            failure_report(cluster, ns)
        })
        .await;
    cluster.apply_exercise("ex6/v2", ns, work);
    for deploy in ["deploy/voter", "deploy/voting-result"] {
        cluster.run(&["rollout", "status", "-n", ns, deploy, "--timeout=180s"]);
    }
    votes
        .flowing(50, "after the rolling update", || {
            failure_report(cluster, ns)
        })
        .await;
    let outcome = votes.finish().await;
    eprintln!(
        "cluster: ex6: v1 -> v2 rolled with {} votes acknowledged, failed: {:?}",
        outcome.acknowledged.len(),
        outcome.failures
    );
    assert_eq!(
        outcome.failed(),
        0,
        "votes failed during the rolling update"
    );
    vote_page_offers("Java", ".NET").await;
}

/// The Redis side gone (voter holds Redis up to v2): the result pod, which
/// shares its pod with the worker, stays in its Service.
async fn ex6_result_stays_without_redis(cluster: &Cluster, ns: &str) {
    cluster.run(&["scale", "-n", ns, "deploy/voter", "--replicas=0"]);
    cluster.wait_ready(ns, "app=voter", 0, READY);
    // Letting time pass on purpose, to show that something does not
    // happen: two readiness periods (5 s each) of the result pod
    // with Redis gone, then it must still be in its Service.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let endpoints = cluster.run(&[
        "get",
        "endpoints",
        "result",
        "-n",
        ns,
        "-o",
        "jsonpath={.subsets[*].addresses[*].ip}",
    ]);
    assert!(
        !endpoints.trim().is_empty(),
        "result left its Service when Redis went"
    );
    let tally = get_json(RESULTS)
        .await
        .expect("the result NodePort answers without Redis");
    assert!(
        tally["total"].as_i64().unwrap() > 0,
        "{tally}; the pods' last lines:\n{}",
        failure_report(cluster, ns)
    );
    eprintln!("cluster: ex6: Redis side scaled to 0, result still in its Service ({endpoints})");
    cluster.run(&["scale", "-n", ns, "deploy/voter", "--replicas=1"]);
}

/// ex6 whole: the data tier apart, two replicas of each; 40 votes spread
/// over the vote replicas are all counted.
async fn ex6_data_tier_counts_every_replica(cluster: &Cluster, ns: &str, work: &Path) {
    cluster.apply_exercise("ex6", ns, work);
    cluster.wait_ready(ns, "app=data-pipeline", 1, READY);
    cluster.wait_ready(ns, "app=voter", 2, READY);
    cluster.wait_ready(ns, "app=results", 2, READY);
    // The data tier is new: its database starts empty.
    node_ports_answer(cluster, ns).await;
    total_reaches(cluster, ns, 0).await;
    let served_by = cast_all(cluster, ns, "ex6final", 40).await;
    total_reaches(cluster, ns, 40).await;
    assert!(
        served_by.len() >= 2,
        "one vote replica answered everything: {served_by:?}"
    );
    eprintln!(
        "cluster: ex6: 40 votes over {} vote replicas all counted",
        served_by.len()
    );
}

/// ex7: the database pod deleted; the StatefulSet's volume keeps the votes.
async fn ex7_volume_keeps_the_votes(cluster: &Cluster, work: &Path) {
    let ex = Exercise::applied(cluster, "wk-ex7", "ex7", work);
    cluster.wait_ready(&ex.ns, "app=data-pipeline", 1, READY);
    cluster.wait_ready(&ex.ns, "app=voter", 2, READY);
    cluster.wait_ready(&ex.ns, "app=results", 2, READY);
    cast_all(cluster, &ex.ns, "ex7", 10).await;
    total_reaches(cluster, &ex.ns, 10).await;
    cluster.run(&["delete", "pod", "-n", &ex.ns, "data-pipeline-0"]);
    cluster.wait_ready(&ex.ns, "app=data-pipeline", 1, READY);
    total_reaches(cluster, &ex.ns, 10).await;
    eprintln!("cluster: ex7: data-pipeline-0 deleted and back, 10 votes kept");
}

/// ex8: the seed Job, and a ConfigMap change reaching the pods.
async fn ex8(cluster: &Cluster, work: &Path) {
    let ex = Exercise::new(cluster, "wk-ex8");
    ex8_seed_job_survives_a_failed_attempt(cluster, &ex.ns, work).await;
    ex8_seed_counted_exactly_once(cluster, &ex.ns).await;
    ex8_config_map_change_shown_after_a_restart(cluster, &ex.ns).await;
}

/// A forced failed attempt: with no vote pod yet, seed's first attempt
/// waits for vote to take a vote; its container is killed there (exit 137,
/// as when a node loses the pod), the Job counts a failure and runs seed
/// again once the vote pods are back, and completes.
async fn ex8_seed_job_survives_a_failed_attempt(cluster: &Cluster, ns: &str, work: &Path) {
    cluster.apply_exercise_scaled("ex8", ns, work, &[("voter", 0)]);
    let namespace = format!("label=io.kubernetes.pod.namespace={ns}");
    let first_attempt = eventually(
        Duration::from_secs(90),
        "seed's first attempt to run",
        || async {
            let ids = crate::harness::compose::docker(&[
                "ps",
                "-q",
                "--filter",
                &namespace,
                "--filter",
                "label=io.kubernetes.container.name=seed",
            ]);
            ids.lines().next().map(str::to_owned)
        },
    )
    .await;
    crate::harness::compose::docker(&["kill", &first_attempt]);
    eventually(
        Duration::from_secs(60),
        "the Job to count the failed attempt",
        || async {
            let failed = seed_failures(cluster, ns);
            (failed.trim().parse::<u32>().ok()? >= 1).then_some(())
        },
    )
    .await;
    cluster.run(&["scale", "-n", ns, "deploy/voter", "--replicas=2"]);
    cluster.run(&[
        "wait",
        "-n",
        ns,
        "--for=condition=complete",
        "job/seed",
        "--timeout=240s",
    ]);
    node_ports_answer(cluster, ns).await;
}

/// The seed Job's failed attempts so far (`.status.failed`, as kubectl prints it).
fn seed_failures(cluster: &Cluster, ns: &str) -> String {
    cluster.run(&[
        "get",
        "job",
        "seed",
        "-n",
        ns,
        "-o",
        "jsonpath={.status.failed}",
    ])
}

/// seed waits for a vote to be taken, and a failed attempt is run again
/// with the same voters (their ids come from the Job's uid), so the tally
/// is exactly 3,000 however many attempts it took.
async fn ex8_seed_counted_exactly_once(cluster: &Cluster, ns: &str) {
    let succeeded = cluster.run(&[
        "get",
        "pods",
        "-n",
        ns,
        "-l",
        "job-name=seed",
        "--field-selector=status.phase=Succeeded",
        "-o",
        "name",
    ]);
    let pod = succeeded.lines().next().expect("a seed pod that succeeded");
    let logs = cluster.run(&["logs", "-n", ns, pod]);
    assert!(
        logs.contains("ok           3000") && logs.contains("errors       0"),
        "{logs}"
    );
    let total = eventually(
        Duration::from_secs(60),
        "the seed's votes in the tally",
        || async {
            let total = get_json(RESULTS).await.and_then(|t| t["total"].as_i64())?;
            (total >= 3000).then_some(total)
        },
    )
    .await;
    let attempts = seed_failures(cluster, ns);
    assert_eq!(
        total, 3000,
        "the Job's voters counted once each (failed attempts: {attempts:?})"
    );
    eprintln!("cluster: ex8: {attempts} failed seed attempt(s), then a tally of exactly 3,000");
}

/// The poll's ConfigMap changed: the vote page shows it once the pods restart.
async fn ex8_config_map_change_shown_after_a_restart(cluster: &Cluster, ns: &str) {
    let page = page_text("http://127.0.0.1:31000/").await;
    assert!(page.contains("Tabs") && page.contains("Spaces"), "{page}");
    cluster.run(&[
        "patch",
        "configmap",
        "poll",
        "-n",
        ns,
        "--type",
        "merge",
        "-p",
        r#"{"data":{"option-a":"Vim","option-b":"Emacs"}}"#,
    ]);
    cluster.run(&[
        "rollout",
        "restart",
        "-n",
        ns,
        "deploy/voter",
        "deploy/voting-result",
    ]);
    for deploy in ["deploy/voter", "deploy/voting-result"] {
        cluster.run(&["rollout", "status", "-n", ns, deploy, "--timeout=180s"]);
    }
    vote_page_offers("Vim", "Emacs").await;
    eprintln!(
        "cluster: ex8: seed Job complete (3,000 votes), ConfigMap change shown after a restart"
    );
}

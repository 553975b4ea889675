//! k8s/app, the reference deployment, as kustomize renders it: the
//! NetworkPolicies' intent (which pod may open which port on which other),
//! computed from the policies themselves since the test cluster's network
//! does not enforce them; no credential in any workload; and what the
//! managed-data component takes away and adds; with high availability, who
//! sets each Deployment's scale and which pods each spreads against.

use crate::harness::compose::repo_root;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// `kubectl kustomize` of a kustomization written into `target/` (so that it
/// may refer to k8s/app by a relative path) with these components.
pub fn render(name: &str, components: &[&str]) -> Vec<Value> {
    let dir = repo_root().join("target/k8s-app-tests").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let components: Vec<String> = components
        .iter()
        .map(|c| format!("  - ../../../k8s/app/components/{c}"))
        .collect();
    std::fs::write(
        dir.join("kustomization.yaml"),
        format!(
            "resources:\n  - ../../../k8s/app/base\ncomponents:\n{}\n",
            components.join("\n")
        ),
    )
    .unwrap();
    render_dir(&dir)
}

fn render_dir(dir: &Path) -> Vec<Value> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("run kubectl kustomize (kubectl is needed for the k8s/app tests)");
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .collect()
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

/// Who may open a connection: one of the app's pods, a client from outside
/// the cluster, or Prometheus in the namespace `monitoring`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Peer {
    Pod(&'static str),
    Internet,
    Monitoring,
}

const PODS: [&str; 5] = ["vote", "result", "worker", "redis", "db"];
const PORTS: [i64; 11] = [
    8080, 9090, 8082, 6379, 26379, 5432, 8008, 443, 6443, 9121, 9187,
];

fn selects(selector: &Value, labels: &serde_json::Map<String, Value>) -> bool {
    let by_label = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_expression = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            let value = labels.get(e["key"].as_str().unwrap());
            match e["operator"].as_str().unwrap() {
                "In" => value.is_some_and(|v| e["values"].as_array().unwrap().contains(v)),
                "Exists" => value.is_some(),
                other => panic!("selector operator {other} not modelled"),
            }
        });
    by_label && by_expression
}

fn pod_labels(name: &str) -> serde_json::Map<String, Value> {
    serde_json::json!({ "app.kubernetes.io/name": name })
        .as_object()
        .unwrap()
        .clone()
}

/// Whether a `from`/`to` peer of a policy rule matches `peer`.
fn peer_matches(rule_peer: &Value, peer: Peer) -> bool {
    let namespace = rule_peer.get("namespaceSelector");
    let pods = rule_peer.get("podSelector");
    match peer {
        Peer::Pod(name) => {
            namespace.is_none() && pods.is_some_and(|s| selects(s, &pod_labels(name)))
        }
        Peer::Monitoring => namespace.is_some_and(|s| {
            let ns = serde_json::json!({ "kubernetes.io/metadata.name": "monitoring" });
            selects(s, ns.as_object().unwrap())
        }),
        Peer::Internet => rule_peer.get("ipBlock").is_some(),
    }
}

/// Whether one rule (`ingress[i]` with `from`, or `egress[i]` with `to`)
/// lets `peer` through on `port`.
fn rule_allows(rule: &Value, peers_key: &str, peer: Peer, port: i64) -> bool {
    let port_ok = match rule["ports"].as_array() {
        None => true,
        Some(ports) => ports.iter().any(|p| p["port"].as_i64() == Some(port)),
    };
    let peer_ok = match rule[peers_key].as_array() {
        None => true,
        Some(peers) => peers.iter().any(|p| peer_matches(p, peer)),
    };
    port_ok && peer_ok
}

/// Whether the policies let `from` open `port` on `to` (pods isolated by a
/// policy of that direction allow only what some such policy allows).
fn allowed(policies: &[&Value], from: Peer, to: Peer, port: i64) -> bool {
    let direction = |pod: &'static str, kind: &str, rules_key: &str, other: Peer| {
        let applying: Vec<&&Value> = policies
            .iter()
            .filter(|p| selects(&p["spec"]["podSelector"], &pod_labels(pod)))
            .filter(|p| {
                p["spec"]["policyTypes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t == kind)
            })
            .collect();
        let peers_key = if kind == "Ingress" { "from" } else { "to" };
        applying.is_empty()
            || applying.iter().any(|p| {
                p["spec"][rules_key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|rule| rule_allows(rule, peers_key, other, port))
            })
    };
    let egress_ok = match from {
        Peer::Pod(pod) => direction(pod, "Egress", "egress", to),
        _ => true,
    };
    let ingress_ok = match to {
        Peer::Pod(pod) => direction(pod, "Ingress", "ingress", from),
        _ => true,
    };
    egress_ok && ingress_ok
}

/// Every (from, to, port) the policies allow, among the app's pods and the
/// peers outside it.
fn allowed_paths(objects: &[Value]) -> BTreeSet<(Peer, Peer, i64)> {
    let policies = of_kind(objects, "NetworkPolicy");
    let sources = PODS
        .iter()
        .map(|p| Peer::Pod(p))
        .chain([Peer::Internet, Peer::Monitoring]);
    let mut paths = BTreeSet::new();
    for from in sources {
        for to in PODS.iter().map(|p| Peer::Pod(p)).chain([Peer::Internet]) {
            for port in PORTS {
                let touches_a_pod = matches!(from, Peer::Pod(_)) || matches!(to, Peer::Pod(_));
                if from != to && touches_a_pod && allowed(&policies, from, to, port) {
                    paths.insert((from, to, port));
                }
            }
        }
    }
    paths
}

fn app_paths() -> BTreeSet<(Peer, Peer, i64)> {
    use Peer::*;
    [
        // Visitors reach the pages (so may Prometheus, as anyone may)...
        (Internet, Pod("vote"), 8080),
        (Monitoring, Pod("vote"), 8080),
        (Internet, Pod("result"), 8080),
        (Monitoring, Pod("result"), 8080),
        // ...and only Prometheus the metrics ports.
        (Monitoring, Pod("vote"), 9090),
        (Monitoring, Pod("result"), 9090),
        (Monitoring, Pod("worker"), 8082),
        // The exporters that components/observability runs beside Redis and
        // Postgres (the standby's pod has none).
        (Monitoring, Pod("redis"), 9121),
        (Monitoring, Pod("db"), 9187),
        (Pod("vote"), Pod("redis"), 6379),
        (Pod("worker"), Pod("redis"), 6379),
        (Pod("worker"), Pod("db"), 5432),
        (Pod("result"), Pod("db"), 5432),
        // With components/replicated-data: the Sentinels; Patroni to the
        // API server (the db pods to each other: checked with replicated-data).
        (Pod("vote"), Pod("redis"), 26379),
        (Pod("worker"), Pod("redis"), 26379),
        (Pod("db"), Internet, 443),
        (Pod("db"), Internet, 6443),
    ]
    .into_iter()
    .collect()
}

/// Every object of the base, of each component with it, and of the
/// production overlay carries `app.kubernetes.io/part-of: votingapp`.
#[test]
fn every_object_of_every_component_is_labelled_part_of_the_app() {
    let mut renders = vec![
        ("base".to_owned(), render_dir(&repo_root().join("k8s/app"))),
        (
            "production".to_owned(),
            render_dir(&repo_root().join("k8s/app/overlays/production")),
        ),
    ];
    let components = std::fs::read_dir(repo_root().join("k8s/app/components")).unwrap();
    for component in components {
        let name = component
            .unwrap()
            .file_name()
            .to_string_lossy()
            .into_owned();
        // single-node only changes what replicated-data adds.
        let with: &[&str] = match name.as_str() {
            "single-node" => &["replicated-data", "single-node"],
            name => &[name],
        };
        renders.push((name.clone(), render(&format!("part-of-{name}"), with)));
    }
    assert!(
        renders.len() >= 8,
        "the base, production and 6 components or more"
    );
    for (render, objects) in &renders {
        let unlabelled: Vec<String> = objects
            .iter()
            .filter(|o| o["metadata"]["labels"]["app.kubernetes.io/part-of"] != "votingapp")
            .map(|o| format!("{} {}", o["kind"], name_of(o)))
            .collect();
        assert!(
            unlabelled.is_empty(),
            "{render}: objects without app.kubernetes.io/part-of=votingapp: {unlabelled:?}"
        );
    }
}

/// The workspace's version, which every crate inherits (Cargo.toml).
fn crate_version() -> String {
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    manifest
        .split("[workspace.package]")
        .nth(1)
        .and_then(|table| table.lines().find_map(|l| l.strip_prefix("version = ")))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .expect("a version in Cargo.toml's [workspace.package]")
}

/// The production overlay runs images tagged with the crate version, tags
/// that scripts/build-images.sh builds, and the bake file's VERSION is the
/// crate version; the base keeps the workshop's names.
#[test]
fn the_production_overlay_pins_images_built_with_the_crate_version() {
    let version = crate_version();
    let listed = Command::new(repo_root().join("scripts/build-images.sh"))
        .arg("--list")
        .output()
        .expect("run build-images.sh --list");
    assert!(listed.status.success(), "{listed:?}");
    let built: BTreeSet<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(String::from)
        .collect();
    let images = |objects: &[Value]| -> BTreeSet<String> {
        objects
            .iter()
            .filter(|o| o["kind"] == "Deployment" || o["kind"] == "StatefulSet")
            .flat_map(|o| {
                o["spec"]["template"]["spec"]["containers"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|c| c["image"].as_str().map(String::from))
            .filter(|i| i.starts_with("localhost/votingapp/"))
            .collect()
    };
    let production = images(&render_dir(
        &repo_root().join("k8s/app/overlays/production"),
    ));
    assert_eq!(production.len(), 3, "{production:?}");
    for image in &production {
        let tag = image.rsplit(':').next().unwrap_or_default();
        assert!(
            tag == version || tag.starts_with(&format!("{version}-")),
            "{image} is not pinned to the crate version {version}"
        );
        assert!(
            built.contains(image),
            "{image} is not among the tags build-images.sh makes: {built:?}"
        );
    }
    let base = images(&render_dir(&repo_root().join("k8s/app")));
    assert!(base.contains("localhost/votingapp/vote:after"), "{base:?}");

    let bake = std::fs::read_to_string(repo_root().join("docker-bake.hcl")).unwrap();
    let default = bake
        .split("variable \"VERSION\"")
        .nth(1)
        .and_then(|rest| rest.split('"').nth(1))
        .expect("docker-bake.hcl's VERSION default");
    assert_eq!(default, version, "docker-bake.hcl's VERSION default");
}

#[test]
fn the_network_policies_allow_exactly_the_apps_own_paths() {
    let plain = render("network-policies", &["network-policies"]);
    assert_eq!(allowed_paths(&plain), app_paths());

    // The production overlay's other components open no path.
    let production = render_dir(&repo_root().join("k8s/app/overlays/production"));
    assert_eq!(allowed_paths(&production), app_paths());

    // Without the component, nothing is isolated: every path is open (so the
    // check above is not vacuous).
    let base = render_dir(&repo_root().join("k8s/app"));
    assert!(allowed_paths(&base).contains(&(Peer::Pod("vote"), Peer::Pod("db"), 5432)));
}

/// The Service for users (and the Ingress behind it) exposes vote's and
/// result's pages only; the probes and Prometheus use the metrics port; and
/// each pod is scraped one way: annotations in the base, the PodMonitor (and
/// no annotation) with the component.
#[test]
fn visitors_reach_the_pages_only_and_each_pod_is_scraped_one_way() {
    let base = render_dir(&repo_root().join("k8s/app"));
    let production = render_dir(&repo_root().join("k8s/app/overlays/production"));
    for service in of_kind(&production, "Service") {
        if ["vote", "result"].contains(&name_of(service)) {
            for port in service["spec"]["ports"].as_array().unwrap() {
                assert_eq!(port["targetPort"], "http", "{}: {port}", name_of(service));
            }
        }
    }
    for rule in of_kind(&production, "Ingress")[0]["spec"]["rules"]
        .as_array()
        .unwrap()
    {
        for path in rule["http"]["paths"].as_array().unwrap() {
            assert_eq!(path["backend"]["service"]["port"]["name"], "http", "{rule}");
        }
    }
    assert_eq!(of_kind(&production, "PodMonitor").len(), 2);
    assert!(of_kind(&base, "PodMonitor").is_empty());
    for (objects, annotated) in [(&base, true), (&production, false)] {
        for deployment in of_kind(objects, "Deployment") {
            let name = name_of(deployment);
            let pod = &deployment["spec"]["template"];
            let container = &pod["spec"]["containers"][0];
            let metrics_port = container["ports"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == "metrics")
                .unwrap_or_else(|| panic!("{name} has no port named metrics"))["containerPort"]
                .as_i64()
                .unwrap();
            let annotation = &pod["metadata"]["annotations"]["prometheus.io/port"];
            if annotated {
                assert_eq!(annotation, &Value::from(metrics_port.to_string()), "{name}");
            } else {
                assert!(
                    annotation.is_null(),
                    "{name} is annotated and in the PodMonitor"
                );
            }
            for probe in ["readinessProbe", "livenessProbe"] {
                let port = &container[probe]["httpGet"]["port"];
                assert!(
                    port.is_null() || port == "metrics",
                    "{name} {probe} on {port}"
                );
            }
            if name != "worker" {
                let env = container["env"].as_array().unwrap();
                let set = env.iter().find(|e| e["name"] == "METRICS_PORT").unwrap();
                assert_eq!(set["value"], metrics_port.to_string(), "{name}");
            }
        }
    }
}

#[test]
fn no_workload_carries_a_credential_and_every_container_has_requests_and_limits() {
    let production = render_dir(&repo_root().join("k8s/app/overlays/production"));
    let secret_keys: BTreeSet<String> = of_kind(&production, "Secret")
        .iter()
        .flat_map(|s| s["data"].as_object().unwrap().keys().cloned())
        .collect();
    let mut workloads = of_kind(&production, "Deployment");
    workloads.extend(of_kind(&production, "StatefulSet"));
    assert_eq!(workloads.len(), 5);
    for workload in workloads {
        let name = workload["metadata"]["name"].as_str().unwrap();
        for container in workload["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
        {
            for env in container["env"].as_array().into_iter().flatten() {
                let var = env["name"].as_str().unwrap();
                if let Some(value) = env["value"].as_str() {
                    assert!(
                        !value.contains('@') && !var.contains("PASSWORD") && !var.ends_with("_URL"),
                        "{name}: {var} is set in the manifest: {value}"
                    );
                }
                let reference = &env["valueFrom"]["secretKeyRef"];
                // An optional key (the exporter's Redis password, there
                // only with replicated-data) may be absent by design.
                if let Some(key) = reference["key"]
                    .as_str()
                    .filter(|_| reference["optional"] != true)
                {
                    assert!(
                        secret_keys.contains(key),
                        "{name}: {var} from missing key {key}"
                    );
                }
            }
            for kind in ["requests", "limits"] {
                for resource in ["cpu", "memory"] {
                    assert!(
                        container["resources"][kind][resource].is_string(),
                        "{name}: no {kind}.{resource}"
                    );
                }
            }
            assert_eq!(
                container["securityContext"]["readOnlyRootFilesystem"], true,
                "{name}"
            );
        }
    }
    let hpas = of_kind(&production, "HorizontalPodAutoscaler");
    let pdbs = of_kind(&production, "PodDisruptionBudget");
    assert_eq!((hpas.len(), pdbs.len()), (2, 3));
    for deployment in of_kind(&production, "Deployment") {
        let floor = deployment["spec"]["replicas"]
            .as_i64()
            .or_else(|| hpa_floor(&production, deployment));
        assert!(floor.is_some_and(|n| n >= 2), "{deployment}");
    }
}

/// A key of the rendered Secret `data-credentials`, decoded.
fn secret_value(objects: &[Value], key: &str) -> String {
    use base64::Engine as _;
    let raw: String = of_kind(objects, "Secret")[0]["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("the Secret has no {key}"))
        .split_whitespace()
        .collect();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .unwrap(),
    )
    .unwrap()
}

fn name_of(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap()
}

/// The `minReplicas` of the HorizontalPodAutoscaler scaling `deployment`, if any.
fn hpa_floor(objects: &[Value], deployment: &Value) -> Option<i64> {
    of_kind(objects, "HorizontalPodAutoscaler")
        .into_iter()
        .find(|h| h["spec"]["scaleTargetRef"]["name"].as_str() == Some(name_of(deployment)))
        .and_then(|h| h["spec"]["minReplicas"].as_i64())
}

#[test]
fn with_high_availability_the_autoscalers_alone_set_the_scale_of_what_they_scale() {
    let base = render_dir(&repo_root().join("k8s/app"));
    for deployment in of_kind(&base, "Deployment") {
        assert_eq!(
            deployment["spec"]["replicas"],
            1,
            "base: {} keeps its own count",
            name_of(deployment)
        );
    }
    let ha = render("high-availability", &["high-availability"]);
    let mut scaled = BTreeSet::new();
    for deployment in of_kind(&ha, "Deployment") {
        let name = name_of(deployment);
        match hpa_floor(&ha, deployment) {
            Some(floor) => {
                assert!(floor >= 2, "{name}: minReplicas {floor}");
                assert!(
                    deployment["spec"].get("replicas").is_none(),
                    "{name}: an HPA scales it, yet the manifest sets replicas, \
                     which every apply would reset"
                );
                scaled.insert(name);
            }
            None => assert_eq!(deployment["spec"]["replicas"], 2, "{name}"),
        }
    }
    assert_eq!(scaled, BTreeSet::from(["result", "vote"]));
}

#[test]
fn each_workload_spreads_against_its_own_pods_only() {
    let ha = render("high-availability", &["high-availability"]);
    let mut workloads = of_kind(&ha, "Deployment");
    workloads.extend(of_kind(&ha, "StatefulSet"));
    let labels = |w: &Value| {
        w["spec"]["template"]["metadata"]["labels"]
            .as_object()
            .unwrap()
            .clone()
    };
    let mut spread = BTreeSet::new();
    for workload in &workloads {
        let constraints = &workload["spec"]["template"]["spec"]["topologySpreadConstraints"];
        for constraint in constraints.as_array().into_iter().flatten() {
            let selector = &constraint["labelSelector"];
            let matched: BTreeSet<&str> = workloads
                .iter()
                .filter(|other| selects(selector, &labels(other)))
                .map(|other| name_of(other))
                .collect();
            assert_eq!(
                matched,
                BTreeSet::from([name_of(workload)]),
                "{}: spread over {}",
                name_of(workload),
                constraint["topologyKey"]
            );
            spread.insert(name_of(workload));
        }
    }
    assert_eq!(spread, BTreeSet::from(["result", "vote", "worker"]));
}

/// components/replicated-data: three Redis pods, each with a Sentinel, that
/// vote and the worker find the master through (vote waiting for a replica),
/// and three Postgres pods run by Patroni behind a Service that reaches only
/// the leader (DATABASE_URL plain db:5432); with the NetworkPolicies, still
/// exactly the app's paths, and the db pods reach each other.
#[test]
fn replicated_data_runs_sentinels_and_a_synchronous_standby() {
    let objects = render("replicated-data", &["replicated-data"]);
    redis_runs_three_pods_with_sentinels_one_per_node(&objects);
    redis_and_its_clients_share_one_password(&objects);
    a_single_node_lets_the_redis_pods_share_it();
    vote_and_the_worker_find_the_master_through_the_sentinels(&objects);
    patroni_runs_three_db_pods(&objects);
    the_db_service_reaches_the_leader_alone(&objects);
    patroni_has_least_privilege_and_the_plain_url(&objects);
    the_policies_keep_the_apps_paths_and_let_db_pods_replicate();
}

/// The object of `kind` named `name`, if the rendering has one.
fn named(objects: &[Value], kind: &str, name: &str) -> Option<Value> {
    of_kind(objects, kind)
        .into_iter()
        .find(|o| name_of(o) == name)
        .cloned()
}

/// Three Redis pods, each with a Sentinel, started at once, one per node,
/// one at a time drained.
fn redis_runs_three_pods_with_sentinels_one_per_node(objects: &[Value]) {
    let redis = named(objects, "StatefulSet", "redis").expect("the redis StatefulSet");
    assert_eq!(redis["spec"]["replicas"], 3);
    assert_eq!(redis["spec"]["serviceName"], "redis-nodes");
    let containers: Vec<&str> = redis["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(containers, ["redis", "sentinel"]);
    // All three start at once, one per node, one at a time drained.
    assert_eq!(redis["spec"]["podManagementPolicy"], "Parallel");
    let apart = &redis["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
        ["requiredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(apart["topologyKey"], "kubernetes.io/hostname", "{apart}");
    assert_eq!(
        apart["labelSelector"]["matchLabels"]["app.kubernetes.io/name"],
        "redis"
    );
    assert_eq!(
        named(objects, "PodDisruptionBudget", "redis").expect("redis's budget")["spec"]
            ["maxUnavailable"],
        1
    );
}

/// Redis, the Sentinels, vote and the worker: one password, one Secret key.
fn redis_and_its_clients_share_one_password(objects: &[Value]) {
    let redis = named(objects, "StatefulSet", "redis").expect("the redis StatefulSet");
    let password_key = |container: &Value| {
        container["env"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["name"] == "REDIS_PASSWORD")
            .map(|e| e["valueFrom"]["secretKeyRef"]["key"].clone())
    };
    for container in redis["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
    {
        assert_eq!(
            password_key(container),
            Some("redis-password".into()),
            "{container}"
        );
    }
    for deployment in ["vote", "worker"] {
        let d = named(objects, "Deployment", deployment).unwrap();
        let container = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            password_key(container),
            Some("redis-password".into()),
            "{deployment}"
        );
    }
    assert!(!secret_value(objects, "redis-password").is_empty());
}

/// A cluster of one node: components/single-node lets them share it.
fn a_single_node_lets_the_redis_pods_share_it() {
    let small = render(
        "replicated-single-node",
        &["replicated-data", "single-node"],
    );
    let small_redis = of_kind(&small, "StatefulSet")
        .into_iter()
        .find(|o| name_of(o) == "redis")
        .unwrap();
    let anti = &small_redis["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"];
    assert!(
        anti.get("requiredDuringSchedulingIgnoredDuringExecution")
            .is_none()
            && anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"] == 100,
        "{anti}"
    );
}

/// No Service spreads writes over the Redis pods: vote and the worker ask
/// the three Sentinels, and vote waits for a replica.
fn vote_and_the_worker_find_the_master_through_the_sentinels(objects: &[Value]) {
    assert!(
        named(objects, "Service", "redis").is_none(),
        "a Service would spread writes"
    );
    assert_eq!(
        named(objects, "Service", "redis-nodes").expect("redis-nodes")["spec"]["clusterIP"],
        "None"
    );
    let env = |deployment: &str, var: &str| {
        let d = named(objects, "Deployment", deployment).unwrap();
        d["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == var)
            .and_then(|e| e["value"].as_str().map(str::to_owned))
    };
    for deployment in ["vote", "worker"] {
        let sentinels = env(deployment, "REDIS_SENTINELS").unwrap_or_default();
        assert_eq!(sentinels.split(',').count(), 3, "{deployment}: {sentinels}");
        assert_eq!(
            env(deployment, "REDIS_MASTER_NAME").as_deref(),
            Some("votingapp")
        );
    }
    assert_eq!(env("vote", "REDIS_MIN_REPLICAS").as_deref(), Some("1"));
}

/// The Patroni container's value of `var`, if it sets one.
fn patroni_env(db: &Value, var: &str) -> Option<Value> {
    db["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == var)
        .map(|e| e["value"].clone())
}

/// Three db pods run by Patroni, which keeps the leader in Endpoints.
fn patroni_runs_three_db_pods(objects: &[Value]) {
    let db = named(objects, "StatefulSet", "db").expect("the db StatefulSet");
    assert_eq!(db["spec"]["replicas"], 3);
    assert_eq!(db["spec"]["podManagementPolicy"], "Parallel");
    let pod = &db["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "db");
    let patroni = &pod["containers"][0];
    assert!(
        patroni["image"]
            .as_str()
            .unwrap()
            .contains("postgres-patroni"),
        "{}",
        patroni["image"]
    );
    assert_eq!(
        patroni_env(&db, "PATRONI_KUBERNETES_USE_ENDPOINTS"),
        Some("true".into())
    );
    assert_eq!(patroni_env(&db, "PATRONI_SCOPE"), Some("db".into()));
    assert_eq!(patroni["readinessProbe"]["httpGet"]["path"], "/readiness");
}

/// The Service's address is the leader's, written by Patroni under the
/// Service's port name: a selector would add every db pod.
fn the_db_service_reaches_the_leader_alone(objects: &[Value]) {
    let db = named(objects, "StatefulSet", "db").expect("the db StatefulSet");
    let service = named(objects, "Service", "db").expect("the db Service");
    assert!(service["spec"].get("selector").is_none(), "{service}");
    let port_name = service["spec"]["ports"][0]["name"].as_str().unwrap();
    assert!(
        patroni_env(&db, "PATRONI_KUBERNETES_PORTS")
            .and_then(|v| v.as_str().map(str::to_owned))
            .is_some_and(|ports| ports.contains(&format!("\"{port_name}\""))),
        "the leader's port must carry the Service's port name {port_name}"
    );
}

/// Patroni may touch only its Endpoints and pods, never delete; one db pod
/// drained at a time; no separate standby; DATABASE_URL is plain db:5432.
fn patroni_has_least_privilege_and_the_plain_url(objects: &[Value]) {
    // Least privilege: its Endpoints and pods, never delete, nothing else.
    let role = named(objects, "Role", "db-patroni").expect("Patroni's Role");
    for rule in role["rules"].as_array().unwrap() {
        let resources = rule["resources"].as_array().unwrap();
        assert!(
            resources.iter().all(|r| r == "endpoints" || r == "pods"),
            "{rule}"
        );
        assert!(
            !rule["verbs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v == "delete" || v == "deletecollection" || v == "*"),
            "{rule}"
        );
    }
    assert_eq!(
        named(objects, "PodDisruptionBudget", "db").expect("db's budget")["spec"]["maxUnavailable"],
        1
    );
    assert!(named(objects, "StatefulSet", "db-standby").is_none());
    let url = secret_value(objects, "database-url");
    assert!(url.ends_with("@db:5432/postgres"), "{url}");
}

/// With the NetworkPolicies, still exactly the app's paths, and the db pods
/// reach each other: replication and Patroni's REST API.
fn the_policies_keep_the_apps_paths_and_let_db_pods_replicate() {
    let with_policies = render(
        "replicated-data-policies",
        &["replicated-data", "network-policies"],
    );
    assert_eq!(allowed_paths(&with_policies), app_paths());
    // The db pods to each other: replication and Patroni's REST API.
    let policies = of_kind(&with_policies, "NetworkPolicy");
    let between_db_pods: BTreeSet<i64> = PORTS
        .into_iter()
        .filter(|&port| allowed(&policies, Peer::Pod("db"), Peer::Pod("db"), port))
        .collect();
    assert_eq!(between_db_pods, BTreeSet::from([5432, 8008]));
}

#[test]
fn managed_data_replaces_the_in_cluster_databases_with_tls_urls_and_a_ca() {
    let managed = render("managed-data", &["managed-data"]);
    assert!(of_kind(&managed, "StatefulSet").is_empty());
    let services: Vec<&str> = of_kind(&managed, "Service")
        .iter()
        .map(|s| s["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["result", "vote"]);
    let url = |key: &str| secret_value(&managed, key);
    assert!(url("redis-url").starts_with("rediss://"));
    assert!(url("database-url").ends_with("sslmode=verify-full"));
    for deployment in of_kind(&managed, "Deployment") {
        let spec = &deployment["spec"]["template"]["spec"];
        let env: Vec<&str> = spec["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert!(
            env.contains(&"REDIS_CA_FILE") && env.contains(&"DATABASE_CA_FILE"),
            "{env:?}"
        );
        assert_eq!(
            spec["volumes"][0]["configMap"]["name"]
                .as_str()
                .unwrap()
                .split('-')
                .take(2)
                .collect::<Vec<_>>(),
            ["data", "ca"]
        );
    }
}

/// Each Redis node has one address that outlives its pod, a Service of its
/// own (Sentinel keeps the address it first resolved): the Sentinels, the
/// replicas (REDIS_NODE_NAME) and vote and the worker (REDIS_SENTINELS) use
/// it, and it reaches the pod once it is ready; the start scripts ask the
/// other Sentinels by the pods' own names (REDIS_PEER_NAME), ready or not.
/// A master hands over
/// before its pod stops (preStop).
#[test]
fn each_redis_node_keeps_one_address_across_pod_restarts() {
    let objects = render("replicated-data", &["replicated-data"]);
    for n in 0..3 {
        let name = format!("redis-announce-{n}");
        let service = of_kind(&objects, "Service")
            .into_iter()
            .find(|o| name_of(o) == name)
            .unwrap_or_else(|| panic!("no Service {name}"));
        let spec = &service["spec"];
        assert!(spec["clusterIP"].is_null(), "{name}: {spec}");
        // Ready pods only: a deleted pod's address, which another pod may
        // soon hold, leaves the Service at once.
        assert_eq!(spec["publishNotReadyAddresses"], false, "{name}");
        assert_eq!(
            spec["selector"]["statefulset.kubernetes.io/pod-name"],
            format!("redis-{n}").as_str(),
            "{name}"
        );
        let ports: Vec<_> = spec["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["port"].as_u64().unwrap())
            .collect();
        assert_eq!(ports, [6379, 26379], "{name}");
    }
    let env = |kind: &str, name: &str, container: usize, var: &str| {
        let object = of_kind(&objects, kind)
            .into_iter()
            .find(|o| name_of(o) == name)
            .unwrap_or_else(|| panic!("no {kind} {name}"));
        object["spec"]["template"]["spec"]["containers"][container]["env"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["name"] == var)
            .and_then(|e| e["value"].as_str().map(str::to_owned))
    };
    for container in [0, 1] {
        assert_eq!(
            env("StatefulSet", "redis", container, "REDIS_NODE_NAME").as_deref(),
            Some("redis-announce-%s"),
            "container {container}"
        );
        assert_eq!(
            env("StatefulSet", "redis", container, "REDIS_PEER_NAME").as_deref(),
            Some("redis-%s.redis-nodes"),
            "container {container}"
        );
    }
    // A master hands over before its pod stops.
    let redis = of_kind(&objects, "StatefulSet")
        .into_iter()
        .find(|o| name_of(o) == "redis")
        .unwrap();
    assert_eq!(
        redis["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"]["exec"]
            ["command"],
        serde_json::json!(["sh", "/scripts/stop-redis.sh"])
    );
    for deployment in ["vote", "worker"] {
        assert_eq!(
            env("Deployment", deployment, 0, "REDIS_SENTINELS").as_deref(),
            Some("redis-announce-0:26379,redis-announce-1:26379,redis-announce-2:26379"),
            "{deployment}"
        );
    }
}

//! The scrape job that the Prometheus Operator makes of a shipped PodMonitor,
//! for the test Prometheus: the same relabelling rules (the Operator's
//! `generatePodMonitorConfig`: keep the selected pods and port, copy
//! namespace, pod, container and `podTargetLabels`, the job from `jobLabel`),
//! applied to targets on loopback that carry the `__meta_kubernetes_*` labels
//! Kubernetes service discovery would give each pod. So the labels the
//! dashboard and alerts match on (`job`, `namespace`, ...) are the ones the
//! shipped PodMonitor produces, not ones a test wrote by hand.
//!
//! A field of the PodMonitor that is not translated here stops the test
//! saying so, rather than being silently left out. The PodMonitors and pods
//! are read from k8s/app as shipped.

use super::compose::repo_root;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// One pod's metrics port as service discovery sees it.
pub struct PodTarget {
    /// The loopback port the test's process listens on.
    pub port: u16,
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub port_name: String,
    /// The pod template's labels, as in the manifest.
    pub labels: BTreeMap<String, String>,
}

/// Every document of a YAML file under the repository.
pub fn documents(file: &str) -> Vec<Value> {
    let path = repo_root().join(file);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| {
            <Value as serde::Deserialize>::deserialize(doc)
                .unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
        })
        .collect()
}

/// The namespace a kustomization folder puts its objects into.
pub fn namespace_of(folder: &str) -> String {
    documents(&format!("{folder}/kustomization.yaml"))[0]["namespace"]
        .as_str()
        .unwrap_or_else(|| panic!("{folder}/kustomization.yaml sets no namespace"))
        .to_owned()
}

/// The PodMonitor of `file` in the component `folder`, in the namespace the
/// component puts it.
pub fn shipped(folder: &str, file: &str) -> Value {
    let mut monitor = documents(&format!("{folder}/{file}"))
        .into_iter()
        .find(|d| d["kind"] == "PodMonitor")
        .unwrap_or_else(|| panic!("a PodMonitor in {folder}/{file}"));
    monitor["metadata"]["namespace"] = Value::String(namespace_of(folder));
    monitor
}

impl PodTarget {
    /// Pod `pod` of the workload in `workload_file` (k8s/app/base), with the
    /// containers a component's strategic-merge `patch_file` adds: its
    /// template's labels and the container whose port is named `port_name`,
    /// here listening on `port` on loopback.
    pub fn of(
        workload_file: &str,
        patch_file: Option<&str>,
        pod: &str,
        port_name: &str,
        port: u16,
    ) -> Self {
        let workload = |file: &str| {
            documents(file)
                .into_iter()
                .find(|d| d["kind"] == "Deployment" || d["kind"] == "StatefulSet")
                .unwrap_or_else(|| panic!("a workload in {file}"))
        };
        let base = workload(workload_file);
        let template = &base["spec"]["template"];
        let mut containers: Vec<Value> = template["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let Some(patch) = patch_file {
            let patch = workload(patch);
            containers.extend(
                patch["spec"]["template"]["spec"]["containers"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        let container = containers
            .iter()
            .find(|c| {
                c["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["name"] == port_name)
            })
            .unwrap_or_else(|| panic!("a container with a port named {port_name} in {pod}"));
        let labels = template["metadata"]["labels"]
            .as_object()
            .expect("the pod template's labels")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
        let base_folder = Path::new(workload_file)
            .parent()
            .expect("the workload's folder")
            .display()
            .to_string();
        Self {
            port,
            namespace: namespace_of(&base_folder),
            pod: pod.to_owned(),
            container: container["name"].as_str().unwrap_or_default().to_owned(),
            port_name: port_name.to_owned(),
            labels,
        }
    }
}

/// A Kubernetes label name as a Prometheus label name (the Operator's
/// `sanitizeLabelName`).
pub fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn keep_or_drop(action: &str, sources: &[String], regex: String) -> Value {
    json!({"action": action, "source_labels": sources, "regex": regex})
}

fn label_sources(key: &str) -> Vec<String> {
    let key = sanitize(key);
    vec![
        format!("__meta_kubernetes_pod_label_{key}"),
        format!("__meta_kubernetes_pod_labelpresent_{key}"),
    ]
}

fn only(object: &Value, known: &[&str], what: &str) {
    for key in object.as_object().map(Map::keys).into_iter().flatten() {
        assert!(
            known.contains(&key.as_str()),
            "{what}.{key} is not translated into the test's scrape config (harness/pod_monitor.rs)"
        );
    }
}

/// The relabelling rules of the PodMonitor's endpoint `index`.
fn relabel_configs(monitor: &Value, index: usize) -> Vec<Value> {
    let spec = &monitor["spec"];
    only(
        spec,
        &[
            "jobLabel",
            "podTargetLabels",
            "selector",
            "podMetricsEndpoints",
        ],
        "spec",
    );
    let endpoint = &spec["podMetricsEndpoints"][index];
    only(
        endpoint,
        &["port", "path", "interval"],
        "podMetricsEndpoints[]",
    );
    let mut rules = vec![json!({
        "action": "drop",
        "source_labels": ["__meta_kubernetes_pod_phase"],
        "regex": "(Failed|Succeeded)",
    })];
    let selector = &spec["selector"];
    only(selector, &["matchLabels", "matchExpressions"], "selector");
    let mut match_labels: Vec<(&String, &Value)> = selector["matchLabels"]
        .as_object()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    match_labels.sort_by(|a, b| a.0.cmp(b.0));
    for (key, value) in match_labels {
        let value = value.as_str().expect("a label value");
        rules.push(keep_or_drop(
            "keep",
            &label_sources(key),
            format!("({value});true"),
        ));
    }
    for expression in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = expression["key"].as_str().expect("an expression's key");
        let values: Vec<&str> = expression["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let present = vec![format!(
            "__meta_kubernetes_pod_labelpresent_{}",
            sanitize(key)
        )];
        let rule = match expression["operator"].as_str() {
            Some("In") => keep_or_drop(
                "keep",
                &label_sources(key),
                format!("({});true", values.join("|")),
            ),
            Some("NotIn") => keep_or_drop(
                "drop",
                &label_sources(key),
                format!("({});true", values.join("|")),
            ),
            Some("Exists") => keep_or_drop("keep", &present, "true".into()),
            Some("DoesNotExist") => keep_or_drop("drop", &present, "true".into()),
            other => panic!("selector operator {other:?}"),
        };
        rules.push(rule);
    }
    let port = endpoint["port"].as_str().expect("the endpoint's port name");
    rules.push(keep_or_drop(
        "keep",
        &["__meta_kubernetes_pod_container_port_name".to_owned()],
        port.to_owned(),
    ));
    for (source, target) in [
        ("__meta_kubernetes_namespace", "namespace"),
        ("__meta_kubernetes_pod_container_name", "container"),
        ("__meta_kubernetes_pod_name", "pod"),
    ] {
        rules.push(json!({"source_labels": [source], "target_label": target}));
    }
    for label in spec["podTargetLabels"].as_array().into_iter().flatten() {
        let label = sanitize(label.as_str().expect("a pod target label"));
        rules.push(json!({
            "source_labels": [format!("__meta_kubernetes_pod_label_{label}")],
            "regex": "(.+)",
            "replacement": "${1}",
            "target_label": label,
        }));
    }
    let namespace = monitor["metadata"]["namespace"]
        .as_str()
        .expect("the PodMonitor's namespace");
    let name = monitor["metadata"]["name"]
        .as_str()
        .expect("the PodMonitor's name");
    rules.push(json!({"target_label": "job", "replacement": format!("{namespace}/{name}")}));
    if let Some(job_label) = spec["jobLabel"].as_str() {
        rules.push(json!({
            "source_labels": [format!("__meta_kubernetes_pod_label_{}", sanitize(job_label))],
            "regex": "(.+)",
            "replacement": "${1}",
            "target_label": "job",
        }));
    }
    rules.push(json!({"target_label": "endpoint", "replacement": port}));
    rules
}

/// The `scrape_configs` entry for endpoint `index` of `monitor` (a rendered
/// PodMonitor, with its namespace), scraping `targets` every second.
pub fn scrape_config(monitor: &Value, index: usize, targets: &[PodTarget]) -> Value {
    let endpoint = &monitor["spec"]["podMetricsEndpoints"][index];
    let static_configs: Vec<Value> = targets
        .iter()
        .map(|t| {
            let mut labels = Map::new();
            let mut set = |k: String, v: &str| {
                labels.insert(k, Value::String(v.to_owned()));
            };
            set("__meta_kubernetes_namespace".into(), &t.namespace);
            set("__meta_kubernetes_pod_name".into(), &t.pod);
            set("__meta_kubernetes_pod_phase".into(), "Running");
            set("__meta_kubernetes_pod_container_name".into(), &t.container);
            set(
                "__meta_kubernetes_pod_container_port_name".into(),
                &t.port_name,
            );
            for (key, value) in &t.labels {
                set(
                    format!("__meta_kubernetes_pod_label_{}", sanitize(key)),
                    value,
                );
                set(
                    format!("__meta_kubernetes_pod_labelpresent_{}", sanitize(key)),
                    "true",
                );
            }
            json!({"targets": [format!("127.0.0.1:{}", t.port)], "labels": labels})
        })
        .collect();
    let namespace = monitor["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default();
    let name = monitor["metadata"]["name"].as_str().unwrap_or_default();
    json!({
        "job_name": format!("podMonitor/{namespace}/{name}/{index}"),
        "metrics_path": endpoint["path"].as_str().unwrap_or("/metrics"),
        "static_configs": static_configs,
        "relabel_configs": relabel_configs(monitor, index),
    })
}

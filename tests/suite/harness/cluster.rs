//! The Kubernetes cluster for the cluster tests: the one scripts/cluster.sh
//! starts (scripts/test.sh starts it before the suite and passes its
//! kubeconfig in `VOTINGAPP_KUBECONFIG`). A real API server always; a node
//! (kubelet on the Docker Engine, kube-proxy, the DNS stand-in) where Docker
//! answers and the node came up.

use crate::harness::compose::{output, repo_root, run_ok};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

pub const NODE: &str = "votingapp-node";

/// The cluster, or why there is none (printed by the caller as a skip).
pub fn cluster() -> Result<Cluster, String> {
    let kubeconfig = std::env::var_os("VOTINGAPP_KUBECONFIG")
        .map(PathBuf::from)
        .ok_or("no cluster: VOTINGAPP_KUBECONFIG is not set (scripts/test.sh starts one with scripts/cluster.sh)")?;
    let cluster = Cluster { kubeconfig };
    let out = cluster.kubectl_output(&["get", "--raw", "/readyz"]);
    if !out.status.success() {
        return Err(format!(
            "the API server does not answer: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(cluster)
}

pub struct Cluster {
    kubeconfig: PathBuf,
}

impl Cluster {
    pub fn kubectl(&self) -> Command {
        let mut command = Command::new("kubectl");
        command
            .current_dir(repo_root())
            .arg("--kubeconfig")
            .arg(&self.kubeconfig);
        command
    }

    /// What the DNS stand-in answers for `ns` now, and the last lines of
    /// the loop that feeds it (scripts/cluster.sh) and of its own log (each
    /// query and its answer), for failure messages.
    pub fn dns_state(&self, ns: &str) -> String {
        let state = self.kubeconfig.parent().unwrap_or(Path::new("."));
        let hosts = std::fs::read_to_string(state.join("dns/hosts")).unwrap_or_default();
        let records: Vec<&str> = hosts.lines().filter(|l| l.contains(ns)).collect();
        format!(
            "DNS stand-in records for {ns}: {records:?}\nits feed's last lines: {:?}\nits last queries: {:?}",
            last_lines(&state.join("logs/dns-feed.log"), 10),
            last_lines(&state.join("logs/dnsmasq.log"), 10),
        )
    }

    /// Seen from inside each running pod of `ns`: whether each Service's name
    /// resolves and its port connects, and the kernel's tracked connections
    /// from each pod. For failure messages:
    /// it tells a missing record from a Service that does not forward.
    pub fn network_state(&self, ns: &str) -> String {
        let lines = |args: &[&str]| {
            let out = self.kubectl_output(args);
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let services = lines(&[
            "get",
            "services",
            "-n",
            ns,
            "-o",
            "jsonpath={range .items[*]}{.metadata.name} {.spec.ports[0].port}{\"\\n\"}{end}",
        ]);
        let probe: String = services
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(name, port)| {
                format!(
                    "getent hosts {name} || echo '{name}: does not resolve'; \
                     timeout 2 bash -c '</dev/tcp/{name}/{port}' 2>/dev/null \
                     && echo '{name}:{port} connects' || echo '{name}:{port} does not connect'; "
                )
            })
            .collect();
        let pods = lines(&[
            "get",
            "pods",
            "-n",
            ns,
            "--field-selector=status.phase=Running",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name} {.status.podIP}{\"\\n\"}{end}",
        ]);
        let mut report = String::new();
        for (pod, ip) in pods.lines().filter_map(|l| l.split_once(' ')) {
            let out = self.kubectl_output(&["exec", "-n", ns, pod, "--", "bash", "-c", &probe]);
            // `output().ok()`: a missing conntrack must not replace the
            // failure this report is for with a panic of its own.
            let tracked = Command::new("conntrack")
                .args(["-L", "-s", ip])
                .output()
                .ok();
            let tracked: Vec<_> = tracked
                .map(|t| String::from_utf8_lossy(&t.stdout).into_owned())
                .unwrap_or_default()
                .lines()
                .take(8)
                .map(str::to_owned)
                .collect();
            report.push_str(&format!(
                "from {pod} ({ip}):\n{}{}tracked connections: {tracked:#?}\n",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            ));
        }
        report
    }

    pub fn kubectl_output(&self, args: &[&str]) -> Output {
        output(self.kubectl().args(args))
    }

    /// Runs kubectl to success; its standard output.
    pub fn run(&self, args: &[&str]) -> String {
        run_ok(self.kubectl().args(args))
    }

    /// Why the cluster cannot run pods, or `None` when its node is Ready.
    pub fn node_unavailable(&self) -> Option<String> {
        let ready = self.kubectl_output(&[
            "get",
            "node",
            NODE,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ]);
        match String::from_utf8_lossy(&ready.stdout).trim() {
            "True" => None,
            _ => Some(
                std::env::var("VOTINGAPP_CLUSTER_NODE_SKIPPED").unwrap_or_else(|_| {
                    format!(
                        "the cluster has no Ready node ({})",
                        String::from_utf8_lossy(&ready.stderr).trim()
                    )
                }),
            ),
        }
    }

    /// Applies an exercise folder into namespace `ns` (a fresh one), with the
    /// local stand-ins in place of the official Redis and Postgres images (no
    /// registry here): a kustomization around a copy of the folder.
    pub fn apply_exercise(&self, folder: &str, ns: &str, work: &Path) {
        self.apply_exercise_scaled(folder, ns, work, &[]);
    }

    /// As `apply_exercise`, with some Deployments' replica counts changed
    /// (kustomize's `replicas:`), for a test that holds a tier back.
    pub fn apply_exercise_scaled(
        &self,
        folder: &str,
        ns: &str,
        work: &Path,
        replicas: &[(&str, usize)],
    ) {
        let base = work.join(ns);
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("base")).unwrap();
        let mut resources = Vec::new();
        let mut files: Vec<_> = std::fs::read_dir(repo_root().join("k8s").join(folder))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        for file in files {
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            std::fs::copy(&file, base.join("base").join(&name)).unwrap();
            resources.push(format!("- base/{name}"));
        }
        let replicas: String = replicas
            .iter()
            .map(|(name, count)| format!("- name: {name}\n  count: {count}\n"))
            .collect();
        let replicas = if replicas.is_empty() {
            replicas
        } else {
            format!("replicas:\n{replicas}")
        };
        let kustomization = format!(
            "namespace: {ns}\n{replicas}resources:\n{}\nimages:\n\
             - name: redis\n  newName: votingapp-offline/redis-standin\n  newTag: \"7\"\n\
             - name: postgres\n  newName: votingapp-offline/postgres-standin\n  newTag: \"15\"\n",
            resources.join("\n")
        );
        std::fs::write(base.join("kustomization.yaml"), kustomization).unwrap();
        self.run(&["apply", "-k", base.to_str().unwrap()]);
    }

    /// Deletes a namespace and waits until it is gone (its pods stopped).
    pub fn delete_namespace(&self, ns: &str) {
        let _ = self.kubectl_output(&["delete", "namespace", ns, "--wait=true", "--timeout=120s"]);
    }

    /// Deletes a namespace without waiting for its pods to stop: its
    /// Services go first (waited for), so that the next exercise may take
    /// the same NodePorts at once. [`Cluster::delete_namespace`] waits.
    pub fn delete_namespace_in_background(&self, ns: &str) {
        let _ = self.kubectl_output(&["delete", "services", "--all", "-n", ns, "--wait=true"]);
        let _ = self.kubectl_output(&["delete", "namespace", ns, "--wait=false"]);
    }

    /// Waits until every pod of `selector` in `ns` is Ready, `count` of them.
    pub fn wait_ready(
        &self,
        ns: &str,
        selector: &str,
        count: usize,
        limit: Duration,
    ) -> Vec<String> {
        let mut last = String::new();
        let ready = super::within_blocking(limit, || {
            let out = self.run(&[
                "get", "pods", "-n", ns, "-l", selector, "-o",
                "jsonpath={range .items[*]}{.metadata.name} {.metadata.deletionTimestamp} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
            ]);
            let ready: Vec<String> = out
                .lines()
                .filter_map(|line| {
                    let parts: Vec<&str> = line.split_whitespace().collect();
                    (parts.len() == 2 && parts[1] == "True").then(|| parts[0].to_owned())
                })
                .collect();
            let all = ready.len() == count && out.lines().count() == count;
            last = out;
            all.then_some(ready)
        });
        ready.unwrap_or_else(|| {
            let describe = self.kubectl_output(&["describe", "pods", "-n", ns, "-l", selector]);
            panic!(
                "pods {selector} in {ns} not ready ({count} wanted) after {limit:?}:\n{last}\n{}",
                String::from_utf8_lossy(&describe.stdout)
            )
        })
    }
}

/// The last `n` lines of a log file (none if it cannot be read).
fn last_lines(path: &Path, n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect()
}

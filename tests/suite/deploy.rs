//! The deployment files agree with each other and with the binaries: the
//! Kubernetes manifests parse into typed objects with no unknown field and are
//! wired right; the compose file, the Dockerfile targets, the bake file and
//! the images named in `k8s/` are the same set.

use crate::harness::binaries;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, Pod, PodSpec, PodTemplateSpec, Secret, Service,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const NAMESPACE: &str = "workshop-day1-solutions";

/// Where our images are named: `localhost/` is a registry no pull can reach
/// by accident, so an image of that name comes only from a local build.
const OURS: &str = "localhost/votingapp/";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One typed object from a manifest (sizes differ a lot; there are few of them).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
enum Object {
    Namespace(Namespace),
    Pod(Pod),
    Service(Service),
    ReplicaSet(ReplicaSet),
    Deployment(Deployment),
    StatefulSet(StatefulSet),
    Job(Job),
    ConfigMap(ConfigMap),
    Secret(Secret),
}

/// Deserializes into `T`, failing on any field `T` does not know.
fn strict<T: serde::de::DeserializeOwned>(doc: serde_norway::Value, file: &Path) -> T {
    let mut unknown = Vec::new();
    let value: T = serde_ignored::deserialize(doc, |path| unknown.push(path.to_string()))
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert!(
        unknown.is_empty(),
        "{}: unknown fields {unknown:?}",
        file.display()
    );
    value
}

fn parse(file: &Path) -> Vec<Object> {
    let text = std::fs::read_to_string(file).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| {
            let doc = <serde_norway::Value as serde::Deserialize>::deserialize(doc).unwrap();
            let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
            match kind.as_str() {
                "Namespace" => Object::Namespace(strict(doc, file)),
                "Pod" => Object::Pod(strict(doc, file)),
                "Service" => Object::Service(strict(doc, file)),
                "ReplicaSet" => Object::ReplicaSet(strict(doc, file)),
                "Deployment" => Object::Deployment(strict(doc, file)),
                "StatefulSet" => Object::StatefulSet(strict(doc, file)),
                "Job" => Object::Job(strict(doc, file)),
                "ConfigMap" => Object::ConfigMap(strict(doc, file)),
                "Secret" => Object::Secret(strict(doc, file)),
                other => panic!("{}: unexpected kind {other:?}", file.display()),
            }
        })
        .collect()
}

/// Each folder `kubectl apply -f` takes: its YAML files in the order kubectl reads them.
fn folders() -> BTreeMap<PathBuf, Vec<PathBuf>> {
    let mut folders: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    let mut stack = vec![repo().join("k8s")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            // k8s/app is a kustomization (patches, components): app_deployment.rs.
            if path == repo().join("k8s/app") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                folders.entry(dir.clone()).or_default().push(path);
            }
        }
    }
    for files in folders.values_mut() {
        files.sort();
    }
    folders
}

/// A pod (or pod template) with its labels and where it came from.
struct PodShape {
    owner: String,
    labels: BTreeMap<String, String>,
    /// The controller's selector; `None` for a bare Pod or a Job.
    selector: Option<BTreeMap<String, String>>,
    spec: PodSpec,
}

/// Every pod an object runs: a Pod itself, or the template of its controller.
fn pods(objects: &[Object]) -> Vec<PodShape> {
    let mut out = Vec::new();
    for object in objects {
        let (meta, selector, template) = match object {
            Object::Pod(p) => {
                let template = PodTemplateSpec {
                    metadata: Some(p.metadata.clone()),
                    spec: p.spec.clone(),
                };
                (&p.metadata, None, template)
            }
            Object::ReplicaSet(o) => (
                &o.metadata,
                Some(&o.spec.selector),
                o.spec.template.clone().unwrap(),
            ),
            Object::Deployment(o) => (&o.metadata, Some(&o.spec.selector), o.spec.template.clone()),
            Object::StatefulSet(o) => {
                (&o.metadata, Some(&o.spec.selector), o.spec.template.clone())
            }
            Object::Job(o) => (&o.metadata, None, o.spec.as_ref().unwrap().template.clone()),
            _ => continue,
        };
        out.push(PodShape {
            owner: meta.name.clone().unwrap_or_default(),
            labels: template.metadata.and_then(|m| m.labels).unwrap_or_default(),
            selector: selector.map(|s| s.match_labels.clone().unwrap_or_default()),
            spec: template.spec.expect("a pod spec"),
        });
    }
    out
}

/// The capabilities a binary needs added after `drop: [ALL]`: NET_BIND_SERVICE
/// when it listens below 1024 as a non-root user, which the Dockerfile gives
/// its file (`setcap`), so that no runtime needs a sysctl for it.
fn binds_low_port(binary: &str, fact: &BinaryFacts) -> Vec<String> {
    if fact.default_port >= 1024 {
        return Vec::new();
    }
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains(&format!("setcap cap_net_bind_service=+ep /out/{binary}")),
        "{binary} listens on {} but its file has no capability to",
        fact.default_port
    );
    vec!["NET_BIND_SERVICE".to_owned()]
}

/// What one of our binaries reads and serves, from its own command-line definition.
struct BinaryFacts {
    vars: BTreeSet<String>,
    default_port: u16,
}

fn binary_facts(binary: &str) -> BinaryFacts {
    let variables = binaries::variables(binary);
    let default_port = variables["PORT"]
        .as_deref()
        .and_then(|p| p.parse().ok())
        .expect("PORT has a numeric default");
    BinaryFacts {
        vars: variables.into_keys().collect(),
        default_port,
    }
}

/// Our binary behind an image `localhost/votingapp/<name>:<tag>`, if it is one of ours.
fn our_binary(image: &str) -> Option<&str> {
    let name = image.strip_prefix(OURS)?.split(':').next()?;
    ["vote", "result", "worker"]
        .into_iter()
        .find(|b| *b == name)
}

/// The variables Kubernetes injects into pods for a Service named `name`.
fn injected(name: &str, service: &Service) -> Vec<String> {
    let prefix = name.to_uppercase().replace('-', "_");
    let mut vars = vec![
        format!("{prefix}_SERVICE_HOST"),
        format!("{prefix}_SERVICE_PORT"),
        format!("{prefix}_PORT"),
    ];
    for port in service
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default()
    {
        let base = format!("{prefix}_PORT_{}_TCP", port.port);
        vars.push(format!(
            "{prefix}_SERVICE_PORT_{}",
            port.name
                .unwrap_or_default()
                .to_uppercase()
                .replace('-', "_")
        ));
        vars.extend([
            base.clone(),
            format!("{base}_PROTO"),
            format!("{base}_PORT"),
            format!("{base}_ADDR"),
        ]);
    }
    vars
}

fn container_ports(container: &Container) -> Vec<(Option<String>, i32)> {
    container
        .ports
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.name, p.container_port))
        .collect()
}

#[test]
fn every_kubernetes_folder_parses_strictly_and_is_wired_right() {
    let facts: BTreeMap<&str, BinaryFacts> = ["vote", "result", "worker"]
        .into_iter()
        .map(|b| (b, binary_facts(b)))
        .collect();
    let built = built_images();
    let folders = folders();
    assert!(
        folders.len() >= 10,
        "expected ex1, ex3, ex4, ex5/v1, ex5/v2, ex6, ex6/v1, ex6/v2, ex7, ex8"
    );
    // Each folder is checked on its own: one broken exercise does not hide
    // what is wrong in the others.
    let mut steps = crate::harness::steps::Steps::new("deploy");
    for (folder, files) in &folders {
        let name = folder
            .strip_prefix(repo().join("k8s"))
            .unwrap()
            .display()
            .to_string();
        steps.check(&name.clone(), || {
            no_yaml_anchor(files);
            let folder = Folder::read(&name, files, &facts, &built);
            folder.everything_in_the_namespace();
            folder.controllers_select_their_template();
            folder.services_select_pods_and_their_ports();
            folder.no_service_shadows_our_variables();
            folder.pods_are_wired();
        });
    }
    steps.finish();
}

/// Read as it stands: no anchor (`&id001`) or alias (`*id001`).
fn no_yaml_anchor(files: &[PathBuf]) {
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        let anchored = text
            .lines()
            .find(|l| [": &", ": *", "- &", "- *"].iter().any(|p| l.contains(p)));
        assert!(
            anchored.is_none(),
            "{}: a YAML anchor or alias: {anchored:?}",
            file.display()
        );
    }
}

/// One k8s/ folder as `kubectl apply -f` takes it, with what its checks
/// compare it to: our binaries' facts and the images the Dockerfile builds.
struct Folder<'a> {
    name: &'a str,
    objects: Vec<Object>,
    pods: Vec<PodShape>,
    facts: &'a BTreeMap<&'a str, BinaryFacts>,
    built: &'a BTreeSet<String>,
}

impl<'a> Folder<'a> {
    /// Parses the folder's files; the first one must define the namespace.
    fn read(
        name: &'a str,
        files: &[PathBuf],
        facts: &'a BTreeMap<&'a str, BinaryFacts>,
        built: &'a BTreeSet<String>,
    ) -> Self {
        let first = parse(&files[0]);
        assert!(
            matches!(&first[0], Object::Namespace(ns) if ns.metadata.name.as_deref() == Some(NAMESPACE)),
            "{name}: the first file kubectl applies must define the namespace"
        );
        let objects: Vec<Object> = files.iter().flat_map(|f| parse(f)).collect();
        let pods = pods(&objects);
        Self {
            name,
            objects,
            pods,
            facts,
            built,
        }
    }

    fn services(&self) -> Vec<&Service> {
        self.objects
            .iter()
            .filter_map(|o| {
                if let Object::Service(s) = o {
                    Some(s)
                } else {
                    None
                }
            })
            .collect()
    }

    /// Everything lives in the workshop's namespace.
    fn everything_in_the_namespace(&self) {
        let name = self.name;
        for object in &self.objects {
            let namespace = match object {
                Object::Namespace(_) => continue,
                Object::Pod(o) => &o.metadata.namespace,
                Object::Service(o) => &o.metadata.namespace,
                Object::ReplicaSet(o) => &o.metadata.namespace,
                Object::Deployment(o) => &o.metadata.namespace,
                Object::StatefulSet(o) => &o.metadata.namespace,
                Object::Job(o) => &o.metadata.namespace,
                Object::ConfigMap(o) => &o.metadata.namespace,
                Object::Secret(o) => &o.metadata.namespace,
            };
            assert_eq!(namespace.as_deref(), Some(NAMESPACE), "{name}: {object:?}");
        }
    }

    /// Controllers select their own template.
    fn controllers_select_their_template(&self) {
        let name = self.name;
        for pod in &self.pods {
            let Some(selector) = &pod.selector else {
                continue;
            };
            let labels = &pod.labels;
            assert!(
                !selector.is_empty(),
                "{name}: a controller without a selector"
            );
            assert!(
                selector.iter().all(|(k, v)| labels.get(k) == Some(v)),
                "{name}: {selector:?} does not select {labels:?}"
            );
        }
    }

    /// Services select pods, and their target ports exist on them.
    fn services_select_pods_and_their_ports(&self) {
        let name = self.name;
        let mut node_ports = BTreeSet::new();
        for service in self.services() {
            let svc_name = service.metadata.name.clone().unwrap();
            let spec = service.spec.as_ref().unwrap();
            let selector = spec.selector.clone().unwrap_or_default();
            let selected: Vec<&PodShape> = self
                .pods
                .iter()
                .filter(|p| {
                    !selector.is_empty() && selector.iter().all(|(k, v)| p.labels.get(k) == Some(v))
                })
                .collect();
            assert!(
                !selected.is_empty(),
                "{name}: service {svc_name} selects no pod"
            );
            for port in spec.ports.clone().unwrap_or_default() {
                if let Some(node_port) = port.node_port {
                    assert!(
                        node_ports.insert(node_port),
                        "{name}: node port {node_port} used twice"
                    );
                }
                let target = port
                    .target_port
                    .clone()
                    .unwrap_or(IntOrString::Int(port.port));
                for pod in &selected {
                    let found = pod.spec.containers.iter().flat_map(container_ports).any(
                        |(pname, number)| match &target {
                            IntOrString::Int(n) => number == *n,
                            IntOrString::String(s) => pname.as_deref() == Some(s.as_str()),
                        },
                    );
                    assert!(
                        found,
                        "{name}: service {svc_name} targets {target:?}, which {} does not expose",
                        pod.owner
                    );
                }
            }
        }
    }

    /// No variable our binaries read is shadowed by a Service's injected ones.
    fn no_service_shadows_our_variables(&self) {
        let name = self.name;
        let ours: BTreeSet<&String> = self.facts.values().flat_map(|f| f.vars.iter()).collect();
        for service in self.services() {
            for var in injected(service.metadata.name.as_deref().unwrap(), service) {
                assert!(
                    !ours.contains(&var),
                    "{name}: service variables would shadow {var}"
                );
            }
        }
    }

    /// Every pod: no sysctl, no port used twice, our images built, what its
    /// containers reference defined, added capabilities only on our binaries,
    /// and each of our containers as [`Folder::our_container`] wants it.
    fn pods_are_wired(&self) {
        let name = self.name;
        for pod in &self.pods {
            // Port 80 comes from the binaries' file capability, not a sysctl.
            let sysctls = pod
                .spec
                .security_context
                .as_ref()
                .and_then(|s| s.sysctls.clone());
            assert!(sysctls.is_none(), "{name}: {} sets {sysctls:?}", pod.owner);
            let mut ports = BTreeSet::new();
            for container in &pod.spec.containers {
                for (_, port) in container_ports(container) {
                    assert!(
                        ports.insert(port),
                        "{name}: two containers of {} use port {port}",
                        pod.owner
                    );
                }
                let image = container.image.clone().unwrap();
                if image.starts_with(OURS) {
                    let built = self.built;
                    assert!(
                        built.contains(&image),
                        "{name}: {image} is not an image the Dockerfile builds ({built:?})"
                    );
                }
                self.references_defined(container);
                let Some(binary) = our_binary(&image) else {
                    let added = container
                        .security_context
                        .as_ref()
                        .and_then(|s| s.capabilities.as_ref())
                        .and_then(|c| c.add.clone());
                    assert!(added.is_none(), "{name}: {image} adds {added:?}");
                    continue;
                };
                self.our_container(pod, container, binary);
            }
        }
    }

    /// The ConfigMaps and Secrets a container's variables come from are defined.
    fn references_defined(&self, container: &Container) {
        let name = self.name;
        let defined = |pick: fn(&Object) -> Option<String>| -> BTreeSet<String> {
            self.objects.iter().filter_map(pick).collect()
        };
        let config_maps = defined(|o| match o {
            Object::ConfigMap(c) => c.metadata.name.clone(),
            _ => None,
        });
        let secrets = defined(|o| match o {
            Object::Secret(s) => s.metadata.name.clone(),
            _ => None,
        });
        for env in container.env.clone().unwrap_or_default() {
            if let Some(from) = &env.value_from {
                if let Some(r) = &from.config_map_key_ref {
                    assert!(
                        config_maps.contains(&r.name),
                        "{name}: config map {} is not defined",
                        r.name
                    );
                }
                if let Some(r) = &from.secret_key_ref {
                    assert!(
                        secrets.contains(&r.name),
                        "{name}: secret {} is not defined",
                        r.name
                    );
                }
            }
        }
    }

    /// One of our binaries' containers: it sets only variables the binary
    /// reads, exposes its port, is probed where it answers, and is hardened.
    fn our_container(&self, pod: &PodShape, container: &Container, binary: &str) {
        let name = self.name;
        let fact = &self.facts[binary];
        for env in container.env.clone().unwrap_or_default() {
            assert!(
                fact.vars.contains(&env.name),
                "{name}: {binary} does not read {}",
                env.name
            );
        }
        let exposed: Vec<i32> = container_ports(container)
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        assert_eq!(
            exposed,
            vec![i32::from(fact.default_port)],
            "{name}: {binary} listens on {}",
            fact.default_port
        );
        self.probes(container, binary, fact);
        self.hardened(pod, container, binary, fact);
    }

    /// Readiness on `/readyz` (not the worker's) and liveness on `/healthz`,
    /// at the binary's port.
    fn probes(&self, container: &Container, binary: &str, fact: &BinaryFacts) {
        let name = self.name;
        // The worker is behind no Service: a readiness probe could only
        // take its pod (shared with result) out of result's Service.
        if binary == "worker" {
            assert!(
                container.readiness_probe.is_none(),
                "{name}: the worker has a readiness probe"
            );
        }
        let probes = [
            ("readiness", &container.readiness_probe),
            ("liveness", &container.liveness_probe),
        ];
        let wanted = if binary == "worker" {
            &probes[1..]
        } else {
            &probes[..]
        };
        for (kind, probe) in wanted {
            let get = probe
                .as_ref()
                .and_then(|p| p.http_get.clone())
                .unwrap_or_else(|| panic!("{name}: {binary} has no {kind} probe"));
            let expected = if *kind == "readiness" {
                "/readyz"
            } else {
                "/healthz"
            };
            assert_eq!(
                get.path.as_deref(),
                Some(expected),
                "{name}: {binary} {kind} probe"
            );
            assert_eq!(
                get.port,
                IntOrString::Int(i32::from(fact.default_port)),
                "{name}: {binary} {kind} probe port"
            );
        }
    }

    /// A non-root high UID, a read-only root, no escalation, every
    /// capability dropped but what the binary needs, requests and limits.
    fn hardened(&self, pod: &PodShape, container: &Container, binary: &str, fact: &BinaryFacts) {
        let name = self.name;
        // What the pod says once, a container may say otherwise.
        let sc = container
            .security_context
            .clone()
            .unwrap_or_else(|| panic!("{name}: {binary} has no securityContext"));
        let pod_sc = pod.spec.security_context.clone().unwrap_or_default();
        assert_eq!(
            sc.run_as_non_root.or(pod_sc.run_as_non_root),
            Some(true),
            "{name}: {binary}"
        );
        assert!(
            sc.run_as_user
                .or(pod_sc.run_as_user)
                .is_some_and(|uid| uid >= 10_000),
            "{name}: {binary} runs as a high UID"
        );
        assert_eq!(sc.read_only_root_filesystem, Some(true), "{name}: {binary}");
        assert_eq!(
            sc.allow_privilege_escalation,
            Some(false),
            "{name}: {binary}"
        );
        // Every capability dropped but the one a binary listening
        // below 1024 needs (it carries it as a file capability).
        let capabilities = sc.capabilities.clone().unwrap_or_default();
        assert_eq!(
            capabilities.drop,
            Some(vec!["ALL".to_owned()]),
            "{name}: {binary}"
        );
        assert_eq!(
            capabilities.add.unwrap_or_default(),
            binds_low_port(binary, fact),
            "{name}: {binary} capabilities added"
        );
        let resources = container.resources.clone().unwrap_or_default();
        assert!(
            resources.requests.is_some() && resources.limits.is_some(),
            "{name}: {binary} resources"
        );
    }
}

/// `localhost/votingapp/...` tags the bake file builds, checked against the Dockerfile's stages.
fn built_images() -> BTreeSet<String> {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let stages: BTreeSet<String> = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("FROM "))
        .filter_map(|l| l.split(" AS ").nth(1))
        .map(|s| s.trim().to_owned())
        .collect();
    let bake = std::fs::read_to_string(repo().join("docker-bake.hcl")).unwrap();
    let mut images = BTreeSet::new();
    let mut target = None;
    for line in bake.lines().map(str::trim) {
        if let Some(t) = line.strip_prefix("target ") {
            if let Some(v) = t.split('=').nth(1) {
                target = Some(v.trim().trim_matches('"').to_owned());
            }
        } else if line.starts_with("target") && line.contains('=') {
            target = line
                .split('=')
                .nth(1)
                .map(|v| v.trim().trim_matches('"').to_owned());
        }
        if let Some(tags) = line.strip_prefix("tags") {
            let tag = tags
                .split('"')
                .nth(1)
                .unwrap()
                .replace("${REGISTRY}/", OURS);
            let stage = target.take().expect("a target before its tags");
            assert!(
                stages.contains(&stage),
                "docker-bake.hcl builds stage {stage}, which the Dockerfile lacks"
            );
            assert!(
                tag.starts_with(&format!("{OURS}{stage}:")),
                "{tag} is built from stage {stage}"
            );
            images.insert(tag);
        }
    }
    images
}

#[test]
fn the_compose_file_bake_file_dockerfile_and_manifests_name_the_same_images() {
    let built = built_images();
    let expected: BTreeSet<String> = crate::harness::compose::APP_IMAGES
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(built, expected);

    let compose: serde_norway::Value = serde_norway::from_str(
        &std::fs::read_to_string(repo().join("docker-compose.yml")).unwrap(),
    )
    .unwrap();
    let services = compose["services"].as_mapping().unwrap();
    compose_runs_our_four_images_from_their_targets(services, &built);
    let (theirs, exporters) = compose_images_not_ours(services);
    the_exporters_profile_runs_the_sidecars_images(&exporters);
    the_manifests_run_the_same_images(&expected, &theirs);
}

/// Each compose service of ours runs an image the bake file builds, from the
/// Dockerfile target of its name: vote, result, worker and seed.
fn compose_runs_our_four_images_from_their_targets(
    services: &serde_norway::Mapping,
    built: &BTreeSet<String>,
) {
    let mut ours = BTreeSet::new();
    for (name, service) in services {
        let image = service["image"].as_str().unwrap().to_owned();
        if image.starts_with(OURS) {
            assert!(
                built.contains(&image),
                "compose service {name:?} uses {image}, which is not built"
            );
            let target = service["build"]["target"].as_str().unwrap();
            assert!(
                image.starts_with(&format!("{OURS}{target}:")),
                "compose {name:?}: {image} from target {target}"
            );
            ours.insert(image);
        }
    }
    assert_eq!(
        ours.len(),
        4,
        "vote, result, worker and seed in compose: {ours:?}"
    );
}

/// The images compose runs that are not ours: the stores, and the
/// `exporters` profile's.
fn compose_images_not_ours(
    services: &serde_norway::Mapping,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let is_exporter = |service: &serde_norway::Value| {
        service["profiles"]
            .as_sequence()
            .is_some_and(|p| p.iter().any(|p| p.as_str() == Some("exporters")))
    };
    let theirs: BTreeSet<String> = services
        .values()
        .filter(|service| !is_exporter(service))
        .filter_map(|service| service["image"].as_str())
        .filter(|image| !image.starts_with(OURS))
        .map(String::from)
        .collect();
    let exporters: BTreeSet<String> = services
        .values()
        .filter(|service| is_exporter(service))
        .filter_map(|service| service["image"].as_str())
        .map(String::from)
        .collect();
    (theirs, exporters)
}

/// The `exporters` profile runs what k8s/app's observability component
/// runs as sidecars, the same images.
fn the_exporters_profile_runs_the_sidecars_images(exporters: &BTreeSet<String>) {
    let mut sidecars = BTreeSet::new();
    for file in ["redis-exporter.yaml", "postgres-exporter.yaml"] {
        let path = repo().join("k8s/app/components/observability").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        sidecars.extend(
            text.lines()
                .filter_map(|l| l.trim().strip_prefix("image: "))
                .map(String::from),
        );
    }
    assert_eq!(
        *exporters, sidecars,
        "compose's exporters profile and k8s/app's sidecars run the same exporter images"
    );
    assert_eq!(exporters.len(), 2, "{exporters:?}");
}

/// The workshop's manifests run every image we build and only those, and
/// the Redis and Postgres images compose runs.
fn the_manifests_run_the_same_images(expected: &BTreeSet<String>, theirs: &BTreeSet<String>) {
    let mut in_k8s = BTreeSet::new();
    let mut databases_in_k8s = BTreeSet::new();
    for files in folders().values() {
        for file in files {
            let text = std::fs::read_to_string(file).unwrap();
            for line in text.lines() {
                if let Some(image) = line.trim().strip_prefix("image: ") {
                    if image.starts_with(OURS) {
                        in_k8s.insert(image.to_owned());
                    } else {
                        databases_in_k8s.insert(image.to_owned());
                    }
                }
            }
        }
    }
    assert_eq!(
        in_k8s, *expected,
        "the manifests use every image we build, and only those"
    );
    assert_eq!(
        databases_in_k8s, *theirs,
        "compose and the manifests run the same Redis and Postgres images"
    );
}

/// The path dependencies a crate of the workspace builds with (`common`, `wire`).
fn local_crates(krate: &str) -> BTreeSet<String> {
    let manifest = std::fs::read_to_string(repo().join(krate).join("Cargo.toml")).unwrap();
    manifest
        .lines()
        .filter_map(|l| l.trim().strip_suffix(".workspace = true"))
        .filter(|dep| repo().join(dep).join("Cargo.toml").is_file())
        .map(String::from)
        .collect()
}

#[test]
fn compose_builds_our_images_never_pulls_them_grants_their_capability_and_watches_their_code() {
    let compose: serde_norway::Value = serde_norway::from_str(
        &std::fs::read_to_string(repo().join("docker-compose.yml")).unwrap(),
    )
    .unwrap();
    let mut ours = 0;
    for (name, service) in compose["services"].as_mapping().unwrap() {
        if !service["image"].as_str().unwrap().starts_with(OURS) {
            continue;
        }
        ours += 1;
        assert_eq!(
            service["pull_policy"].as_str(),
            Some("never"),
            "compose {name:?}: built here, never pulled"
        );
        let target = service["build"]["target"].as_str().unwrap();
        let strings = |v: &serde_norway::Value| -> Vec<String> {
            v.as_sequence()
                .into_iter()
                .flatten()
                .map(|s| s.as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(strings(&service["cap_drop"]), ["ALL"], "{name:?}");
        if ["vote", "result", "worker"].contains(&target) {
            assert_eq!(
                strings(&service["cap_add"]),
                binds_low_port(target, &binary_facts(target)),
                "compose {name:?}: the capabilities its binary needs"
            );
        }

        let watched: BTreeSet<String> = service["develop"]["watch"]
            .as_sequence()
            .unwrap_or_else(|| panic!("compose {name:?} has no develop.watch"))
            .iter()
            .map(|w| {
                assert_eq!(w["action"].as_str(), Some("rebuild"), "{name:?}");
                let path = w["path"].as_str().unwrap();
                path.strip_prefix("./").unwrap_or(path).to_owned()
            })
            .collect();
        let mut expected = local_crates(target);
        expected.extend([target.to_owned(), "Cargo.lock".to_owned()]);
        assert_eq!(
            watched, expected,
            "compose {name:?}: rebuilt when its crate or one it uses changes"
        );
    }
    assert_eq!(ours, 4, "vote, result, worker and seed");
}

#!/usr/bin/env python3
"""Checks every pod (and pod template) in the given manifests against the
Pod Security Standards' `restricted` profile, as Pod Security Admission
enforces it on the namespace `votingapp` (its label
pod-security.kubernetes.io/enforce: restricted). Kubernetes before 1.23 (the
test cluster runs 1.20) ignores that label, so scripts/check-deploy.sh runs
this on the rendered k8s/app instead.

Usage: check-pod-security.py FILE...   (exit 1 listing each violation)
       check-pod-security.py --self-test (each rule refuses a pod breaking it)

The rules are the profile's (kubernetes.io/docs/concepts/security/
pod-security-standards, "Baseline" and "Restricted", version latest).
"""
import copy
import sys

import yaml

# Workload kinds and where their pod spec is.
POD_SPEC_PATHS = {
    "Pod": ["spec"],
    "Deployment": ["spec", "template", "spec"],
    "StatefulSet": ["spec", "template", "spec"],
    "DaemonSet": ["spec", "template", "spec"],
    "ReplicaSet": ["spec", "template", "spec"],
    "Job": ["spec", "template", "spec"],
    "CronJob": ["spec", "jobTemplate", "spec", "template", "spec"],
}
ALLOWED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
    "persistentVolumeClaim", "projected", "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
}
SELINUX_TYPES = {None, "", "container_t", "container_init_t", "container_kvm_t",
                 "container_engine_t"}
SECCOMP_ALLOWED = {"RuntimeDefault", "Localhost"}


def containers(spec):
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(key) or []:
            yield container


def violations(spec, annotations):
    """Each way `spec` (a PodSpec) breaks the restricted profile."""
    found = []
    pod_sc = spec.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            found.append(f"{field} is true")
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            found.append(f"volume {volume.get('name')} is of type {sorted(kinds)}")
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            found.append(f"sysctl {sysctl.get('name')} is not a safe one")
    for key, value in (annotations or {}).items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and value == "unconfined":
            found.append(f"AppArmor annotation {key} is unconfined")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_seccomp is not None and pod_seccomp not in SECCOMP_ALLOWED:
        found.append(f"the pod's seccompProfile is {pod_seccomp}")
    for where, sc in [("the pod", pod_sc)] + [
        (f"container {c.get('name')}", c.get("securityContext") or {}) for c in containers(spec)
    ]:
        selinux = sc.get("seLinuxOptions") or {}
        if selinux.get("type") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
            found.append(f"{where} sets seLinuxOptions {selinux}")
        if (sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
            found.append(f"{where} has an Unconfined AppArmor profile")
        if sc.get("runAsUser") == 0:
            found.append(f"{where} runs as user 0")
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            found.append(f"{where} is a Windows host process")
    for container in containers(spec):
        name = f"container {container.get('name')}"
        sc = container.get("securityContext") or {}
        if sc.get("privileged"):
            found.append(f"{name} is privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name} does not set allowPrivilegeEscalation: false")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            found.append(f"{name} does not drop ALL capabilities")
        added = set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
        if added:
            found.append(f"{name} adds capabilities {sorted(added)}")
        if sc.get("procMount") not in (None, "Default"):
            found.append(f"{name} sets procMount {sc.get('procMount')}")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                found.append(f"{name} uses hostPort {port.get('hostPort')}")
        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        if non_root is not True:
            found.append(f"{name} is not runAsNonRoot (nor is the pod)")
        seccomp = (sc.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in SECCOMP_ALLOWED:
            found.append(f"{name} has seccompProfile {seccomp} (RuntimeDefault or Localhost needed)")
    return found


def pod_specs(documents):
    """(name, PodSpec, pod annotations) of every workload among `documents`."""
    for doc in documents:
        if not isinstance(doc, dict) or doc.get("kind") not in POD_SPEC_PATHS:
            continue
        path = POD_SPEC_PATHS[doc["kind"]]
        node = doc
        for key in path:
            node = (node or {}).get(key)
        template_meta = doc if doc["kind"] == "Pod" else None
        if template_meta is None:
            owner = doc
            for key in path[:-1]:
                owner = (owner or {}).get(key)
            template_meta = owner
        annotations = ((template_meta or {}).get("metadata") or {}).get("annotations")
        name = f"{doc['kind']} {doc.get('metadata', {}).get('name')}"
        yield name, node or {}, annotations


def check_files(files):
    failures = []
    checked = 0
    for file in files:
        with open(file, encoding="utf-8") as f:
            documents = list(yaml.safe_load_all(f))
        for name, spec, annotations in pod_specs(documents):
            checked += 1
            failures += [f"{file}: {name}: {v}" for v in violations(spec, annotations)]
    for failure in failures:
        print(failure, file=sys.stderr)
    if failures:
        print(f"{len(failures)} violation(s) of the restricted profile", file=sys.stderr)
        return 1
    if checked == 0:
        print("no pod or pod template found: nothing was checked", file=sys.stderr)
        return 1
    print(f"{checked} pod specs meet the restricted profile")
    return 0


GOOD = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                        "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [{
        "name": "app",
        "securityContext": {"allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}},
        "ports": [{"containerPort": 8080}],
    }],
    "volumes": [{"name": "data", "emptyDir": {}}],
}


def self_test():
    """Each rule refuses a pod that breaks it; the compliant pod passes."""
    def broken(change):
        spec = copy.deepcopy(GOOD)
        change(spec)
        return spec

    container = lambda s: s["containers"][0]  # noqa: E731
    csc = lambda s: container(s)["securityContext"]  # noqa: E731
    cases = {
        "hostNetwork": lambda s: s.update(hostNetwork=True),
        "hostPID": lambda s: s.update(hostPID=True),
        "hostPath volume": lambda s: s["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
        "privileged": lambda s: csc(s).update(privileged=True),
        "privilege escalation": lambda s: csc(s).pop("allowPrivilegeEscalation"),
        "capabilities kept": lambda s: csc(s).pop("capabilities"),
        "capability added": lambda s: csc(s)["capabilities"].update(add=["NET_ADMIN"]),
        "root allowed": lambda s: s["securityContext"].pop("runAsNonRoot"),
        "user 0": lambda s: csc(s).update(runAsUser=0),
        "no seccomp": lambda s: s["securityContext"].pop("seccompProfile"),
        "seccomp unconfined": lambda s: csc(s).update(seccompProfile={"type": "Unconfined"}),
        "hostPort": lambda s: container(s)["ports"][0].update(hostPort=80),
        "unsafe sysctl": lambda s: s["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
        "procMount": lambda s: csc(s).update(procMount="Unmasked"),
        "init container": lambda s: s.update(initContainers=[{"name": "init"}]),
    }
    failed = []
    if violations(GOOD, {}):
        failed.append(f"the compliant pod is refused: {violations(GOOD, {})}")
    for rule, change in cases.items():
        if not violations(broken(change), {}):
            failed.append(f"a pod breaking '{rule}' passes")
    for failure in failed:
        print(f"self-test: {failure}", file=sys.stderr)
    if failed:
        return 1
    print(f"self-test: each of {len(cases)} rules refuses a pod that breaks it")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(self_test())
    if not sys.argv[1:]:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(check_files(sys.argv[1:]))

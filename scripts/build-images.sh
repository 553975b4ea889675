#!/usr/bin/env bash
# Builds every image of the voting app, with the names that docker-compose.yml
# and the manifests in k8s/ use, for this machine's platform:
#
#   localhost/votingapp/vote:before    (Cats vs Dogs)     localhost/votingapp/vote:after    (Java vs .NET)
#   localhost/votingapp/result:before  (Cats vs Dogs)     localhost/votingapp/result:after  (Java vs .NET)
#   localhost/votingapp/worker:latest                     localhost/votingapp/seed:latest
#
# It needs no buildx: the builds go through `docker compose build` (BuildKit in
# the engine) and share their cache with `docker compose up --build`. With buildx,
# `docker buildx bake` (docker-bake.hcl) builds the same tags for amd64 and arm64.
#
#   --offline   build on the local base images from scripts/offline-images.sh
#               (no registry needed); otherwise RUST_IMAGE and RUNTIME_IMAGE
#               choose the bases (defaults: the official images, see Dockerfile)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

offline=0
for arg in "$@"; do
  case $arg in
    --offline) offline=1 ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

require_docker
ensure_compose
if [ "$offline" -eq 1 ]; then
  RUST_IMAGE=votingapp-offline/rust:slim-bookworm
  RUNTIME_IMAGE=votingapp-offline/debian:bookworm-slim
  for base in "$RUST_IMAGE" "$RUNTIME_IMAGE"; do
    if ! docker image inspect "$base" >/dev/null 2>&1; then
      echo "error: the base image $base is missing: run ./scripts/offline-images.sh first" >&2
      exit 1
    fi
  done
fi

# One compose document with a service per image, so that BuildKit builds the
# shared stages once. The base images are passed only when they are set; the
# OCI labels' source, revision and creation time always (scripts/deps.sh).
image_labels
base_args="        SOURCE: \"$VOTINGAPP_SOURCE\""$'\n'
base_args+="        REVISION: \"$VOTINGAPP_REVISION\""$'\n'
base_args+="        CREATED: \"$VOTINGAPP_CREATED\""$'\n'
[ -n "${RUST_IMAGE:-}" ] && base_args+="        RUST_IMAGE: \"$RUST_IMAGE\""$'\n'
[ -n "${RUNTIME_IMAGE:-}" ] && base_args+="        RUNTIME_IMAGE: \"$RUNTIME_IMAGE\""$'\n'
image() { # SERVICE TARGET TAG OPTION_A OPTION_B
  printf '  %s:\n    image: %s\n    build:\n      context: .\n      target: %s\n      args:\n' "$1" "$3" "$2"
  printf '        OPTION_A: "%s"\n        OPTION_B: "%s"\n%s' "$4" "$5" "$base_args"
}
{
  echo "name: votingapp-images"
  echo "services:"
  image vote-before vote localhost/votingapp/vote:before Cats Dogs
  image vote-after vote localhost/votingapp/vote:after Java .NET
  image result-before result localhost/votingapp/result:before Cats Dogs
  image result-after result localhost/votingapp/result:after Java .NET
  image worker worker localhost/votingapp/worker:latest Cats Dogs
  image seed seed localhost/votingapp/seed:latest Cats Dogs
} >"${TMPDIR:-/tmp}/votingapp-images.$$.yaml"
trap 'rm -f "${TMPDIR:-/tmp}/votingapp-images.$$.yaml"' EXIT

echo "==> building the images"
start=$SECONDS
docker compose --project-directory . \
  -f "${TMPDIR:-/tmp}/votingapp-images.$$.yaml" build
echo "==> built in $((SECONDS - start)) s"
docker image ls --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' 'localhost/votingapp/*' | sort | column -t

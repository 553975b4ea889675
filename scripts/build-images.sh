#!/usr/bin/env bash
# Builds every image of the voting app, with the names that docker-compose.yml
# and the manifests in k8s/ use, for this machine's platform:
#
#   localhost/votingapp/vote:before    (Cats vs Dogs)     localhost/votingapp/vote:after    (Java vs .NET)
#   localhost/votingapp/result:before  (Cats vs Dogs)     localhost/votingapp/result:after  (Java vs .NET)
#   localhost/votingapp/worker:latest                     localhost/votingapp/seed:latest
#
# and each also with the crate version (the workspace's, Cargo.toml) and the
# commit it was built from, which is what a production overlay pins
# (k8s/app/overlays/production):
#
#   vote:0.1.0-before  vote:0.1.0-before-<commit>  ...  worker:0.1.0  worker:0.1.0-<commit>
#
# (<commit> is the first 12 hex digits of HEAD; without git, those tags are left
# out.) The workshop's names (before, after, latest) stay where its text uses them.
#
# It needs no buildx: the builds go through `docker compose build` (BuildKit in
# the engine) and share their cache with `docker compose up --build`. With buildx,
# `docker buildx bake` (docker-bake.hcl) builds the same tags for amd64 and arm64.
#
#   --offline   build on the local base images from scripts/offline-images.sh
#               (no registry needed); otherwise RUST_IMAGE and RUNTIME_IMAGE
#               choose the bases (defaults: the official images, see Dockerfile)
#   --list      print every tag it would build, one a line, and build nothing
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

offline=0 list=0
for arg in "$@"; do
  case $arg in
    --offline) offline=1 ;;
    --list) list=1 ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

# The crate version: the workspace's (every crate inherits it).
VERSION=$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version = "\(.*\)"/\1/p' Cargo.toml)
[ -n "$VERSION" ] || { echo "error: no version in Cargo.toml's [workspace.package]" >&2; exit 1; }
COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null || true)

# tags REPOSITORY NAME [VARIANT]: the workshop's tag NAME, then the versioned ones.
tags() {
  local suffix=${3:+-$3}
  echo "$1:$2"
  echo "$1:$VERSION$suffix"
  [ -z "$COMMIT" ] || echo "$1:$VERSION$suffix-$COMMIT"
}
all_tags() { # SERVICE TARGET REPOSITORY NAME VARIANT OPTION_A OPTION_B, one line each
  echo "vote-before vote localhost/votingapp/vote before before Cats Dogs"
  echo "vote-after vote localhost/votingapp/vote after after Java .NET"
  echo "result-before result localhost/votingapp/result before before Cats Dogs"
  echo "result-after result localhost/votingapp/result after after Java .NET"
  echo "worker worker localhost/votingapp/worker latest '' Cats Dogs"
  echo "seed seed localhost/votingapp/seed latest '' Cats Dogs"
}
if [ "$list" -eq 1 ]; then
  all_tags | while read -r _ _ repository name variant _; do
    [ "$variant" = "''" ] && variant=""
    tags "$repository" "$name" "$variant"
  done
  exit 0
fi

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
base_args+="        VERSION: \"$VERSION\""$'\n'
[ -n "${RUST_IMAGE:-}" ] && base_args+="        RUST_IMAGE: \"$RUST_IMAGE\""$'\n'
[ -n "${RUNTIME_IMAGE:-}" ] && base_args+="        RUNTIME_IMAGE: \"$RUNTIME_IMAGE\""$'\n'
image() { # SERVICE TARGET REPOSITORY NAME VARIANT OPTION_A OPTION_B
  [ "$5" = "''" ] && set -- "$1" "$2" "$3" "$4" "" "$6" "$7"
  printf '  %s:\n    image: %s:%s\n    build:\n      context: .\n      target: %s\n      tags:\n' "$1" "$3" "$4" "$2"
  tags "$3" "$4" "$5" | tail -n +2 | sed 's/^/        - /'
  printf '      args:\n        OPTION_A: "%s"\n        OPTION_B: "%s"\n%s' "$6" "$7" "$base_args"
}
{
  echo "name: votingapp-images"
  echo "services:"
  all_tags | while read -r line; do
    eval "image $line"
  done
} >"${TMPDIR:-/tmp}/votingapp-images.$$.yaml"
trap 'rm -f "${TMPDIR:-/tmp}/votingapp-images.$$.yaml"' EXIT

echo "==> building the images"
start=$SECONDS
docker compose --project-directory . \
  -f "${TMPDIR:-/tmp}/votingapp-images.$$.yaml" build
echo "==> built in $((SECONDS - start)) s"
docker image ls --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' 'localhost/votingapp/*' | sort | column -t

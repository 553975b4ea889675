#!/usr/bin/env bash
# Builds, from Debian's packages only, every image that the Dockerfile and
# docker-compose.yml would otherwise pull from a registry, under local names
# (compose.offline.yaml points the stack at them):
#
#   votingapp-offline/debian:bookworm-slim     runtime base: debootstrap (minbase), slimmed, docker import
#   votingapp-offline/rust:slim-bookworm       builder base: the above + gcc + this machine's Rust toolchain
#   votingapp-offline/redis-standin:7          TEST STAND-IN for redis:7-alpine (Debian's redis-server)
#   votingapp-offline/postgres-standin:15      TEST STAND-IN for postgres:18-alpine (Debian's postgresql-15)
#   votingapp-offline/redis-exporter-standin:1.45     TEST STAND-IN for oliver006/redis_exporter:v1.45.0
#   votingapp-offline/postgres-exporter-standin:0.11  TEST STAND-IN for prometheuscommunity/postgres-exporter:v0.11.1
#                                              (Debian's prometheus-*-exporter; compose's `exporters` profile)
#   votingapp-offline/patroni-standin:15       TEST STAND-IN for docker/patroni (the Postgres stand-in + Debian's patroni, etcd)
#
# The stand-ins honour the part of the official images' contract that our
# compose file and manifests use (docker/standins/*-entrypoint.sh) and carry
# the label io.votingapp.stand-in=true. Skips images that exist (but the
# Patroni stand-in, built every run: see below); --force rebuilds them. Needs
# root (debootstrap), a Docker engine and a Debian mirror (DEBIAN_MIRROR,
# default: the first one in this machine's apt sources).
# Work files are kept in VOTINGAPP_CACHE (default /var/cache/votingapp).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

RUNTIME_IMAGE=votingapp-offline/debian:bookworm-slim
BUILDER_IMAGE=votingapp-offline/rust:slim-bookworm
REDIS_IMAGE=votingapp-offline/redis-standin:7
POSTGRES_IMAGE=votingapp-offline/postgres-standin:15
REDIS_EXPORTER_IMAGE=votingapp-offline/redis-exporter-standin:1.45
POSTGRES_EXPORTER_IMAGE=votingapp-offline/postgres-exporter-standin:0.11
PATRONI_IMAGE=votingapp-offline/patroni-standin:15
ALL_IMAGES=("$RUNTIME_IMAGE" "$BUILDER_IMAGE" "$REDIS_IMAGE" "$POSTGRES_IMAGE"
  "$REDIS_EXPORTER_IMAGE" "$POSTGRES_EXPORTER_IMAGE" "$PATRONI_IMAGE")

usage() {
  sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'
  echo "Usage: $0 [--force] [--list]"
}

force=0
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    --list) printf '%s\n' "${ALL_IMAGES[@]}"; exit 0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "error: unknown argument '$arg'" >&2; usage >&2; exit 2 ;;
  esac
done

require_docker
CACHE=${VOTINGAPP_CACHE:-/var/cache/votingapp}
LOGS=$CACHE/logs
as_root mkdir -p "$CACHE" "$LOGS"
as_root chown "$(id -u):$(id -g)" "$CACHE" "$LOGS"

step=0
# progress NAME TEXT: one line per image.
progress() {
  printf '==> [%d/%d] %-50s %s\n' "$step" "${#ALL_IMAGES[@]}" "$1" "$2"
}

# wanted NAME: true when NAME must be built (missing, or --force).
wanted() {
  step=$((step + 1))
  if [ "$force" -eq 0 ] && docker image inspect "$1" >/dev/null 2>&1; then
    progress "$1" "present, skipped"
    return 1
  fi
  progress "$1" "building"
}

# built NAME SECONDS: the closing progress line with the image's size.
built() {
  local size
  size=$(docker image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }')
  progress "$1" "built in $2 s, $size"
}

# build_standin NAME DOCKERFILE CONTEXT [ARGS...]: docker build on top of the runtime base.
build_standin() {
  local name=$1 dockerfile=$2 context=$3 start=$SECONDS log
  shift 3
  log="$LOGS/$(echo "$name" | tr '/:' '__').log"
  if ! DOCKER_BUILDKIT=0 docker build --build-arg "BASE=$RUNTIME_IMAGE" "$@" \
      -f "$dockerfile" -t "$name" "$context" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "error: building $name failed (whole log: $log)" >&2
    exit 1
  fi
  built "$name" $((SECONDS - start))
}

if wanted "$RUNTIME_IMAGE"; then
  start=$SECONDS
  ensure_packages debootstrap:debootstrap
  rootfs=$CACHE/rootfs-bookworm
  as_root rm -rf "$rootfs"
  if ! as_root debootstrap --variant=minbase bookworm "$rootfs" "$(debian_mirror)" >"$LOGS/debootstrap.log" 2>&1; then
    tail -n 20 "$LOGS/debootstrap.log" >&2
    echo "error: debootstrap failed (whole log: $LOGS/debootstrap.log)" >&2
    exit 1
  fi
  # Slim as Debian's own -slim images are: no package lists, caches, docs or locales.
  as_root sh -c "cd '$rootfs' && rm -rf var/lib/apt/lists/* var/cache/apt/*.bin var/cache/apt/archives/*.deb \
    usr/share/doc/* usr/share/man/* usr/share/info/* usr/share/locale/* var/log/*.log"
  as_root tar -C "$rootfs" --numeric-owner -c . | docker import \
    --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'LABEL org.opencontainers.image.title="Debian bookworm (minbase), built locally" io.votingapp.stand-in="true"' \
    - "$RUNTIME_IMAGE" >/dev/null
  as_root rm -rf "$rootfs"
  built "$RUNTIME_IMAGE" $((SECONDS - start))
fi

if wanted "$BUILDER_IMAGE"; then
  context=$CACHE/builder-context
  sysroot=$(rustc --print sysroot)
  rust_version=$(rustc --version | awk '{ print $2 }')
  rm -rf "$context"
  mkdir -p "$context/toolchain" "$context/ca-certificates"
  # The toolchain without its documentation; hard links where the file system allows.
  for part in bin lib libexec etc; do
    [ -e "$sysroot/$part" ] || continue
    cp -al "$sysroot/$part" "$context/toolchain/" 2>/dev/null || cp -a "$sysroot/$part" "$context/toolchain/"
  done
  cp /usr/local/share/ca-certificates/*.crt "$context/ca-certificates/" 2>/dev/null || true
  build_standin "$BUILDER_IMAGE" docker/standins/builder.Dockerfile "$context" \
    --build-arg "RUST_VERSION=$rust_version"
  rm -rf "$context"
fi

if wanted "$REDIS_IMAGE"; then
  build_standin "$REDIS_IMAGE" docker/standins/redis.Dockerfile docker/standins
fi

if wanted "$POSTGRES_IMAGE"; then
  build_standin "$POSTGRES_IMAGE" docker/standins/postgres.Dockerfile docker/standins
fi

if wanted "$REDIS_EXPORTER_IMAGE"; then
  build_standin "$REDIS_EXPORTER_IMAGE" docker/standins/redis-exporter.Dockerfile docker/standins
fi

if wanted "$POSTGRES_EXPORTER_IMAGE"; then
  build_standin "$POSTGRES_EXPORTER_IMAGE" docker/standins/postgres-exporter.Dockerfile docker/standins
fi

# Built every run: it carries docker/patroni's entrypoint and settings, which
# change with the repo; Docker's layer cache makes an unchanged one instant.
step=$((step + 1))
progress "$PATRONI_IMAGE" "building (cached layers reused)"
build_standin "$PATRONI_IMAGE" docker/standins/patroni.Dockerfile docker --build-arg "BASE=$POSTGRES_IMAGE"

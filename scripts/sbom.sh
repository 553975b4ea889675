#!/usr/bin/env bash
# Writes a CycloneDX SBOM (JSON) for each image of ours, for a scanner to read:
# the Rust crates compiled into its binary (cargo-cyclonedx, every crate of
# Cargo.lock that the binary builds with, build dependencies included) and the
# Debian packages of its base image (dpkg's own list, read from the image).
#
#   ./scripts/sbom.sh        # after ./scripts/build-images.sh; writes target/sbom/
#
# One file per image, named after it: target/sbom/vote_after.cdx.json, ...;
# SBOM_DIR chooses another folder. Then it checks each file is complete: every
# crate `cargo tree` lists for the binary (normal and build dependencies, this
# platform) and every package dpkg lists in the image is in it; it stops with
# the names missing otherwise. Installs cargo-cyclonedx (pinned) once.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

require_docker
ensure_cargo_tool cargo-cyclonedx 0.5.9
out=${SBOM_DIR:-target/sbom}
work=$(mktemp -d)
trap 'rm -rf "$work"; rm -f ./*/*_bin.cdx.json' EXIT
mkdir -p "$out"

echo "==> the crates of each binary (cargo cyclonedx)"
# It writes <crate>/<binary>_bin.cdx.json beside each crate's Cargo.toml.
cargo cyclonedx --format json --describe binaries --quiet
host=$(rustc -vV | sed -n 's/^host: //p')

# The workshop's tags name each image once (build-images.sh --list prints
# the versioned tags after each).
for image in localhost/votingapp/vote:before localhost/votingapp/vote:after \
             localhost/votingapp/result:before localhost/votingapp/result:after \
             localhost/votingapp/worker:latest localhost/votingapp/seed:latest; do
  name=${image#localhost/votingapp/}
  crate=${name%%:*}
  file="$out/${name/:/_}.cdx.json"
  if ! docker image inspect "$image" >/dev/null 2>&1; then
    echo "error: $image is missing: run ./scripts/build-images.sh first" >&2
    exit 1
  fi
  docker run --rm --entrypoint dpkg-query "$image" \
    -W -f '${Package}\t${Version}\t${Architecture}\n' >"$work/debs"
  cargo tree -p "$crate" -e normal,build --prefix none --target "$host" |
    sed 's/ (.*//; s/ v/@/' | sort -u | grep -v "^$crate@" >"$work/crates"
  python3 - "$crate/${crate}_bin.cdx.json" "$work/debs" "$work/crates" "$image" "$file" <<'PYTHON'
import json, sys

crates_bom, debs, crates, image, target = sys.argv[1:]
bom = json.load(open(crates_bom, encoding="utf-8"))
packages = [line.split("\t") for line in open(debs, encoding="utf-8").read().splitlines()]
for name, version, arch in packages:
    purl = f"pkg:deb/debian/{name}@{version}?arch={arch}&distro=debian-12"
    bom.setdefault("components", []).append(
        {"type": "library", "bom-ref": purl, "name": name, "version": version, "purl": purl}
    )
binary = bom["metadata"]["component"]
bom["metadata"]["component"] = {
    "type": "container", "bom-ref": image, "name": image,
    "version": binary.get("version", ""), "components": [binary],
}
have = {(c["name"], c["version"]) for c in bom["components"]}
missing = [line for line in open(crates, encoding="utf-8").read().splitlines()
           if tuple(line.split("@", 1)) not in have]
missing += [f"{n} {v} (deb)" for n, v, _ in packages if (n, v) not in have]
if missing:
    sys.exit(f"error: the SBOM of {image} lacks {len(missing)}: {', '.join(missing[:20])}")
json.dump(bom, open(target, "w", encoding="utf-8"), indent=2)
crate_count = sum(1 for c in bom["components"] if c.get("purl", "").startswith("pkg:cargo/"))
print(f"{image}: {crate_count} crates, {len(packages)} Debian packages -> {target}")
PYTHON
done

# Builds every image the compose file and the Kubernetes manifests use, for
# amd64 and arm64:   docker buildx bake            (add --push to publish,
# or --set '*.platform=linux/amd64' --load to load into the local engine).

# localhost/ names no registry a pull could reach by accident: set REGISTRY to
# yours to publish.
variable "REGISTRY" {
  default = "localhost/votingapp"
}

# The crate version (Cargo.toml's [workspace.package], which the suite checks
# this default against): each image is also tagged <version>[-variant] and,
# with REVISION, <version>[-variant]-<first 12 digits of REVISION>, the tags a
# production overlay pins (scripts/build-images.sh makes the same).
variable "VERSION" {
  default = "0.1.0"
}

function "versioned" {
  params = [image, variant]
  result = compact([
    "${REGISTRY}/${image}:${VERSION}${variant}",
    REVISION == "" ? "" : "${REGISTRY}/${image}:${VERSION}${variant}-${substr(REVISION, 0, 12)}",
  ])
}

# The OCI labels org.opencontainers.image.source, .revision and .created:
#   SOURCE=<repository address> REVISION=$(git rev-parse HEAD) \
#   CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) docker buildx bake
variable "SOURCE" {
  default = ""
}

variable "REVISION" {
  default = ""
}

variable "CREATED" {
  default = ""
}

group "default" {
  targets = ["vote-before", "vote-after", "result-before", "result-after", "worker", "seed"]
}

target "_common" {
  context    = "."
  dockerfile = "Dockerfile"
  platforms  = ["linux/amd64", "linux/arm64"]
  args = {
    VERSION  = "${VERSION}"
    SOURCE   = "${SOURCE}"
    REVISION = "${REVISION}"
    CREATED  = "${CREATED}"
  }
}

target "vote-before" {
  inherits = ["_common"]
  target   = "vote"
  args     = { OPTION_A = "Cats", OPTION_B = "Dogs" }
  tags     = concat(["${REGISTRY}/vote:before"], versioned("vote", "-before"))
}

target "vote-after" {
  inherits = ["_common"]
  target   = "vote"
  args     = { OPTION_A = "Java", OPTION_B = ".NET" }
  tags     = concat(["${REGISTRY}/vote:after"], versioned("vote", "-after"))
}

target "result-before" {
  inherits = ["_common"]
  target   = "result"
  args     = { OPTION_A = "Cats", OPTION_B = "Dogs" }
  tags     = concat(["${REGISTRY}/result:before"], versioned("result", "-before"))
}

target "result-after" {
  inherits = ["_common"]
  target   = "result"
  args     = { OPTION_A = "Java", OPTION_B = ".NET" }
  tags     = concat(["${REGISTRY}/result:after"], versioned("result", "-after"))
}

target "worker" {
  inherits = ["_common"]
  target   = "worker"
  tags     = concat(["${REGISTRY}/worker:latest"], versioned("worker", ""))
}

target "seed" {
  inherits = ["_common"]
  target   = "seed"
  tags     = concat(["${REGISTRY}/seed:latest"], versioned("seed", ""))
}

# One build for every image of the voting app. Dependencies are compiled in
# their own layer (cargo-chef), so a source change rebuilds only our crates.
# Final stages, one per image:
#   docker build --target vote   -t localhost/votingapp/vote:before .
#   docker build --target vote   --build-arg OPTION_A=Java --build-arg OPTION_B=.NET -t localhost/votingapp/vote:after .
#   docker build --target result -t localhost/votingapp/result:before .
#   docker build --target worker -t localhost/votingapp/worker:latest .
#   docker build --target seed   -t localhost/votingapp/seed:latest .
# or all of them: ./scripts/build-images.sh (plain docker build), or, for amd64
# and arm64 where buildx is installed, docker buildx bake (docker-bake.hcl).
#
# The two base images are build arguments, so a private mirror or an
# air-gapped site can point elsewhere (scripts/offline-images.sh builds both
# from Debian's packages; compose.offline.yaml uses them). The builder and the
# runtime must be the same Debian release (same glibc).
# checkov:skip=CKV_DOCKER_7: the base images are build arguments; their defaults carry version tags
ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS chef
# cargo-chef is built from source: no architecture-specific download.
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# Crates carried with a fix ([patch.crates-io] in Cargo.toml) are dependencies,
# not workspace members: the recipe has no copy of them, cook needs their source.
COPY patches patches
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bins -p vote -p result -p worker -p seed \
 && mkdir -p /out \
 && cp target/release/vote target/release/result target/release/worker target/release/seed /out/

# vote and result listen on port 80 as a non-root user: their binaries carry
# the one file capability that allows it (cap_net_bind_service), so Kubernetes
# pods need no sysctl for it (k8s/README.md says where Docker differs). A
# container must keep NET_BIND_SERVICE in its bounding set (`cap_drop: [ALL]`
# then `cap_add: [NET_BIND_SERVICE]`), or the kernel refuses to start them. A
# stage of its own, so that installing setcap is cached apart from the build.
FROM ${RUNTIME_IMAGE} AS capabilities
# hadolint ignore=DL3008
RUN command -v setcap >/dev/null \
 || { apt-get update && apt-get install -y --no-install-recommends libcap2-bin && rm -rf /var/lib/apt/lists/*; }
COPY --from=builder /out/vote /out/result /out/
RUN setcap cap_net_bind_service=+ep /out/vote \
 && setcap cap_net_bind_service=+ep /out/result

# The runtime: slim Debian of the same release as the build (same glibc); the
# binaries need nothing else. They run as a numeric non-root user that owns
# nothing in the image, and write nothing (a read-only root file system works).
# SOURCE, REVISION and CREATED fill the OCI labels of the same names
# (scripts/build-images.sh and scripts/compose.sh pass the checkout's remote,
# commit and the time of the build; empty otherwise).
FROM ${RUNTIME_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG SOURCE=""
ARG REVISION=""
ARG CREATED=""
LABEL org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="votingapp" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
# The builder's CA bundle (Debian's ca-certificates), so rediss:// and
# sslmode=verify-full work against publicly signed servers without a CA file.
COPY --from=chef /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
USER 10001:10001
ENV LOG_FORMAT=text RUST_LOG=info

FROM runtime AS vote
ARG OPTION_A=Cats
ARG OPTION_B=Dogs
LABEL org.opencontainers.image.title="votingapp vote" \
      org.opencontainers.image.description="The vote page of the voting app (${OPTION_A} vs ${OPTION_B})"
ENV OPTION_A=${OPTION_A} OPTION_B=${OPTION_B} PORT=80
COPY --from=capabilities /out/vote /usr/local/bin/vote
EXPOSE 80
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/usr/local/bin/vote", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/vote"]

FROM runtime AS result
ARG OPTION_A=Cats
ARG OPTION_B=Dogs
LABEL org.opencontainers.image.title="votingapp result" \
      org.opencontainers.image.description="The live results page of the voting app (${OPTION_A} vs ${OPTION_B})"
ENV OPTION_A=${OPTION_A} OPTION_B=${OPTION_B} PORT=80
COPY --from=capabilities /out/result /usr/local/bin/result
EXPOSE 80
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/usr/local/bin/result", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/result"]

FROM runtime AS worker
LABEL org.opencontainers.image.title="votingapp worker" \
      org.opencontainers.image.description="Moves votes from Redis to Postgres, losing none"
ENV PORT=8082
COPY --from=builder /out/worker /usr/local/bin/worker
EXPOSE 8082
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/usr/local/bin/worker", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/worker"]

FROM runtime AS seed
LABEL org.opencontainers.image.title="votingapp seed" \
      org.opencontainers.image.description="Load generator: casts votes at the vote service"
COPY --from=builder /out/seed /usr/local/bin/seed
ENTRYPOINT ["/usr/local/bin/seed"]
CMD ["--url", "http://vote/", "--votes", "3000", "--split", "2:1", "--concurrency", "50"]

# Rust builder base for sites without a registry: Debian bookworm with the Rust
# toolchain of the machine that builds it (copied, never downloaded), laid out
# like the official rust image (CARGO_HOME=/usr/local/cargo on PATH).
# Made by scripts/offline-images.sh; not an official image.
ARG BASE=votingapp-offline/debian:bookworm-slim
FROM ${BASE}
ARG RUST_VERSION
LABEL org.opencontainers.image.title="votingapp offline Rust builder" \
      org.opencontainers.image.description="Stand-in for rust:${RUST_VERSION}-slim-bookworm, built from Debian packages and the host's Rust toolchain" \
      org.opencontainers.image.version="${RUST_VERSION}" \
      io.votingapp.stand-in="true"
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
# The CA certificates this site trusts (a TLS-inspecting proxy in front of the
# crates registry, for one); the folder may be empty.
COPY ca-certificates/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
COPY toolchain/ /usr/local/rust/
ENV CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN mkdir -p /usr/local/cargo/bin && cargo --version && rustc --version

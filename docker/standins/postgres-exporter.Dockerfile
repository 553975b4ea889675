# postgres_exporter stand-in for sites and tests without a registry: Debian's
# prometheus-postgres-exporter (0.11.1, the version the official image in
# docker-compose.yml and k8s/app carries), run as the official image runs
# its binary: the entrypoint is the exporter, its flags are the command,
# DATA_SOURCE_* from the environment. Made by scripts/offline-images.sh; a
# test stand-in, never an official tag.
ARG BASE=votingapp-offline/debian:bookworm-slim
FROM ${BASE}
LABEL org.opencontainers.image.title="votingapp postgres_exporter stand-in" \
      org.opencontainers.image.description="TEST STAND-IN for the official postgres-exporter image, built from Debian's prometheus-postgres-exporter" \
      io.votingapp.stand-in="true"
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends prometheus-postgres-exporter \
 && rm -rf /var/lib/apt/lists/*
USER 65534:65534
EXPOSE 9187
ENTRYPOINT ["/usr/bin/prometheus-postgres-exporter"]

# redis_exporter stand-in for sites and tests without a registry: Debian's
# prometheus-redis-exporter (1.45.0, the version the official image in
# docker-compose.yml and k8s/app carries), run as the official image runs
# its binary: the entrypoint is the exporter, its flags are the command.
# Made by scripts/offline-images.sh; a test stand-in, never an official tag.
ARG BASE=votingapp-offline/debian:bookworm-slim
FROM ${BASE}
LABEL org.opencontainers.image.title="votingapp redis_exporter stand-in" \
      org.opencontainers.image.description="TEST STAND-IN for the official redis_exporter image, built from Debian's prometheus-redis-exporter" \
      io.votingapp.stand-in="true"
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends prometheus-redis-exporter \
 && rm -rf /var/lib/apt/lists/*
USER 65534:65534
EXPOSE 9121
ENTRYPOINT ["/usr/bin/prometheus-redis-exporter"]

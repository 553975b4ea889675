# Redis stand-in for sites and tests without a registry: Debian's redis-server,
# behaving like the official redis image where our compose file and manifests
# rely on it (see redis-entrypoint.sh). Made by scripts/offline-images.sh; it
# is a test stand-in and never takes an official tag.
ARG BASE=votingapp-offline/debian:bookworm-slim
FROM ${BASE}
LABEL org.opencontainers.image.title="votingapp Redis stand-in" \
      org.opencontainers.image.description="TEST STAND-IN for the official redis image, built from Debian's redis-server" \
      io.votingapp.stand-in="true"
# The official image's redis user is uid 999, gid 1000; the manifests run it so.
# hadolint ignore=DL3008
RUN groupadd --system --gid 1000 redis \
 && useradd --system --uid 999 --gid 1000 --home-dir /data --no-create-home redis \
 && apt-get update \
 && apt-get install -y --no-install-recommends redis-server redis-tools \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
VOLUME /data
EXPOSE 6379
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["redis-server"]

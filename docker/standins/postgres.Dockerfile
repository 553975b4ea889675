# Postgres stand-in for sites and tests without a registry: Debian's
# PostgreSQL 15, behaving like the official postgres image where our compose
# file and manifests rely on it (see postgres-entrypoint.sh). Made by
# scripts/offline-images.sh; a test stand-in, never under an official tag.
ARG BASE=votingapp-offline/debian:bookworm-slim
FROM ${BASE}
LABEL org.opencontainers.image.title="votingapp Postgres stand-in" \
      org.opencontainers.image.description="TEST STAND-IN for the official postgres image, built from Debian's postgresql-15" \
      io.votingapp.stand-in="true"
# uid/gid 70 as in the official alpine image, which the manifests run as;
# /var/lib/postgresql/data (the manifests' mount point) belongs to it, so a
# volume mounted there is writable without root. Debian's package must not
# create a cluster of its own.
# hadolint ignore=DL3008
RUN groupadd --system --gid 70 postgres \
 && useradd --system --uid 70 --gid 70 --home-dir /var/lib/postgresql --no-create-home --shell /bin/sh postgres \
 && mkdir -p /etc/postgresql-common \
 && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf \
 && apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
 && chmod 3777 /var/run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/15/docker
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]

# Patroni stand-in for sites and tests without a registry: the Postgres
# stand-in (Debian's PostgreSQL 15) with Debian's Patroni 3.0 and etcd 3.4,
# running docker/patroni/entrypoint.sh and patroni.yml as the registry image
# (docker/patroni/Dockerfile) does. Made by scripts/offline-images.sh
# (context: docker/); a test stand-in, never under an official tag.
ARG BASE=votingapp-offline/postgres-standin:15
FROM ${BASE}
LABEL org.opencontainers.image.title="votingapp Patroni stand-in" \
      org.opencontainers.image.description="TEST STAND-IN for docker/patroni/Dockerfile, built from Debian's patroni, python3-etcd and etcd-server" \
      io.votingapp.stand-in="true"
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends patroni python3-etcd etcd-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/etcd /etc/patroni \
 && chown -R postgres:postgres /var/lib/etcd
COPY patroni/entrypoint.sh /usr/local/bin/patroni-entrypoint.sh
COPY patroni/patroni.yml /etc/patroni/patroni.yml
# The base stand-in's postgres user, by number (hadolint DL3066).
USER 70:70
EXPOSE 5432 8008 2379 2380
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/patroni-entrypoint.sh"]
CMD ["patroni"]

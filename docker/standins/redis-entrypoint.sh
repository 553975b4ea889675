#!/bin/sh
# The part of the official redis image's entrypoint contract that the voting
# app uses: arguments starting with "-" go to redis-server; started as root,
# it takes ownership of /data and drops to the redis user; protected mode is
# off, as in the official image (the container's network is the boundary).
set -e
if [ "${1#-}" != "$1" ]; then
  set -- redis-server "$@"
fi
if [ "$1" = redis-server ]; then
  shift
  set -- redis-server --protected-mode no "$@"
  if [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
  fi
fi
exec "$@"

#!/bin/sh
# This pod's Redis: a replica of the master the Sentinels name or, when no
# Sentinel knows one yet (the first start), of redis-0; redis-0 itself then
# starts as the master. Every address is the pod's DNS name (redis-nodes is
# headless), so the Sentinels follow pods that restart with a new IP.
set -eu
self="$(hostname).redis-nodes"
master=""
for n in 0 1 2; do
  master=$(redis-cli -h "redis-$n.redis-nodes" -p 26379 --raw \
    SENTINEL get-master-addr-by-name votingapp 2>/dev/null | head -n 1) || true
  [ -n "$master" ] && break
done
[ -n "$master" ] || master=redis-0.redis-nodes
# --protected-mode no: what the official image's entrypoint adds when it
# starts redis-server without a config file (this script bypasses it);
# without it the replicas and Sentinels are refused.
set -- redis-server --protected-mode no --appendonly yes --appendfsync everysec \
  --replica-announce-ip "$self"
if [ "$master" != "$self" ]; then
  set -- "$@" --replicaof "$master" 6379
fi
echo "starting as $([ "$master" = "$self" ] && echo master || echo "replica of $master")"
exec "$@"

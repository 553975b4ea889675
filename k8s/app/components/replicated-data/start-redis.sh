#!/bin/sh
# This pod's Redis: a replica of the master the other pods' Sentinels name
# (not its own: restarted after a failover, it may still name this pod).
# When none answers (all nodes starting together), of the master this pod's
# Sentinel last knew (its config, on the node's volume: start-sentinel.sh);
# on the very first start, of redis-0, which then starts as the master.
# Every address is the pod's DNS name (redis-nodes is headless), so the
# Sentinels follow pods that restart with a new IP.
set -eu
self="$(hostname).redis-nodes"
master=""
for n in 0 1 2; do
  [ "redis-$n.redis-nodes" = "$self" ] && continue
  master=$(redis-cli -h "redis-$n.redis-nodes" -p 26379 --raw \
    SENTINEL get-master-addr-by-name votingapp 2>/dev/null | head -n 1) || true
  [ -n "$master" ] && break
done
if [ -z "$master" ] && [ -s /data/sentinel/sentinel.conf ]; then
  master=$(sed -n 's/^sentinel monitor votingapp \([^ ]*\) .*/\1/p' /data/sentinel/sentinel.conf)
  [ -z "$master" ] || echo "no Sentinel answers: following the master this node's Sentinel last knew"
fi
[ -n "$master" ] || master=redis-0.redis-nodes
# --protected-mode no: what the official image's entrypoint adds when it
# starts redis-server without a config file (this script bypasses it);
# without it the replicas and Sentinels are refused.
# maxmemory as in the base (k8s/app/base/redis.yaml): a full Redis refuses
# votes, and the worker still drains it.
set -- redis-server --protected-mode no --appendonly yes --appendfsync everysec \
  --maxmemory 384mb --maxmemory-policy noeviction \
  --replica-announce-ip "$self"
if [ "$master" != "$self" ]; then
  set -- "$@" --replicaof "$master" 6379
fi
echo "starting as $([ "$master" = "$self" ] && echo master || echo "replica of $master")"
exec "$@"

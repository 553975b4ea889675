#!/bin/sh
# This pod's Sentinel, watching the master the other Sentinels name (or
# redis-0 on the first start) as `votingapp`, with hostnames throughout.
# Sentinel rewrites its config file: it lives in an emptyDir.
set -eu
self="$(hostname).redis-nodes"
master=""
for n in 0 1 2; do
  [ "redis-$n.redis-nodes" = "$self" ] && continue
  master=$(redis-cli -h "redis-$n.redis-nodes" -p 26379 --raw \
    SENTINEL get-master-addr-by-name votingapp 2>/dev/null | head -n 1) || true
  [ -n "$master" ] && break
done
[ -n "$master" ] || master=redis-0.redis-nodes
cat > /sentinel/sentinel.conf <<CONF
port 26379
protected-mode no
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $self
sentinel monitor votingapp $master 6379 2
sentinel down-after-milliseconds votingapp 5000
sentinel failover-timeout votingapp 60000
sentinel parallel-syncs votingapp 1
CONF
exec redis-server /sentinel/sentinel.conf --sentinel

#!/bin/sh
# This pod's Sentinel, watching as `votingapp` the master the other
# Sentinels name, with hostnames throughout. Sentinel rewrites its config
# file with what it learns (its id, the epochs, the current master); the
# file lives on the node's volume, beside Redis's data. When no other
# Sentinel answers (all nodes starting together, as after a power cut), it
# starts again from that file, so the nodes still follow the master they
# last knew (start-redis.sh reads it too); on the very first start, redis-0.
# Delete /data/sentinel to start this Sentinel afresh.
# parallel-syncs 2: after a failover both other pods are pointed at the new
# master at once. With 1, the Sentinel may try the lost master first and
# wait out failover-timeout before the live replica follows: until then no
# replica confirms a vote and vote (REDIS_MIN_REPLICAS=1) refuses them all
# (seen on the test cluster: 60 s of 503s with failover-timeout 60000). Even
# so the live replica sometimes follows only at failover-timeout (20 s with
# 20000): 10000 keeps that wait short.
set -eu
dir=/data/sentinel
mkdir -p "$dir"
self="$(hostname).redis-nodes"
master=""
for n in 0 1 2; do
  [ "redis-$n.redis-nodes" = "$self" ] && continue
  master=$(redis-cli -h "redis-$n.redis-nodes" -p 26379 --raw \
    SENTINEL get-master-addr-by-name votingapp 2>/dev/null | head -n 1) || true
  [ -n "$master" ] && break
done
if [ -z "$master" ] && [ -s "$dir/sentinel.conf" ]; then
  echo "no other Sentinel answers: starting from this Sentinel's last config"
  exec redis-server "$dir/sentinel.conf" --sentinel
fi
[ -n "$master" ] || master=redis-0.redis-nodes
cat > "$dir/sentinel.conf.new" <<CONF
port 26379
protected-mode no
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $self
sentinel monitor votingapp $master 6379 2
sentinel down-after-milliseconds votingapp 5000
sentinel failover-timeout votingapp 10000
sentinel parallel-syncs votingapp 2
CONF
mv "$dir/sentinel.conf.new" "$dir/sentinel.conf"
exec redis-server "$dir/sentinel.conf" --sentinel

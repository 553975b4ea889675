#!/bin/sh
# This pod's Sentinel, watching the master the other Sentinels name (or
# redis-0 on the first start) as `votingapp`, with hostnames throughout.
# Sentinel rewrites its config file with what it learns (its id, the epochs,
# the current master): the file lives on the node's volume, beside Redis's
# data, and a later start goes on from it, so that all three nodes restarted
# together still agree on the promoted master (start-redis.sh reads it too).
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
if [ -s "$dir/sentinel.conf" ]; then
  exec redis-server "$dir/sentinel.conf" --sentinel
fi
self="$(hostname).redis-nodes"
master=""
for n in 0 1 2; do
  [ "redis-$n.redis-nodes" = "$self" ] && continue
  master=$(redis-cli -h "redis-$n.redis-nodes" -p 26379 --raw \
    SENTINEL get-master-addr-by-name votingapp 2>/dev/null | head -n 1) || true
  [ -n "$master" ] && break
done
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

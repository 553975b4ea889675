#!/bin/sh
# This node's Sentinel, watching as `votingapp` the master, with hostnames
# throughout. Sentinel rewrites its config with what it learns (its id, the
# epochs, the current master); the file lives on the node's volume, beside
# Redis's data, and a restarted Sentinel starts from it: its id and epochs
# stay, and the other Sentinels' hellos bring it any later failover (the
# higher config epoch wins, as Sentinel is designed). Only a Sentinel with no
# file (first start, or a lost volume) asks the others and watches the master
# named with the highest config epoch; when none answers, redis-0 (the first
# start of all three). Delete /data/sentinel to start this Sentinel afresh.
# parallel-syncs 2: after a failover both other nodes are pointed at the new
# master at once. With 1, the Sentinel may try the lost master first and
# wait out failover-timeout before the live replica follows: until then no
# replica confirms a vote and vote (REDIS_MIN_REPLICAS=1) refuses them all
# (seen on the test cluster: 60 s of 503s with failover-timeout 60000). Even
# so the live replica sometimes follows only at failover-timeout (20 s with
# 20000): 10000 keeps that wait short.
set -eu
# Until the exec below this shell is its container's first process, which
# ignores SIGTERM unless it traps it: a pod deleted while this waits for the
# Sentinels would take its whole 30 s grace period to go.
trap 'exit 143' TERM INT
. /scripts/sentinels.sh
mkdir -p "$(dirname "$conf")"
umask 077
# A file written under another name for this node (REDIS_NODE_NAME changed)
# would announce the old one: set aside, and this Sentinel starts afresh.
if [ -s "$conf" ] && ! announced; then
  echo "this Sentinel's config names the node otherwise than $self: set aside as $conf.old"
  mv "$conf" "$conf.old"
fi
if [ -s "$conf" ]; then
  echo "starting from this Sentinel's config: $(own_view)"
  # The password may have changed since the file was written.
  grep -v -e '^requirepass' -e '^user default ' -e '^sentinel auth-pass' -e '^sentinel sentinel-pass' \
    -e '^protected-mode' "$conf" > "$conf.new" || true
else
  master=$(other_views | latest | cut -d' ' -f2)
  [ -n "$master" ] || master=$(node_name 0)
  echo "no config yet: watching $master"
  cat > "$conf.new" <<CONF
port 26379
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $self
sentinel monitor $name $master 6379 2
sentinel down-after-milliseconds $name 5000
sentinel failover-timeout $name 10000
sentinel parallel-syncs $name 2
CONF
fi
cat >> "$conf.new" <<CONF
protected-mode yes
requirepass $REDIS_PASSWORD
sentinel auth-pass $name $REDIS_PASSWORD
sentinel sentinel-pass $REDIS_PASSWORD
CONF
mv "$conf.new" "$conf"
exec redis-server "$conf" --sentinel

#!/bin/sh
# The Redis container's preStop: a master asked to stop (its pod deleted, its
# node drained, a rolling update) hands over before it goes, so votes wait
# about a second instead of the Sentinels' down-after and a failover.
# Writes pause first (CLIENT PAUSE WRITE: the replicas keep receiving and
# catch up, so the one promoted holds every vote a replica confirmed), then
# another node's Sentinel fails over (this pod's own is stopping too), and
# the script waits until a Sentinel names another master, at most 15 s of the
# pod's 30 s grace. A replica, a master whose replicas are stopping too, or
# one no other Sentinel will fail over, stops at once. As Bitnami's Redis
# chart does in its prestop-redis.sh.
set -eu
# What it did goes to the container's log (a hook's own output is shown
# nowhere unless it fails).
if [ -w /proc/1/fd/1 ]; then exec >>/proc/1/fd/1 2>&1; fi
. /scripts/sentinels.sh
local_cli() { timeout 2 redis-cli "$@" 2>/dev/null; }
[ "$(local_cli ROLE | head -n 1)" = master ] || exit 0
echo "preStop: this node is the master: pausing writes"
local_cli CLIENT PAUSE 15000 WRITE >/dev/null || true
# Only when this pod alone stops: pods stopped together (a whole-tier
# restart) start from what the Sentinels said before, and a failover begun
# as they go would name a master that is gone. Their replicas' links drop
# within a second of the stop; then this stops as a lost master would.
sleep 1
replicas=$(local_cli INFO replication | tr -d '\r' | grep '^slave[0-9]*:' || true)
online=$(echo "$replicas" | grep -c 'state=online' || true)
if [ "$online" -lt 2 ]; then
  echo "preStop: $online of 2 replicas online: no handover, stopping;" $replicas
  local_cli CLIENT UNPAUSE >/dev/null || true
  exit 0
fi
asked=""
for n in $(other_nodes); do
  if timeout 2 redis-cli -h "$(node_name "$n")" -p 26379 SENTINEL FAILOVER "$name" 2>/dev/null | grep -q OK; then
    asked=$n
    echo "preStop: $(node_name "$n")'s Sentinel fails over"
    break
  fi
done
if [ -z "$asked" ]; then
  echo "preStop: no other Sentinel would fail over: stopping"
  local_cli CLIENT UNPAUSE >/dev/null || true
  exit 0
fi
until=$(($(date +%s) + 15))
while [ "$(date +%s)" -lt "$until" ]; do
  for n in $(other_nodes); do
    master=$(timeout 1 redis-cli -h "$(node_name "$n")" -p 26379 --raw SENTINEL get-master-addr-by-name "$name" 2>/dev/null | head -n 1)
    if [ -n "$master" ] && [ "$master" != "$self" ]; then
      echo "preStop: the Sentinels name $master: stopping"
      exit 0
    fi
  done
  sleep 0.5
done
echo "preStop: no other master named within 15 s: stopping all the same"

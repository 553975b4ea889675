#!/bin/sh
# This node's Redis: the master, or a replica of it, as the Sentinels say.
# It asks the other nodes' Sentinels and follows the answer with the highest
# config epoch (the latest failover), its own Sentinel's file counting as one
# more answer (start-sentinel.sh). It never starts as the master on its own
# file's word alone: restarted after a failover it missed, that file may
# still name this node, and a second master would take votes the others
# never see. Then it waits until another Sentinel agrees. Only the very
# first start (no Sentinel answers, no file) makes redis-0 the master alone.
set -eu
# Until the exec below this shell is its container's first process, which
# ignores SIGTERM unless it traps it: a pod deleted while this waits for the
# Sentinels would take its whole 30 s grace period to go.
trap 'exit 143' TERM INT
. /scripts/sentinels.sh
while :; do
  others=$(other_views)
  best=$( { [ -z "$others" ] || echo "$others"; own_view; } | latest)
  master=${best#* }
  if [ -z "$best" ]; then
    master=$(node_name 0)
    best="0 $master"
    echo "no Sentinel answers and none has a config: first start, the master is $master"
    break
  fi
  if [ "$master" != "$self" ]; then
    break
  fi
  # This node is the latest master named: only with another Sentinel's word.
  if echo "$others" | grep -q " $self\$"; then
    break
  fi
  echo "only this node's own config names it the master (${best%% *}): waiting for another Sentinel"
  sleep 2
done
# maxmemory as in the base (k8s/app/base/redis.yaml): a full Redis refuses
# votes, and the worker still drains it. The password goes in on stdin, so
# it is not on the command line for anyone to read.
set -- redis-server - --protected-mode yes --appendonly yes --appendfsync everysec \
  --maxmemory 384mb --maxmemory-policy noeviction \
  --replica-announce-ip "$self"
if [ "$master" != "$self" ]; then
  set -- "$@" --replicaof "$master" 6379
fi
# The epoch says which failover this start follows: two nodes may start as
# the master one after the other (a failover between them), never under
# the same epoch.
echo "starting as $([ "$master" = "$self" ] && echo master || echo "replica of $master")" \
  "(config epoch ${best%% *})"
exec "$@" <<CONF
requirepass $REDIS_PASSWORD
masterauth $REDIS_PASSWORD
CONF

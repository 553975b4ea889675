# Shared by start-redis.sh and start-sentinel.sh (sourced, POSIX sh): the
# password check and what the Sentinels say about the master.
#
# Node N (0, 1, 2; the hostname's ordinal: redis-N) is addressed by the name
# REDIS_NODE_NAME gives, N in place of %s. Each name must lead to the same
# node for as long as it lives: Sentinel resolves a name once and keeps the
# address (redis/redis#9103). On Kubernetes that is a Service per pod
# (redis-announce-N, a ClusterIP that outlives the pod's own address); in
# compose the default, a network alias on a fixed address.

name=votingapp
node_name() {
  # shellcheck disable=SC2059 # the format is the point
  printf "${REDIS_NODE_NAME:-redis-%s.redis-nodes}" "$1"
}
# How the start scripts reach node N's Sentinel while the tier may be
# starting: REDIS_PEER_NAME (on Kubernetes the pods' own names, ready or
# not, where node names lead to ready pods only), else the node's name.
peer_name() {
  # shellcheck disable=SC2059 # the format is the point
  printf "${REDIS_PEER_NAME:-${REDIS_NODE_NAME:-redis-%s.redis-nodes}}" "$1"
}
ordinal=$(hostname)
ordinal=${ordinal##*-}
self=$(node_name "$ordinal")
conf=/data/sentinel/sentinel.conf

# REDIS_PASSWORD guards Redis (requirepass, and masterauth for the replicas)
# and the Sentinels (requirepass, auth-pass, sentinel-pass) alike. It is
# written into config files, so only characters that need no quoting.
if [ -z "${REDIS_PASSWORD:-}" ]; then
  echo "REDIS_PASSWORD is not set: the replicated Redis runs only with a password" >&2
  exit 1
fi
case "$REDIS_PASSWORD" in
  *[!A-Za-z0-9._~+/=-]*)
    echo "REDIS_PASSWORD may hold only letters, digits and ._~+/=- (base64 and hex fit)" >&2
    exit 1
    ;;
esac
export REDISCLI_AUTH="$REDIS_PASSWORD"

# "<config-epoch> <master>" as the Sentinel of node $1 sees it, or nothing
# when it does not answer within 2 s.
sentinel_view() {
  timeout 2 redis-cli -h "$(peer_name "$1")" -p 26379 --raw SENTINEL MASTER "$name" 2>/dev/null |
    awk 'NR % 2 == 1 { key = $0; next }
         key == "ip" { ip = $0 } key == "config-epoch" { epoch = $0 }
         END { if (ip != "" && epoch != "") print epoch, ip }'
}

# The ordinals of the other nodes, one a line.
other_nodes() {
  for n in 0 1 2; do
    [ "$n" = "$ordinal" ] || echo "$n"
  done
}

# "<config-epoch> <master>" of the other nodes' Sentinels, one line each.
other_views() {
  for n in $(other_nodes); do
    sentinel_view "$n"
  done
}

# Whether this node's Sentinel config was written under its current name
# (a file from before REDIS_NODE_NAME changed names the nodes otherwise).
announced() {
  awk -v self="$self" '$1 == "sentinel" && $2 == "announce-ip" { gsub(/"/, "", $3); found = $3 == self }
    END { exit !found }' "$conf"
}

# "<config-epoch> <master>" from this node's Sentinel config, if it has one
# under its current name (what it last knew: Sentinel rewrites the file as
# it learns).
own_view() {
  [ -s "$conf" ] && announced || return 0
  awk -v name="$name" '$1 == "sentinel" && $2 == "monitor" && $3 == name { master = $4 }
    $1 == "sentinel" && $2 == "config-epoch" && $3 == name { epoch = $4 }
    END { if (master != "") print (epoch == "" ? 0 : epoch), master }' "$conf"
}

# The line with the highest config epoch among those on stdin (the first of
# equals): the master named by the latest failover anyone saw.
latest() {
  sort -s -k1,1nr | head -n 1
}

# Shared by start-redis.sh and start-sentinel.sh (sourced, POSIX sh): the
# password check and what the Sentinels say about the master.
#
# Each node is redis-N.redis-nodes (N = 0, 1, 2): a pod's DNS name behind the
# headless Service redis-nodes, or a compose network alias.

name=votingapp
self="$(hostname).redis-nodes"
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
  timeout 2 redis-cli -h "redis-$1.redis-nodes" -p 26379 --raw SENTINEL MASTER "$name" 2>/dev/null |
    awk 'NR % 2 == 1 { key = $0; next }
         key == "ip" { ip = $0 } key == "config-epoch" { epoch = $0 }
         END { if (ip != "" && epoch != "") print epoch, ip }'
}

# "<config-epoch> <master>" of the other nodes' Sentinels, one line each.
other_views() {
  for n in 0 1 2; do
    [ "redis-$n.redis-nodes" = "$self" ] && continue
    sentinel_view "$n"
  done
}

# "<config-epoch> <master>" from this node's Sentinel config, if it has one
# (what it last knew: Sentinel rewrites the file as it learns).
own_view() {
  [ -s "$conf" ] || return 0
  awk -v name="$name" '$1 == "sentinel" && $2 == "monitor" && $3 == name { master = $4 }
    $1 == "sentinel" && $2 == "config-epoch" && $3 == name { epoch = $4 }
    END { if (master != "") print (epoch == "" ? 0 : epoch), master }' "$conf"
}

# The line with the highest config epoch among those on stdin (the first of
# equals): the master named by the latest failover anyone saw.
latest() {
  sort -s -k1,1nr | head -n 1
}

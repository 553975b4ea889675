#!/usr/bin/env bash
# A real, one-node Kubernetes 1.20 on this machine, for the tests and for
# trying the workshop without a cloud: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, a kubelet running pods on this
# machine's Docker Engine (dockershim) and kube-proxy, all on this machine.
#
#   scripts/cluster.sh up [--api-only]   start it (--api-only: etcd and the API server alone,
#                                        enough for `kubectl apply --dry-run=server`)
#   scripts/cluster.sh down              stop everything it started and delete its state
#   scripts/cluster.sh status            what runs
#   scripts/cluster.sh build [--api-only] only build the binaries
#   then: export KUBECONFIG=/var/lib/votingapp/cluster/kubeconfig
#
# The binaries are built once from Debian bookworm's kubernetes source package
# (1.20.2) with Debian's Go into VOTINGAPP_CACHE (default /var/cache/votingapp);
# later runs reuse them. No CoreDNS can be had here, so a stand-in answers the
# pods' DNS: dnsmasq on the Docker bridge, fed every second from the API's
# Services and Endpoints. The pause image is built from the tree's pause.c.
# Pods get addresses on Docker's default bridge (no CNI plugin: one node).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

CACHE=${VOTINGAPP_CACHE:-/var/cache/votingapp}/k8s
BIN=$CACHE/bin
STATE=${VOTINGAPP_CLUSTER_DIR:-/var/lib/votingapp/cluster}
ETCD_PORT=${ETCD_PORT:-23790}
API_PORT=${API_PORT:-16443}
SERVICE_CIDR=10.96.0.0/24
API_SERVICE_IP=10.96.0.1
NODE_NAME=votingapp-node
PAUSE_IMAGE=votingapp-offline/pause:3.4.1
K8S_VERSION=v1.20.2
API_BINARIES=(kube-apiserver)
NODE_BINARIES=(kubelet kube-proxy kube-controller-manager kube-scheduler)

say() { printf '==> cluster: %s\n' "$*"; }

# The Kubernetes source tree, from Debian's source package (once); its path
# is the only thing printed on standard output.
source_tree() {
  local tree
  tree=$(ls -d "$CACHE"/src/kubernetes-*/ 2>/dev/null | head -n 1 || true)
  if [ -z "$tree" ]; then
    say "fetching Debian's kubernetes source package (34 MB, once)" >&2
    ensure_packages dpkg-source:dpkg-dev >&2
    mkdir -p "$CACHE/src"
    local list=/etc/apt/sources.list.d/votingapp-deb-src.sources uri
    uri=$(debian_mirror)
    printf 'Types: deb-src\nURIs: %s\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" |
      as_root tee "$list" >/dev/null
    as_root apt-get update -qq >&2
    (cd "$CACHE/src" && apt-get source -qq kubernetes >/dev/null 2>&1)
    as_root rm -f "$list"
    tree=$(ls -d "$CACHE"/src/kubernetes-*/ | head -n 1)
  fi
  echo "${tree%/}"
}

# build NAME...: builds the binaries that are missing into $BIN.
build() {
  local missing=() name tree
  for name in "$@"; do [ -x "$BIN/$name" ] || missing+=("$name"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  ensure_packages go:golang-go rsync:rsync make:make
  tree=$(source_tree)
  say "building ${missing[*]} from $tree (a few minutes, once)"
  mkdir -p "$tree/.go/src/k8s.io" "$BIN" "$CACHE/gocache"
  [ -L "$tree/.go/src/k8s.io/kubernetes" ] || ln -s ../../.. "$tree/.go/src/k8s.io/kubernetes"
  # This machine refuses a negative oom_score_adj for containers (`docker run
  # --oom-score-adj -998` fails: "can't get final child's PID from pipe: EOF"),
  # which the kubelet gives every pod's sandbox (-998) and Guaranteed pods'
  # containers (-997). The test kubelet uses 0 for both; nothing else differs.
  sed -i 's/defaultSandboxOOMAdj int = -998/defaultSandboxOOMAdj int = 0/' "$tree/pkg/kubelet/dockershim/docker_sandbox.go"
  sed -i 's/guaranteedOOMScoreAdj int = -997/guaranteedOOMScoreAdj int = 0/' "$tree/pkg/kubelet/qos/policy.go"
  local what=() start=$SECONDS
  for name in "${missing[@]}"; do what+=("cmd/$name"); done
  if ! (cd "$tree" && env GOPATH="$tree/.go" GOPROXY=off GOFLAGS= GOCACHE="$CACHE/gocache" CGO_ENABLED=0 \
      KUBE_GIT_VERSION=$K8S_VERSION KUBE_GIT_TREE_STATE=clean HOME="$CACHE" \
      make WHAT="${what[*]}") >"$CACHE/build.log" 2>&1; then
    tail -n 30 "$CACHE/build.log" >&2
    echo "error: building ${missing[*]} failed (whole log: $CACHE/build.log)" >&2
    exit 1
  fi
  for name in "${missing[@]}"; do cp "$tree/_output/bin/$name" "$BIN/"; done
  say "built ${missing[*]} in $((SECONDS - start)) s: $("$BIN/${missing[0]}" --version)"
}

# The pause container, from the tree's own source, statically linked.
pause_image() {
  docker image inspect "$PAUSE_IMAGE" >/dev/null 2>&1 && return 0
  local tree ctx
  tree=$(source_tree)
  ctx=$(mktemp -d)
  gcc -Os -Wall -Werror -static -DVERSION=v3.4.1-votingapp -o "$ctx/pause" "$tree/build/pause/linux/pause.c"
  printf 'FROM scratch\nLABEL io.votingapp.stand-in="true"\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t "$PAUSE_IMAGE" "$ctx" >/dev/null
  rm -rf "$ctx"
  say "built $PAUSE_IMAGE from build/pause/linux/pause.c"
}

pidfile() { echo "$STATE/run/$1.pid"; }

running() {
  local pid
  pid=$(cat "$(pidfile "$1")" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null
}

# start NAME COMMAND...: runs COMMAND in the background, logging to $STATE/logs/NAME.log.
start() {
  local name=$1
  shift
  if running "$name"; then return 0; fi
  setsid "$@" >"$STATE/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$(pidfile "$name")"
}

# The address pods and the node use: the Docker bridge's, or this machine's first.
node_ip() {
  local ip
  ip=$(ip -4 -o addr show docker0 2>/dev/null | awk '{ split($4, a, "/"); print a[1]; exit }')
  [ -n "$ip" ] || ip=$(hostname -I | awk '{ print $1 }')
  echo "$ip"
}

certificates() {
  local pki=$STATE/pki ip
  [ -f "$pki/apiserver.crt" ] && return 0
  ip=$(node_ip)
  mkdir -p "$pki"
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 \
      -subj /CN=votingapp-test-cluster-ca 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj /CN=kube-apiserver 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,IP:%s,IP:%s,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n' \
      "$API_SERVICE_IP" "$ip" >san.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt \
      -days 30 -extfile san.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    # One token, in the system:masters group: for kubectl and every component (a test cluster).
    echo "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'),admin,admin,system:masters" >tokens.csv
  )
}

kubeconfig() {
  local token
  token=$(cut -d, -f1 "$STATE/pki/tokens.csv")
  cat >"$STATE/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: votingapp
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $STATE/pki/ca.crt
users:
- name: admin
  user:
    token: $token
contexts:
- name: votingapp
  context: {cluster: votingapp, user: admin}
current-context: votingapp
EOF
  chmod 600 "$STATE/kubeconfig"
}

kubectl_() { kubectl --kubeconfig "$STATE/kubeconfig" "$@"; }

wait_for() { # WHAT SECONDS COMMAND...
  local what=$1 limit=$2
  shift 2
  local until=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $until ]; then
      echo "error: $what did not come up in $limit s; logs in $STATE/logs/" >&2
      tail -n 15 "$STATE/logs/"*.log >&2 || true
      return 1
    fi
    sleep 0.5
  done
}

up_api() { # [--api-only]
  # With a node, on every address: pods reach the API server through the
  # Service kubernetes (10.96.0.1:443, the node's address on the Docker
  # bridge behind it), as Patroni does (k8s/app/components/replicated-data).
  local bind=0.0.0.0
  [ "${1:-}" = --api-only ] && bind=127.0.0.1
  ensure_packages etcd:etcd-server openssl:openssl
  command -v kubectl >/dev/null || ensure_packages kubectl:kubernetes-client
  build "${API_BINARIES[@]}"
  mkdir -p "$STATE/run" "$STATE/logs" "$STATE/etcd"
  certificates
  kubeconfig
  start etcd etcd --name votingapp --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "votingapp=http://127.0.0.1:$((ETCD_PORT + 1))"
  local pki=$STATE/pki
  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address "$bind" --secure-port "$API_PORT" --advertise-address "$(node_ip)" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" --token-auth-file "$pki/tokens.csv" \
    --authorization-mode Node,RBAC --allow-privileged=true \
    --service-cluster-ip-range "$SERVICE_CIDR" --service-node-port-range 30000-32767 \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --kubelet-preferred-address-types InternalIP \
    --enable-admission-plugins NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,ResourceQuota
  wait_for "the API server" 90 kubectl_ get --raw /readyz
  say "API server $K8S_VERSION ready on https://127.0.0.1:$API_PORT"
}

# The DNS stand-in's records: every Service's cluster IP (a headless one: its
# endpoints' pod IPs, and <hostname>.<svc> for StatefulSet pods) under
# <svc>.<ns>.svc.cluster.local. Fails, writing nothing, when either list
# cannot be read: a partial list would drop live names until the next pass.
dns_records() {
  local services endpoints
  services=$(kubectl_ get svc -A -o jsonpath='{range .items[*]}svc {.metadata.namespace} {.metadata.name} {.spec.clusterIP}{"\n"}{end}') || return 1
  endpoints=$(kubectl_ get endpoints -A -o go-template='{{range .items}}{{$n := .metadata.name}}{{$ns := .metadata.namespace}}{{range .subsets}}{{range .addresses}}ep {{$ns}} {{$n}} {{.ip}} {{or .hostname "-"}}{{"\n"}}{{end}}{{end}}{{end}}') || return 1
  printf '%s\n%s\n' "$services" "$endpoints" | awk '
    $1 == "svc" { ip[$2 " " $3] = $4; if ($4 != "None") print $4, $3 "." $2 ".svc.cluster.local" }
    $1 == "ep" { ep[++n] = $0 }
    END {
      for (i = 1; i <= n; i++) {
        split(ep[i], e, " ")
        if (ip[e[2] " " e[3]] != "None") continue
        name = e[3] "." e[2] ".svc.cluster.local"
        print e[4], name (e[5] != "-" ? " " e[5] "." name : "")
      }
    }' | sort
}

# The test cluster's volumes are hostPath folders with no provisioner: once
# a claim is gone (its namespace deleted), the folder is emptied and the
# volume offered again, as a provisioner's "Delete" would do.
recycle_volumes() {
  local name path
  kubectl_ get pv -l votingapp-test-cluster=true \
    -o jsonpath='{range .items[?(@.status.phase=="Released")]}{.metadata.name} {.spec.hostPath.path}{"\n"}{end}' 2>/dev/null |
    while read -r name path; do
      [ -n "$path" ] && [ "${path#"$STATE"/volumes/}" != "$path" ] || continue
      find "$path" -mindepth 1 -delete 2>/dev/null || true
      kubectl_ patch pv "$name" --type json -p '[{"op": "remove", "path": "/spec/claimRef"}]' >/dev/null 2>&1 || true
    done
}

# Rewrites the stand-in's hosts file each second (dnsmasq re-reads it on
# SIGHUP), recycles released volumes, and turns hairpin on for the bridge's ports, so that a pod reaches
# itself through its own Service.
dns_feed() {
  local hosts=$STATE/dns/hosts port
  while true; do
    if dns_records >"$hosts.new" && ! cmp -s "$hosts.new" "$hosts"; then
      mv "$hosts.new" "$hosts"
      kill -HUP "$(cat "$(pidfile dnsmasq)")" 2>/dev/null || true
    fi
    recycle_volumes
    for port in /sys/class/net/docker0/brif/*/hairpin_mode; do
      [ "$(cat "$port" 2>/dev/null)" = 1 ] || { echo 1 >"$port"; } 2>/dev/null || true
    done
    sleep 1
  done
}

up_node() {
  ensure_packages dnsmasq:dnsmasq-base gcc:gcc iptables:iptables conntrack:conntrack
  require_docker
  build "${NODE_BINARIES[@]}"
  pause_image
  local ip pki=$STATE/pki
  ip=$(node_ip)
  mkdir -p "$STATE/kubelet" "$STATE/dns" "$STATE/volumes"
  touch "$STATE/dns/hosts"
  start dnsmasq dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces \
    --listen-address "$ip" --port 53 --addn-hosts "$STATE/dns/hosts" --local /cluster.local/ \
    --domain-needed --log-queries --log-facility -
  start dns-feed "$PWD/scripts/cluster.sh" dns-feed
  start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig "$STATE/kubeconfig" \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --use-service-account-credentials=false --leader-elect=false \
    --bind-address 127.0.0.1 --secure-port 0 --port 0
  start kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$STATE/kubeconfig" --leader-elect=false \
    --bind-address 127.0.0.1 --secure-port 0 --port 0
  cat >"$STATE/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $ip
readOnlyPort: 0
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
clusterDNS: [$ip]
clusterDomain: cluster.local
resolvConf: ""
# From 1.22 this sysctl is in the safe set; 1.20 must be told.
allowedUnsafeSysctls: ["net.ipv4.ip_unprivileged_port_start"]
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
  start kubelet "$BIN/kubelet" --config "$STATE/kubelet/config.yaml" --kubeconfig "$STATE/kubeconfig" \
    --container-runtime docker --docker-endpoint unix:///var/run/docker.sock \
    --pod-infra-container-image "$PAUSE_IMAGE" --root-dir "$STATE/kubelet" \
    --cert-dir "$STATE/kubelet/pki" --hostname-override "$NODE_NAME" --node-ip "$ip"
  start kube-proxy "$BIN/kube-proxy" --kubeconfig "$STATE/kubeconfig" --hostname-override "$NODE_NAME" \
    --proxy-mode iptables --masquerade-all --cluster-cidr 172.17.0.0/16 --conntrack-max-per-core 0 \
    --bind-address 127.0.0.1 --healthz-bind-address 127.0.0.1:10256 --metrics-bind-address 127.0.0.1:10249
  wait_for "the node" 120 node_ready
  # Volumes for claims: no provisioner here, so a few PersistentVolumes on this disk.
  local n
  for n in 1 2 3 4 5 6; do
    mkdir -p "$STATE/volumes/pv$n"
    chmod 777 "$STATE/volumes/pv$n"
    kubectl_ apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolume
metadata: {name: votingapp-pv$n, labels: {votingapp-test-cluster: "true"}}
spec:
  capacity: {storage: 5Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: $STATE/volumes/pv$n}
EOF
  done
  say "node $NODE_NAME ready ($ip); pods resolve Services through the DNS stand-in at $ip"
}

node_ready() {
  [ "$(kubectl_ get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

down() {
  local name
  if [ -f "$STATE/kubeconfig" ] && running kube-apiserver && running kubelet; then
    # Pods first, while the kubelet can still stop them.
    kubectl_ delete namespace --all --wait=false >/dev/null 2>&1 || true
  fi
  for name in kube-proxy kubelet dns-feed dnsmasq kube-scheduler kube-controller-manager kube-apiserver etcd; do
    if running "$name"; then
      kill -TERM -- "-$(cat "$(pidfile "$name")")" 2>/dev/null || kill -TERM "$(cat "$(pidfile "$name")")" 2>/dev/null || true
    fi
  done
  sleep 1
  for name in kube-proxy kubelet dns-feed dnsmasq kube-scheduler kube-controller-manager kube-apiserver etcd; do
    running "$name" && kill -KILL -- "-$(cat "$(pidfile "$name")")" 2>/dev/null || true
  done
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    # The pods' containers (dockershim names them k8s_*).
    docker ps -aq --filter name=^/k8s_ | xargs -r docker rm -f -v >/dev/null 2>&1 || true
  fi
  if command -v iptables >/dev/null; then
    # kube-proxy's rules: its own chains, and the jumps into them.
    iptables-save 2>/dev/null | grep -q KUBE- && "${BIN}/kube-proxy" --cleanup >/dev/null 2>&1 || true
  fi
  if [ -d "$STATE" ]; then
    grep " $STATE/" /proc/mounts | awk '{ print $2 }' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$STATE"
  fi
  say "stopped; state removed"
}

status() {
  local name
  for name in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy dnsmasq dns-feed; do
    if running "$name"; then echo "$name: running (pid $(cat "$(pidfile "$name")"))"; else echo "$name: stopped"; fi
  done
  if running kube-apiserver; then
    echo "KUBECONFIG=$STATE/kubeconfig"
    kubectl_ get nodes 2>/dev/null || true
  fi
}

command=${1:-}
mode=${2:-}
case $command in
  up)
    up_api "$mode"
    [ "$mode" = --api-only ] || up_node
    echo "export KUBECONFIG=$STATE/kubeconfig"
    ;;
  build)
    build "${API_BINARIES[@]}"
    [ "$mode" = --api-only ] || build "${NODE_BINARIES[@]}"
    ;;
  down) down ;;
  status) status ;;
  dns-feed) dns_feed ;;
  *) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; [ -z "$command" ] || exit 2 ;;
esac

#!/usr/bin/env bash
# A second (third, ...) real Docker Engine on this machine, in its own network namespace,
# for tests of Ankyra on remote engines. Facts behind it: docs in design/multihost.md.
#
#   scripts/docker-host.sh up NAME INDEX   start host NAME (idempotent; quick when up)
#   scripts/docker-host.sh env NAME        print its address, TLS files and subnet pool
#   scripts/docker-host.sh down NAME       stop it and remove everything it made
#
# Layout (INDEX i in 0..=20):
#   - namespace `ankyra-sw` holds bridge `br0`, the "switch" joining the hosts: the main
#     dockerd sets the host's FORWARD policy to DROP, so the bridge cannot live there;
#   - the host namespace (where Ankyra runs) gets veth `ank-host` with 198.51.100.1/24;
#   - host NAME: namespace NAME, eth0 198.51.100.(10+i)/24, no default route (nothing
#     leaves the machine), hostname NAME, its own dockerd (and containerd) with its own
#     config file, data root, exec root, pidfile, unix socket, bridge 172.(30+i).0.1/24,
#     address pools in 172.(30+i).64.0/18, and a TLS API (client certificates required)
#     on 198.51.100.(10+i):2376;
#   - the networks Ankyra makes on host i are /24s in 10.(232+i).0.0/16, routed from the
#     host namespace via 198.51.100.(10+i); DOCKER-USER accepts that forwarded traffic.
#
# State (certificates, data root, logs) lives in ${ANKYRA_HOSTS_DIR:-/tmp/ankyra-hosts}/NAME.
# Runs as root. The test subnet 198.51.100.0/24 (TEST-NET-2) must be unused here: checked.
set -euo pipefail

HOSTS_DIR=${ANKYRA_HOSTS_DIR:-/tmp/ankyra-hosts}
SWITCH_NS=ankyra-sw
HOST_VETH=ank-host
NET_PREFIX=198.51.100
HOST_IP=$NET_PREFIX.1

die() { echo "docker-host: $*" >&2; exit 1; }
log() { echo "docker-host: $*" >&2; }

usage() {
    sed -n '5,7p' "$0" | sed 's/^# *//' >&2
    exit 2
}

check_name() {
    [[ $1 =~ ^[a-z][a-z0-9-]{0,10}$ ]] ||
        die "host name '$1' must be 1-11 characters of a-z, 0-9, '-' (it names links too)"
}

# Per-host values, from NAME and INDEX.
host_vars() {
    NAME=$1
    INDEX=$2
    [[ $INDEX =~ ^[0-9]+$ ]] && ((INDEX <= 20)) || die "index '$INDEX' must be 0..20"
    DIR=$HOSTS_DIR/$NAME
    IP=$NET_PREFIX.$((10 + INDEX))
    POOL=10.$((232 + INDEX)).0.0/16
    SOCK=$DIR/docker.sock
    PIDFILE=$DIR/dockerd.pid
    EXEC_ROOT=$DIR/exec
    DATA_ROOT=$DIR/data
    SW_VETH=sw-$NAME
}

# The index a host was brought up with, from its state dir.
saved_index() {
    [[ -f $HOSTS_DIR/$1/index ]] || die "host $1 is not up (no $HOSTS_DIR/$1/index)"
    cat "$HOSTS_DIR/$1/index"
}

ns_exists() { [[ -e /run/netns/$1 ]]; }
in_ns() { local ns=$1; shift; nsenter --net=/run/netns/"$ns" "$@"; }

# 198.51.100.0/24 must not be a network this machine already uses (outside our own links).
check_subnet_free() {
    local used
    used=$(ip -4 -o addr show | awk -v veth="$HOST_VETH" '$2 != veth {print $4}' | grep -E "^198\.51\.100\." || true)
    [[ -z $used ]] || die "198.51.100.0/24 is in use on this machine ($used): pick another test subnet"
}

ensure_switch() {
    if ! ns_exists "$SWITCH_NS"; then
        ip netns add "$SWITCH_NS"
    fi
    in_ns "$SWITCH_NS" ip link set lo up
    if ! in_ns "$SWITCH_NS" ip link show br0 >/dev/null 2>&1; then
        in_ns "$SWITCH_NS" ip link add br0 type bridge
    fi
    in_ns "$SWITCH_NS" ip link set br0 up
    if ! ip link show "$HOST_VETH" >/dev/null 2>&1; then
        ip link add "$HOST_VETH" type veth peer name "$HOST_VETH-sw"
        ip link set "$HOST_VETH-sw" netns "$SWITCH_NS"
        in_ns "$SWITCH_NS" ip link set "$HOST_VETH-sw" master br0 up
    fi
    ip addr replace "$HOST_IP/24" dev "$HOST_VETH"
    ip link set "$HOST_VETH" up
}

ensure_host_net() {
    if ! ns_exists "$NAME"; then
        ip netns add "$NAME"
    fi
    in_ns "$NAME" ip link set lo up
    if ! in_ns "$NAME" ip link show eth0 >/dev/null 2>&1; then
        ip link add "$SW_VETH" type veth peer name "$NAME-e0"
        ip link set "$SW_VETH" netns "$SWITCH_NS"
        in_ns "$SWITCH_NS" ip link set "$SW_VETH" master br0 up
        ip link set "$NAME-e0" netns "$NAME"
        in_ns "$NAME" ip link set "$NAME-e0" name eth0
    fi
    # A fixed MAC per index: a host brought down and up again keeps its MAC, so the
    # neighbour caches here and on the other hosts stay right (a stale entry costs
    # ~5 s of lost packets until the kernel probes again).
    in_ns "$NAME" ip link set eth0 address "02:a5:c6:33:64:$(printf %02x $((10 + INDEX)))"
    in_ns "$NAME" ip addr replace "$IP/24" dev eth0
    in_ns "$NAME" ip link set eth0 up
    ip neigh del "$IP" dev "$HOST_VETH" 2>/dev/null || true
}

make_certs() {
    local c=$DIR/certs
    [[ -s $c/client-key.pem && -s $c/server-cert.pem ]] && return 0
    mkdir -p "$c"
    (
        cd "$c"
        umask 077
        local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
        openssl req -x509 "${ec[@]}" -keyout ca-key.pem -out ca.pem -days 3650 \
            -subj "/CN=ankyra test CA for $NAME" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
        openssl req "${ec[@]}" -keyout server-key.pem -out server.csr -subj "/CN=$NAME" 2>/dev/null
        printf '%s\n' "subjectAltName=IP:$IP,DNS:$NAME" "basicConstraints=CA:FALSE" \
            "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
            -days 825 -extfile server.ext -out server-cert.pem 2>/dev/null
        openssl req "${ec[@]}" -keyout client-key.pem -out client.csr -subj "/CN=ankyra" 2>/dev/null
        printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
            "extendedKeyUsage=clientAuth" >client.ext
        openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
            -days 825 -extfile client.ext -out client-cert.pem 2>/dev/null
        rm -f server.csr client.csr server.ext client.ext ca.srl
        chmod 0600 ./*-key.pem
        chmod 0644 ca.pem server-cert.pem client-cert.pem
    )
}

write_config() {
    local storage
    # Same storage driver as the main engine (fuse-overlayfs on these machines).
    storage=$(docker info --format '{{.Driver}}' 2>/dev/null || echo fuse-overlayfs)
    cat >"$DIR/daemon.json" <<EOF
{
  "hosts": ["unix://$SOCK", "tcp://$IP:2376"],
  "tls": true,
  "tlsverify": true,
  "tlscacert": "$DIR/certs/ca.pem",
  "tlscert": "$DIR/certs/server-cert.pem",
  "tlskey": "$DIR/certs/server-key.pem",
  "data-root": "$DATA_ROOT",
  "exec-root": "$EXEC_ROOT",
  "pidfile": "$PIDFILE",
  "bip": "172.$((30 + INDEX)).0.1/24",
  "default-address-pools": [{"base": "172.$((30 + INDEX)).64.0/18", "size": 24}],
  "cgroup-parent": "ankyra-$NAME",
  "storage-driver": "$storage",
  "log-driver": "json-file",
  "log-opts": {"max-size": "10m", "max-file": "2"}
}
EOF
}

dockerd_pid() {
    local pid
    [[ -s $PIDFILE ]] || return 1
    pid=$(cat "$PIDFILE")
    [[ -d /proc/$pid ]] && grep -q dockerd "/proc/$pid/comm" 2>/dev/null && echo "$pid"
}

answers() { docker -H "unix://$SOCK" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

start_dockerd() {
    mkdir -p "$DATA_ROOT" "$EXEC_ROOT"
    # nsenter, not `ip netns exec`: the latter remounts /sys and hides the cgroup v1
    # mounts dockerd needs. unshare --uts gives the host its own hostname.
    setsid nsenter --net=/run/netns/"$NAME" unshare --uts \
        sh -c 'hostname "$1"; shift; exec "$@"' sh "$NAME" \
        dockerd --config-file "$DIR/daemon.json" \
        >>"$DIR/dockerd.log" 2>&1 </dev/null 9>&- &
    local deadline=$((SECONDS + 30))
    until answers; do
        if ((SECONDS > deadline)); then
            tail -n 20 "$DIR/dockerd.log" >&2 || true
            die "dockerd of host $NAME did not answer on $SOCK within 30 s (log: $DIR/dockerd.log)"
        fi
        sleep 0.2
    done
}

ensure_forwarding() {
    # Routed traffic from the host namespace to containers on this engine's networks.
    in_ns "$NAME" iptables -C DOCKER-USER -j ACCEPT 2>/dev/null ||
        in_ns "$NAME" iptables -I DOCKER-USER -j ACCEPT
    ip route replace "$POOL" via "$IP" dev "$HOST_VETH"
}

cmd_up() {
    [[ $# -eq 2 ]] || usage
    check_name "$1"
    host_vars "$1" "$2"
    [[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces, dockerd)"
    if [[ -f $DIR/index && $(cat "$DIR/index") != "$INDEX" ]]; then
        die "host $NAME is already up with index $(cat "$DIR/index"); take it down first"
    fi
    local other
    for other in "$HOSTS_DIR"/*/index; do
        [[ -f $other && $other != "$DIR/index" && $(cat "$other") == "$INDEX" ]] &&
            die "index $INDEX is taken by host $(basename "$(dirname "$other")")"
    done
    local t0=$SECONDS
    if dockerd_pid >/dev/null && answers; then
        ensure_forwarding
        log "host $NAME is up ($IP)"
        return 0
    fi
    check_subnet_free
    mkdir -p "$DIR"
    chmod 0700 "$DIR"
    echo "$INDEX" >"$DIR/index"
    ensure_switch
    ensure_host_net
    make_certs
    write_config
    if pid=$(dockerd_pid); then
        log "dockerd $pid of host $NAME does not answer: restarting it"
        stop_dockerd
    fi
    start_dockerd
    ensure_forwarding
    log "host $NAME is up ($IP, dockerd $(dockerd_pid), $((SECONDS - t0)) s)"
}

cmd_env() {
    [[ $# -eq 1 ]] || usage
    local index
    index=$(saved_index "$1") || exit 1
    host_vars "$1" "$index"
    cat <<EOF
DOCKER_HOST=tcp://$IP:2376
ANKYRA_HOST_IP=$IP
ANKYRA_HOST_CA=$DIR/certs/ca.pem
ANKYRA_HOST_CERT=$DIR/certs/client-cert.pem
ANKYRA_HOST_KEY=$DIR/certs/client-key.pem
ANKYRA_HOST_SUBNET_POOL=$POOL
ANKYRA_HOST_SOCKET=unix://$SOCK
EOF
}

stop_dockerd() {
    local pid containerd_pid
    containerd_pid=$(cat "$EXEC_ROOT/containerd/containerd.pid" 2>/dev/null || true)
    if pid=$(dockerd_pid); then
        kill -TERM "$pid"
        local deadline=$((SECONDS + 20))
        while [[ -d /proc/$pid ]] && ((SECONDS < deadline)); do sleep 0.2; done
        if [[ -d /proc/$pid ]]; then
            log "dockerd $pid did not stop in 20 s: killing it"
            kill -KILL "$pid" || true
        fi
    fi
    # Its containerd normally leaves with it; make sure (by its own pidfile only).
    if [[ -n $containerd_pid && -d /proc/$containerd_pid ]] &&
        grep -q containerd "/proc/$containerd_pid/comm" 2>/dev/null; then
        kill -TERM "$containerd_pid" || true
        sleep 1
        [[ -d /proc/$containerd_pid ]] && kill -KILL "$containerd_pid" || true
    fi
    rm -f "$PIDFILE"
}

cmd_down() {
    [[ $# -eq 1 ]] || usage
    check_name "$1"
    local index=0
    [[ -f $HOSTS_DIR/$1/index ]] && index=$(cat "$HOSTS_DIR/$1/index")
    host_vars "$1" "$index"
    stop_dockerd
    # Mounts left under its data and exec roots (container root file systems, netns files).
    local m
    while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done < <(awk -v d="$DIR/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r)
    if [[ -f $HOSTS_DIR/$1/index ]]; then
        ip route del "$POOL" via "$IP" 2>/dev/null || true
    fi
    ns_exists "$SWITCH_NS" && in_ns "$SWITCH_NS" ip link del "$SW_VETH" 2>/dev/null || true
    ns_exists "$NAME" && ip netns del "$NAME" || true
    ip neigh del "$IP" dev "$HOST_VETH" 2>/dev/null || true
    rm -rf "$DIR"
    # The last host out removes the switch and the host's link to it.
    if ! compgen -G "$HOSTS_DIR/*/index" >/dev/null; then
        ip link del "$HOST_VETH" 2>/dev/null || true
        ns_exists "$SWITCH_NS" && ip netns del "$SWITCH_NS" || true
    fi
    log "host $NAME is down"
}

# One change at a time: two tests bringing hosts up together share the switch.
lock() {
    mkdir -p "$HOSTS_DIR"
    exec 9>"$HOSTS_DIR/.lock"
    flock -w 120 9 || die "another docker-host.sh held $HOSTS_DIR/.lock for 120 s"
}

case ${1:-} in
up) shift; lock; cmd_up "$@" ;;
env) shift; cmd_env "$@" ;;
down) shift; lock; cmd_down "$@" ;;
*) usage ;;
esac

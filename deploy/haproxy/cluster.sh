#!/usr/bin/env bash
# Three jukebox-server replicas on loopback behind HAProxy (haproxy.cfg beside this script), for a
# demo, the benchmark (bench/scale.sh) and by hand.
#
#   cluster.sh start RUN_DIR SERVER_ARGS...   start the replicas and HAProxy, wait until all are up
#   cluster.sh restart RUN_DIR N              SIGTERM replica N, wait for it to exit, start it again
#   cluster.sh kill RUN_DIR N                 kill -9 replica N and start it again
#   cluster.sh status RUN_DIR                 HAProxy's view: each replica's state and sessions
#   cluster.sh stop RUN_DIR                   stop everything
#   cluster.sh demo SERVER_ARGS...            start in a temporary folder; Ctrl-C stops it all
#
# SERVER_ARGS are jukebox-server's, e.g. --music music or --catalog s3://bucket/prefix.
# Environment: JUKEBOX_SERVER (the binary; default target/release/jukebox-server, else the one in
# PATH), JUKEBOX_PORT (the balancer's port, default 5853; replicas use the next three),
# JUKEBOX_PROXY_PROTOCOL=1 to run the replicas with --proxy-protocol (HAProxy sends PROXY v2).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
port=${JUKEBOX_PORT:-5853}

die() { echo "cluster.sh: $*" >&2; exit 1; }

find_server() {
    server=${JUKEBOX_SERVER:-}
    [[ -n $server ]] && return 0
    if [[ -x $root/target/release/jukebox-server ]]; then server=$root/target/release/jukebox-server
    else server=$(command -v jukebox-server) || die "no jukebox-server; build it or set JUKEBOX_SERVER"
    fi
}

# Sends one command to HAProxy's admin socket and prints the answer.
admin() {
    python3 - "$1/haproxy.sock" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
out = b""
while chunk := s.recv(65536):
    out += chunk
sys.stdout.write(out.decode())
PY
}

# Prints "NAME STATUS SESSIONS" per replica.
status() {
    admin "$1" "show stat" | awk -F, '$1 == "replicas" && $2 ~ /^replica/ { print $2, $18, $5 }'
}

# Waits (at most 30 s) until HAProxy says every replica is UP.
wait_up() {
    for _ in $(seq 300); do
        if [[ -S $1/haproxy.sock ]] &&
            [[ $(admin "$1" "show stat" 2>/dev/null | awk -F, '$1 == "replicas" && $2 ~ /^replica/ && $18 == "UP"' | wc -l) == 3 ]]; then
            return 0
        fi
        sleep 0.1
    done
    status "$1" >&2 || true
    die "the replicas did not all come up within 30 s"
}

start_replica() {
    local dir=$1 n=$2
    [[ -n ${server:-} ]] || find_server
    local args=()
    read -r -a args < "$dir/server-args" || true
    if [[ ${JUKEBOX_PROXY_PROTOCOL:-0} != 0 ]]; then args+=(--proxy-protocol); fi
    "$server" "${args[@]}" --listen "127.0.0.1:$((port + n))" >>"$dir/replica$n.log" 2>&1 &
    echo $! >"$dir/replica$n.pid"
}

# Waits (at most 60 s) for process $1 to end.
wait_gone() {
    for _ in $(seq 600); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    die "process $1 still runs after 60 s"
}

cmd=${1:-}
shift || true
case $cmd in
start)
    dir=${1:?RUN_DIR}; shift
    mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
    echo "$*" >"$dir/server-args"
    for n in 1 2 3; do start_replica "$dir" "$n"; done
    export JUKEBOX_LISTEN=127.0.0.1:$port JUKEBOX_HAPROXY_SOCKET=$dir/haproxy.sock
    for n in 1 2 3; do export "JUKEBOX_REPLICA$n=127.0.0.1:$((port + n))"; done
    if [[ ${JUKEBOX_PROXY_PROTOCOL:-0} == 0 ]]; then export JUKEBOX_NO_PROXY_PROTOCOL=1; fi
    haproxy -db -f "$here/haproxy.cfg" >>"$dir/haproxy.log" 2>&1 &
    echo $! >"$dir/haproxy.pid"
    wait_up "$dir"
    echo "jukebox at 127.0.0.1:$port: 3 replicas (127.0.0.1:$((port + 1))-$((port + 3))), logs in $dir"
    ;;
restart|kill)
    dir=${1:?RUN_DIR}; n=${2:?replica number}
    pid=$(cat "$dir/replica$n.pid")
    if [[ $cmd == restart ]]; then kill -TERM "$pid"; else kill -KILL "$pid"; fi
    wait_gone "$pid"
    start_replica "$dir" "$n"
    wait_up "$dir"
    ;;
status)
    status "${1:?RUN_DIR}"
    ;;
stop)
    dir=${1:?RUN_DIR}
    for f in "$dir"/haproxy.pid "$dir"/replica*.pid; do
        [[ -f $f ]] && kill -TERM "$(cat "$f")" 2>/dev/null || true
    done
    for f in "$dir"/haproxy.pid "$dir"/replica*.pid; do
        [[ -f $f ]] && { wait_gone "$(cat "$f")"; rm -f "$f"; }
    done
    ;;
demo)
    dir=$(mktemp -d)
    trap '"$0" stop "$dir"; rm -rf "$dir"' EXIT
    "$0" start "$dir" "$@"
    echo "try: jukebox --server 127.0.0.1:$port; Ctrl-C stops the demo"
    trap 'exit 0' INT TERM
    while kill -0 "$(cat "$dir/haproxy.pid")" 2>/dev/null; do sleep 1; done
    ;;
*)
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac

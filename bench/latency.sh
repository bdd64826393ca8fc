#!/usr/bin/env bash
# Latency probes (jukebox-bench latency) on loopback and over a 1 Mbit/s link, each with the
# server's default TCP_NOTSENT_LOWAT and with it off, to show what bounding the kernel's unsent
# queue does for a LIST sent while a long transfer streams on the same connection.
#
# The slow link is this machine's loopback inside a private network namespace (unshare -n, needs
# root), with MTU 1500 and a tc htb qdisc whose default class leads to a 1 Mbit/s token bucket
# (tbf, at most 100 ms of queue; prio is not built into every kernel, htb usually is): traffic
# from the server (DATA, CATALOG) takes the bucket, traffic to the server (requests, ACKs) goes
# straight through, as on a downlink that is the bottleneck. The namespace disappears with the
# processes in it, so nothing outside is touched.
#
# Usage: bench/latency.sh [--duration S] [--trials N] [--rate RATE] [--skip-slow]
# Environment: JUKEBOX_BIN (release binaries; default: build them), JUKEBOX_SERVER_ARGS.
set -euo pipefail

duration=20 trials=500 rate=1mbit slow=yes
root=$(cd "$(dirname "$0")/.." && pwd)
while [ $# -gt 0 ]; do
    case $1 in
        --duration) duration=$2; shift 2 ;;
        --trials) trials=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --skip-slow) slow=no; shift ;;
        --inside) inside=$2; shift 2 ;;
        *) echo "usage: $0 [--duration S] [--trials N] [--rate RATE] [--skip-slow]" >&2; exit 2 ;;
    esac
done
if [ -z "${JUKEBOX_BIN:-}" ]; then
    (cd "$root" && cargo build --release -q -p jukebox-server -p jukebox-bench)
    JUKEBOX_BIN=$root/target/release
fi
export JUKEBOX_BIN
port=18083

# One measurement: server with the given extra options, then the probe; prints the probe's line.
probe() {
    local label=$1 server_args=$2 probe_trials=$3 interval=$4
    "$JUKEBOX_BIN/jukebox-server" --music "$root/music" --listen "127.0.0.1:$port" $server_args \
        ${JUKEBOX_SERVER_ARGS:-} 2>/dev/null &
    local server_pid=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    local status=0
    echo "[$label]"
    "$JUKEBOX_BIN/jukebox-bench" --server "127.0.0.1:$port" --duration "$duration" \
        latency --trials "$probe_trials" --list-interval-ms "$interval" || status=$?
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null || true
    return "$status"
}

if [ "${inside:-}" = slow ]; then
    # Inside the namespace: set up the slow link, measure, and leave (the namespace goes with us).
    ip link set lo up
    ip link set lo mtu 1500
    tc qdisc add dev lo root handle 1: htb default 20 r2q 100000
    tc class add dev lo parent 1: classid 1:10 htb rate 10gbit
    tc class add dev lo parent 1: classid 1:20 htb rate 10gbit
    tc qdisc add dev lo parent 1:20 handle 20: tbf rate "$rate" burst 1600 latency 100ms
    tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip dport "$port" 0xffff flowid 1:10
    status=0
    # A LIST every 10 ms would fill half of a 1 Mbit/s link with catalogs by itself.
    probe "$rate link, default TCP_NOTSENT_LOWAT" "" 5 250 || status=1
    probe "$rate link, TCP_NOTSENT_LOWAT off" "--notsent-lowat 0" 5 250 || status=1
    exit "$status"
fi

status=0
probe "loopback, default TCP_NOTSENT_LOWAT" "" "$trials" 10 || status=1
probe "loopback, TCP_NOTSENT_LOWAT off" "--notsent-lowat 0" "$trials" 10 || status=1
if [ "$slow" = yes ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "$0: the $rate link needs root (unshare -n); skipped" >&2
    else
        unshare -n "$0" --inside slow --duration "$duration" --rate "$rate" || status=1
    fi
fi
exit "$status"

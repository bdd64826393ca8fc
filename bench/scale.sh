#!/usr/bin/env bash
# Scale-out through HAProxy (deploy/haproxy/): three jukebox-server replicas on loopback behind
# HAProxy (deploy/haproxy/cluster.sh), loaded with real-time players (jukebox-bench realtime) from
# many loopback source addresses, in four phases:
#   steady   N streams through HAProxy: 0 underruns, 0 failed
#   restart  N streams while every replica in turn is sent SIGTERM, waited for, started again and
#            waited for until HAProxy has it up: 0 underruns, 0 failed, every player moved on GOAWAY
#   kill     N streams while one replica is killed (kill -9) and started again: the streams it
#            held reconnect and resume inside their read-ahead, 0 underruns, 0 failed
#   cost     the same N streams directly against one replica and through HAProxy, alternating:
#            CPU per segment (utime + stime of HAProxy and the servers, /proc/PID/stat) and
#            segment latency
# Prints a markdown table per phase and exits non-zero when a target is missed. HAProxy needs two
# descriptors per stream and the players one each: N stays under what `ulimit -Hn` allows.
#
# Usage: bench/scale.sh [--clients N] [--sources N] [--steady S] [--restart-run S] [--kill-run S]
#                       [--cost-run S] [--cost-rounds N] [--music DIR] [--out DIR]
# Environment: JUKEBOX_BIN (folder with release binaries; default: build them), JUKEBOX_PORT (the
# balancer's port, default 18500; the replicas take the next three, the direct server the fourth).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
clients=3000 sources=64 steady=60 restart_run=75 kill_run=45 cost_run=30 cost_rounds=2
music=$root/music out=
while [ $# -gt 0 ]; do
    case $1 in
        --clients) clients=$2; shift 2 ;;
        --sources) sources=$2; shift 2 ;;
        --steady) steady=$2; shift 2 ;;
        --restart-run) restart_run=$2; shift 2 ;;
        --kill-run) kill_run=$2; shift 2 ;;
        --cost-run) cost_run=$2; shift 2 ;;
        --cost-rounds) cost_rounds=$2; shift 2 ;;
        --music) music=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//; /^set -e/d' >&2; exit 2 ;;
    esac
done
if [ -z "${JUKEBOX_BIN:-}" ]; then
    (cd "$root" && cargo build --release -q -p jukebox-server -p jukebox-bench)
    JUKEBOX_BIN=$root/target/release
fi
port=${JUKEBOX_PORT:-18500}
direct_port=$((port + 4))
ulimit -n "$(ulimit -Hn)"
if [ $((2 * clients + 200)) -gt "$(ulimit -n)" ]; then
    echo "scale.sh: $clients streams need $((2 * clients + 200)) descriptors in HAProxy; ulimit -n is $(ulimit -n)" >&2
    exit 2
fi
work=$(mktemp -d)
out=${out:-$work}
mkdir -p "$out"
cluster=$work/cluster
cluster_sh=$root/deploy/haproxy/cluster.sh
export JUKEBOX_SERVER=$JUKEBOX_BIN/jukebox-server JUKEBOX_PORT=$port
tick=$(getconf CLK_TCK)
# Players come from 127.0.0.2 and up: a listener each is not one address, and a replica's
# per-source limits (256 connections, 64 new a second) see the address in HAProxy's PROXY header.
players=(--source 127.0.0.2 --sources "$sources")

direct_pid= bench_pid=
cleanup() {
    for pid in $bench_pid $direct_pid; do kill "$pid" 2>/dev/null || true; done
    [ -d "$cluster" ] && "$cluster_sh" stop "$cluster" >/dev/null 2>&1 || true
    wait 2>/dev/null || true
    [ "$out" = "$work" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ticks() {  # utime + stime of the processes given, summed
    local sum=0 pid
    for pid in "$@"; do
        sum=$((sum + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$sum"
}
pids() { cat "$cluster"/replica[123].pid; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, d))" "$@"; }

# Starts the players against $1 for $2 seconds in the background, their report in $3.
players_start() {
    timeout $(($2 + 120)) "$JUKEBOX_BIN/jukebox-bench" --server "$1" --duration "$2" --json \
        realtime --clients "$clients" "${players[@]}" >"$3" 2>"$3.err" &
    bench_pid=$!
}
players_wait() {
    local status=0
    wait "$bench_pid" || status=$?
    bench_pid=
    return "$status"
}

missed=()
# Checks a condition (a Python expression over the report) and records a miss.
target() {
    local phase=$1 report=$2 what=$3 expr=$4
    if [ "$(json "$report" "$expr" 2>/dev/null)" != True ]; then
        missed+=("$phase: $what")
    fi
}

row() {  # one line of the phase table, from a report
    local phase=$1 report=$2 extra=$3
    python3 - "$phase" "$report" "$extra" <<'EOF' || echo "| $phase | no report: see $report.err |"
import json, sys
phase, path, extra = sys.argv[1], sys.argv[2], sys.argv[3]
r = json.load(open(path))
m, l = r["moves"], r["latency"]
least = m["least_buffered_on_resume_s"]
least = "-" if least is None else f"{least:.2f} s"
print(f'| {phase} | {r["clients"]} | {r["seconds"]:.0f} s | {r["segments"]:,} | {r["underruns"]} | '
      f'{r["failed"]} | {m["reconnects"]} ({m["goaways"]} GOAWAY, {m["lost"]} lost, '
      f'{m["failed_attempts"]} failed attempts) | {m["longest_reconnect_ms"]:.0f} ms | '
      f'{m["resumed"]}, least {least} | {l["p50_ms"]:.2f} / {l["p99_ms"]:.1f} / {l["max_ms"]:.0f} ms | {extra} |')
EOF
}

# Waits until HAProxy shows $1 client sessions on the replicas in all (at most 60 s).
sessions() { "$cluster_sh" status "$cluster" | awk '{s += $3} END {print s + 0}'; }
wait_sessions() {
    for _ in $(seq 600); do [ "$(sessions)" -ge "$1" ] && return 0; sleep 0.1; done
    echo "scale.sh: HAProxy never showed $1 sessions (now $(sessions))" >&2
    return 1
}

echo "scale.sh: $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$cluster_sh" start "$cluster" --music "$music" >&2
haproxy_pid=$(cat "$cluster/haproxy.pid")
balancer=127.0.0.1:$port
table=$out/table.md
{
    echo "| phase | streams | run | segments | underruns | failed | reconnects | longest reconnect | resumed mid-song, least buffered | segment latency p50 / p99 / max | events |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
} >"$table"

# --- steady: N streams through HAProxy.
players_start "$balancer" "$steady" "$out/steady.json"
players_wait || true
target steady "$out/steady.json" "0 underruns, 0 failed, $clients streams" \
    "underruns == 0 and failed == 0 and clients == $clients"
row steady "$out/steady.json" "-" >>"$table"

# --- restart: a rolling restart of all three replicas while the streams play.
players_start "$balancer" "$restart_run" "$out/restart.json"
wait_sessions "$clients"
# Let every player get to its steady read-ahead first.
sleep 10
events=() restarted=0
for n in 1 2 3; do
    held=$("$cluster_sh" status "$cluster" | awk -v r="replica$n" '$1 == r {print $3}')
    t0=$(date +%s.%N)
    "$cluster_sh" restart "$cluster" "$n"
    events+=("replica$n: $held streams, $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s to up")
    restarted=$((restarted + held))
done
players_wait || true
target restart "$out/restart.json" "0 underruns, 0 failed" "underruns == 0 and failed == 0"
target restart "$out/restart.json" "every stream of a restarted replica moved on GOAWAY" \
    "moves['goaways'] >= $restarted"
row restart "$out/restart.json" "$(IFS=';'; echo "${events[*]}" | sed 's/;/; /g')" >>"$table"

# --- kill: kill -9 of one replica while the streams play; cluster.sh starts it again.
players_start "$balancer" "$kill_run" "$out/kill.json"
wait_sessions "$clients"
# Let every player get to its steady read-ahead first.
sleep 10
held=$("$cluster_sh" status "$cluster" | awk '$1 == "replica2" {print $3}')
t0=$(date +%s.%N)
"$cluster_sh" kill "$cluster" 2
up=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
players_wait || true
target kill "$out/kill.json" "0 underruns, 0 failed" "underruns == 0 and failed == 0"
target kill "$out/kill.json" "every stream of the killed replica reconnected, and resumed inside its read-ahead" \
    "moves['lost'] >= $held and (moves['resumed'] == 0 or moves['least_buffered_on_resume_s'] > 0)"
row kill "$out/kill.json" "kill -9 of replica2 holding $held streams, up again in $up s" >>"$table"

# --- cost: the same load directly against one replica, and through HAProxy, alternating.
"$JUKEBOX_BIN/jukebox-server" --music "$music" --listen "127.0.0.1:$direct_port" \
    >>"$out/direct.log" 2>&1 &
direct_pid=$!
for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$direct_port") 2>/dev/null && break; sleep 0.1; done
cost=$out/cost.tsv
: >"$cost"
for round in $(seq "$cost_rounds"); do
    for path in direct haproxy; do
        report=$out/cost-$path-$round.json
        if [ $path = direct ]; then
            addr=127.0.0.1:$direct_port servers=$direct_pid balancers=
        else
            addr=$balancer servers=$(pids | tr '\n' ' ') balancers=$haproxy_pid
        fi
        # shellcheck disable=SC2086
        s0=$(ticks $servers) b0=$(ticks $balancers)
        players_start "$addr" "$cost_run" "$report"
        players_wait || true
        # shellcheck disable=SC2086
        s1=$(ticks $servers) b1=$(ticks $balancers)
        target "cost $path $round" "$report" "0 underruns, 0 failed" "underruns == 0 and failed == 0"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$path" "$round" "$(json "$report" segments)" \
            $((s1 - s0)) $((b1 - b0)) "$(json "$report" "latency['p50_ms']")" \
            "$(json "$report" "latency['p99_ms']")" >>"$cost"
    done
done

echo
cat "$table"
for phase in steady restart kill; do
    json "$out/$phase.json" "'\n'.join('$phase: a failed attempt to reconnect (retried): ' + f for f in reconnect_failures)" 2>/dev/null | sed '/^$/d' || true
done
echo
python3 - "$cost" "$tick" "$clients" "$cost_run" <<'EOF'
import sys
path, tick, clients, run = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rows = [line.split("\t") for line in open(path).read().splitlines()]
print(f"Cost of the balancer: {clients} streams for {run} s each round, CPU from /proc/PID/stat")
print()
print("| path | round | segments | servers µs/segment | HAProxy µs/segment | total µs/segment | latency p50 / p99 |")
print("|---|---|---|---|---|---|---|")
per = {}
for path, rnd, seg, s, b, p50, p99 in rows:
    seg, s, b = int(seg), int(s), int(b)
    us = lambda t: t * 1e6 / tick / max(seg, 1)
    per.setdefault(path, []).append((us(s), us(b), us(s + b), float(p50), float(p99)))
    print(f"| {path} | {rnd} | {seg:,} | {us(s):.1f} | {us(b):.1f} | {us(s + b):.1f} | {float(p50):.2f} / {float(p99):.1f} ms |")
def mean(path, k):
    return sum(r[k] for r in per[path]) / len(per[path])
if "direct" in per and "haproxy" in per:
    print()
    print(f"Through HAProxy against direct (means of the rounds): total CPU per segment "
          f"{mean('haproxy', 2) / max(mean('direct', 2), 1e-9):.2f}x "
          f"({mean('haproxy', 2):.1f} against {mean('direct', 2):.1f} µs; HAProxy alone "
          f"{mean('haproxy', 1):.1f} µs, the servers {mean('haproxy', 0):.1f} against {mean('direct', 0):.1f} µs); "
          f"latency p50 {mean('haproxy', 3):.2f} against {mean('direct', 3):.2f} ms, "
          f"p99 {mean('haproxy', 4):.1f} against {mean('direct', 4):.1f} ms")
EOF
echo
echo "scale.sh: done $(date -u '+%H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "(raw reports in $out)" >&2
if [ ${#missed[@]} -gt 0 ]; then
    printf 'missed: %s\n' "${missed[@]}"
    exit 1
fi
echo "every target met"

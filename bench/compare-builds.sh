#!/usr/bin/env bash
# Two builds of jukebox-server + jukebox-bench side by side on loopback: each serves the bundled
# music and is loaded by its own jukebox-bench, in alternating rounds (A, B, A, B, ...) so both see
# the same machine. Prints segments/s and the CPU each process spent per segment, and the medians.
# For checking that a change (to the server, the load generator or the protocol crate both use)
# costs no speed.
#
# Usage: bench/compare-builds.sh A_DIR B_DIR [--clients N] [--duration S] [--rounds R]
#        [--song ID] [--segment I] [--music DIR]
#   A_DIR, B_DIR: folders holding a release jukebox-server and jukebox-bench each, e.g. copies of
#   target/release made before and after a change.
# Environment: PORT_A, PORT_B (defaults 18091, 18092).
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: $0 A_DIR B_DIR [--clients N] [--duration S] [--rounds R] [--song ID] [--segment I] [--music DIR]" >&2; exit 2; }
dirs=("$1" "$2")
shift 2
clients=64 duration=10 rounds=4 selection=()
root=$(cd "$(dirname "$0")/.." && pwd)
music=$root/music
while [ $# -gt 0 ]; do
    case $1 in
        --clients) clients=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --song|--segment) selection+=("$1" "$2"); shift 2 ;;
        --music) music=$2; shift 2 ;;
        *) echo "$0: unknown option $1" >&2; exit 2 ;;
    esac
done
ports=("${PORT_A:-18091}" "${PORT_B:-18092}")
names=(A B)
threads=$(nproc)
hz=$(getconf CLK_TCK)
for d in "${dirs[@]}"; do
    for bin in jukebox-server jukebox-bench; do
        [ -x "$d/$bin" ] || { echo "$0: no $bin in $d" >&2; exit 1; }
    done
done

pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() {
    for _ in $(seq 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "$0: nothing listening on port $1" >&2
    return 1
}

for i in 0 1; do
    "${dirs[$i]}/jukebox-server" --music "$music" --listen "127.0.0.1:${ports[$i]}" 2>/dev/null &
    pids+=($!)
done
for i in 0 1; do wait_port "${ports[$i]}"; done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

echo "A = ${dirs[0]}, B = ${dirs[1]}"
echo "$clients connections, ${duration}s per run, $rounds rounds, $threads load threads, ${selection[*]:-every segment of every song}"
echo "(cpu: microseconds of CPU per segment, server + load generator)"
rates=("" "")
for round in $(seq "$rounds"); do
    for i in 0 1; do
        before=$(ticks "${pids[$i]}")
        out=$( { /usr/bin/time -f "TIME %U %S" "${dirs[$i]}/jukebox-bench" --server "127.0.0.1:${ports[$i]}" \
            --threads "$threads" --duration "$duration" --json throughput --clients "$clients" "${selection[@]}"; } 2>&1) || {
            echo "$0: jukebox-bench ${names[$i]} failed: $out" >&2; exit 1; }
        after=$(ticks "${pids[$i]}")
        read -r rate p99 failed cpu < <(python3 -c '
import json, sys
lines = sys.stdin.read().splitlines()
r = json.loads(next(l for l in lines if l.startswith("{")))
u, s = map(float, next(l for l in lines if l.startswith("TIME")).split()[1:])
n = r["segments"]; server = (int(sys.argv[2]) - int(sys.argv[1])) / int(sys.argv[3])
print(round(r["segments_per_sec"]), str(r["latency"]["p99_ms"]) + "ms", r["failed"],
      "%.2f+%.2f" % (server / n * 1e6, (u + s) / n * 1e6))' "$before" "$after" "$hz" <<<"$out")
        echo "round $round ${names[$i]}: $rate segments/s, p99 $p99, cpu ${cpu/+/ + }, $failed failed"
        rates[$i]+="$rate "
    done
done

python3 - "${rates[0]}" "${rates[1]}" <<'EOF'
import statistics, sys
a = statistics.median(float(x) for x in sys.argv[1].split())
b = statistics.median(float(x) for x in sys.argv[2].split())
print(f"median: A {a:.0f} segments/s, B {b:.0f} segments/s; B/A = {b / a:.3f}")
EOF

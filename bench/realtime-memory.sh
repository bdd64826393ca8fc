#!/usr/bin/env bash
# Many real-time players against one jukebox-server, with the server's memory per connection:
# its resident set before any client connects and at the peak while all of them play, divided by
# the number of players. Exits non-zero when a connection failed or a segment came late.
#
# Usage: bench/realtime-memory.sh [--clients N] [--duration S] [--song ID] [--music DIR]
# Environment: JUKEBOX_BIN (folder with release binaries; default: build them), JUKEBOX_PORT,
# JUKEBOX_SERVER_ARGS (extra server options).
set -euo pipefail

clients=10000 duration=60 song=1
root=$(cd "$(dirname "$0")/.." && pwd)
music=$root/music
while [ $# -gt 0 ]; do
    case $1 in
        --clients) clients=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --song) song=$2; shift 2 ;;
        --music) music=$2; shift 2 ;;
        *) echo "usage: $0 [--clients N] [--duration S] [--song ID] [--music DIR]" >&2; exit 2 ;;
    esac
done
port=${JUKEBOX_PORT:-18082}
if [ -z "${JUKEBOX_BIN:-}" ]; then
    (cd "$root" && cargo build --release -q -p jukebox-server -p jukebox-bench)
    JUKEBOX_BIN=$root/target/release
fi

# Both processes need a descriptor per connection (the bench raises its own limit).
ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$JUKEBOX_BIN/jukebox-server" --music "$music" --listen "127.0.0.1:$port" ${JUKEBOX_SERVER_ARGS:-} 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status"; }
ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }
before=$(rss)
cpu_before=$(ticks)

"$JUKEBOX_BIN/jukebox-bench" --server "127.0.0.1:$port" --duration "$duration" --json \
    realtime --clients "$clients" --song "$song" >"$work/report.json" &
bench_pid=$!
peak=$before
while kill -0 "$bench_pid" 2>/dev/null; do
    now=$(rss)
    [ "$now" -gt "$peak" ] && peak=$now
    sleep 1
done
status=0
wait "$bench_pid" || status=$?
cpu_after=$(ticks)

python3 - "$work/report.json" "$before" "$peak" "$clients" "$cpu_before" "$cpu_after" <<'EOF'
import json, sys
path, before, peak, clients, cpu0, cpu1 = sys.argv[1], *map(int, sys.argv[2:])
r = json.load(open(path))
lat = r["latency"]
print(f'realtime: {r["clients"]} players for {r["seconds"]:.0f} s: {r["underruns"]} underruns, '
      f'{r["failed"]} failed, {r["segments"]} segments, latency p50 {lat["p50_ms"]} ms '
      f'p99 {lat["p99_ms"]} ms max {lat["max_ms"]} ms')
print(f'server RSS: {before} KiB idle, {peak} KiB peak; '
      f'{(peak - before) / clients:.1f} KiB per connection; '
      f'server CPU {(cpu1 - cpu0) / 100 / r["seconds"] * 100:.1f}% of one core')
for failure in r["failures"]:
    print("  failure:", failure)
EOF
exit "$status"

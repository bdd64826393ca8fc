#!/usr/bin/env bash
# Hostile clients against one jukebox-server while 200 honest players stream from it: for each
# attack, a fresh server, `jukebox-bench realtime` for the whole run, the attack (jukebox-bench
# attack) from 127.0.0.2 (and the addresses after it, for the spread attacks) in the middle, and a
# newcomer (jukebox-bench probe) from 127.1.0.1, outside the attacker's addresses, during and
# right after the attack. Prints one markdown row per attack: server alive, RSS before/peak/after, CPU, threads and descriptors,
# honest underruns, failures and segment latency p99, the newcomer's admissions, and what the
# attacker got. Loopback only; every step is bounded in time, every attack in connections.
#
# Usage: bench/hostile.sh [--mode music|catalog|both] [--catalog DIR] [--attack NAME]...
#                         [--attack-seconds S] [--clients N] [--out DIR]
#   --catalog DIR: the catalog for --mode catalog (default: made by bench/make-catalog.sh in
#   /tmp/jukebox-hostile-catalog, 1.1 GB, and kept for the next run; delete it when done).
# Environment: JUKEBOX_BIN (folder with release binaries; default: build them), JUKEBOX_PORT (first
# port, default 18400).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
modes=both catalog=/tmp/jukebox-hostile-catalog attack_s=30 clients=200 out= only=()
while [ $# -gt 0 ]; do
    case $1 in
        --mode) modes=$2; shift 2 ;;
        --catalog) catalog=$2; shift 2 ;;
        --attack) only+=("$2"); shift 2 ;;
        --attack-seconds) attack_s=$2; shift 2 ;;
        --clients) clients=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//; /^set -e/d' >&2; exit 2 ;;
    esac
done
[ "$modes" = both ] && modes="music catalog"
if [ -z "${JUKEBOX_BIN:-}" ]; then
    (cd "$root" && cargo build --release -q -p jukebox-server -p jukebox-bench -p jukebox-segmenter)
    JUKEBOX_BIN=$root/target/release
fi
export JUKEBOX_BIN
case " $modes " in *" catalog "*)
    [ -f "$catalog/index.sqlite" ] || "$root/bench/make-catalog.sh" "$catalog" 230 >&2 ;;
esac
# The server, the players, the attacker: a descriptor per connection each.
ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d)
out=${out:-$work}
mkdir -p "$out"
port=${JUKEBOX_PORT:-18400}
warm=5 after=10
total=$((warm + attack_s + after))
tick=$(getconf CLK_TCK)
# The attack takes 127.0.0.2 and up to 24 addresses after it.
newcomer=127.1.0.1

# name | attacker options | server's ulimit -n (empty: as this shell)
attacks=(
    "none||"
    "dead|--kind dead --rate 660 --connections 2000 --sources 16|"
    "dead-backlog|--kind dead-backlog --rate 660 --connections 2000 --sources 16|"
    "non-reader|--kind non-reader --connections 6000 --rate 1000|"
    "non-reader-spread|--kind non-reader --connections 6000 --rate 1000 --sources 24|"
    "hold|--kind hold --connections 16384 --rate 4000|"
    "trickle|--kind trickle --connections 2000 --rate 1000|"
    "no-hello|--kind no-hello --connections 2000 --rate 2000|"
    "burst|--kind burst --connections 1000|"
    "fd-limit|--kind hold --connections 2048 --rate 1000 --sources 8|1024"
)

server_pid= players_pid= sampler_pid=
cleanup() {
    for pid in $sampler_pid $players_pid $server_pid; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ "$out" = "$work" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rss() { awk '/^VmRSS:/ {print int($2 / 1024)}' "/proc/$server_pid/status" 2>/dev/null || echo 0; }
threads() { awk '/^Threads:/ {print $2}' "/proc/$server_pid/status" 2>/dev/null || echo 0; }
fds() { ls "/proc/$server_pid/fd" 2>/dev/null | wc -l; }
ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat" 2>/dev/null || echo 0; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, d))" "$@" 2>/dev/null || echo "?"; }

run_one() {
    local mode=$1 name=$2 args=$3 limit=$4
    local tag=$mode-$name addr=127.0.0.1:$port
    local songs=(--music "$root/music")
    [ "$mode" = catalog ] && songs=(--catalog "$catalog")
    local -a wrap=()
    [ -n "$limit" ] && wrap=(bash -c "ulimit -n $limit && exec \"\$0\" \"\$@\"")
    "${wrap[@]}" "$JUKEBOX_BIN/jukebox-server" "${songs[@]}" --listen "$addr" 2>"$out/$tag.server.log" &
    server_pid=$!
    for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    local before fds_before
    before=$(rss); fds_before=$(fds)
    timeout $((total + 60)) "$JUKEBOX_BIN/jukebox-bench" --server "$addr" --duration "$total" --json \
        realtime --clients "$clients" >"$out/$tag.players.json" 2>"$out/$tag.players.err" &
    players_pid=$!
    # Sample RSS, threads and descriptors twice a second for the whole run.
    (while kill -0 "$server_pid" 2>/dev/null; do
        echo "$(date +%s.%N) $(rss) $(threads) $(fds)"; sleep 0.5
    done) >"$out/$tag.samples" &
    sampler_pid=$!
    sleep "$warm"
    local cpu0 t0
    cpu0=$(ticks); t0=$(date +%s.%N)
    if [ -n "$args" ]; then
        # shellcheck disable=SC2086
        timeout $((attack_s + 60)) "$JUKEBOX_BIN/jukebox-bench" --server "$addr" --duration "$attack_s" \
            --json attack $args >"$out/$tag.attack.json" 2>"$out/$tag.attack.err" &
    else
        sleep "$attack_s" &
    fi
    local attacker=$!
    sleep 2
    timeout $((attack_s + 30)) "$JUKEBOX_BIN/jukebox-bench" --server "$addr" \
        --duration $((attack_s - 3)) --json probe --source "$newcomer" >"$out/$tag.during.json" \
        2>/dev/null || true
    wait "$attacker" || true
    local cpu1 t1
    cpu1=$(ticks); t1=$(date +%s.%N)
    timeout 60 "$JUKEBOX_BIN/jukebox-bench" --server "$addr" --duration 5 --json probe \
        --source "$newcomer" >"$out/$tag.after.json" 2>/dev/null || true
    local fds_after
    fds_after=$(fds)
    wait "$players_pid" || true
    players_pid=
    local after alive=yes
    after=$(rss)
    kill -0 "$server_pid" 2>/dev/null || alive=no
    if [ "$alive" = yes ]; then
        timeout 10 "$JUKEBOX_BIN/jukebox-bench" --server "$addr" --duration 1 probe --interval-ms 500 \
            >/dev/null 2>&1 || alive="no answer"
    fi
    kill "$sampler_pid" 2>/dev/null || true; wait "$sampler_pid" 2>/dev/null || true; sampler_pid=
    kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=
    local peak peak_threads peak_fds cpu
    peak=$(awk '$2 > m {m = $2} END {print m + 0}' "$out/$tag.samples")
    peak_threads=$(awk '$3 > m {m = $3} END {print m + 0}' "$out/$tag.samples")
    peak_fds=$(awk '$4 > m {m = $4} END {print m + 0}' "$out/$tag.samples")
    cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v s="$t0" -v e="$t1" -v k="$tick" \
        'BEGIN {printf "%.0f", 100 * (b - a) / k / (e - s)}')
    local honest during afterwards attacker_got="-"
    honest="$(json "$out/$tag.players.json" underruns) / $(json "$out/$tag.players.json" failed), \
p99 $(json "$out/$tag.players.json" "'%.1f ms' % latency['p99_ms']")"
    during="$(json "$out/$tag.during.json" admitted)/$(json "$out/$tag.during.json" attempts), \
$(json "$out/$tag.during.json" "'%.2f s' % longest_wait_s")"
    afterwards="$(json "$out/$tag.after.json" admitted)/$(json "$out/$tag.after.json" attempts), \
$(json "$out/$tag.after.json" "'%.2f s' % longest_wait_s")"
    [ -n "$args" ] && attacker_got="$(json "$out/$tag.attack.json" opened) opened, \
$(json "$out/$tag.attack.json" welcomed) welcomed, $(json "$out/$tag.attack.json" busy) busy, \
$(json "$out/$tag.attack.json" closed_by_server) closed by server, peak $(json "$out/$tag.attack.json" peak_open)"
    [ "$name" = burst ] && attacker_got="$attacker_got, $(json "$out/$tag.attack.json" slow_connects) connects > 1 s"
    printf '| %s | %s | %s | %s / %s / %s | %s | %s | %s / %s / %s | %s | %s | %s | %s |\n' \
        "$name" "$mode" "$alive" "$before" "$peak" "$after" "$cpu" "$peak_threads" \
        "$fds_before" "$peak_fds" "$fds_after" "$honest" "$during" "$afterwards" "$attacker_got"
    port=$((port + 1))
}

echo "| attack | mode | alive | RSS MB before / peak / after | CPU % | threads | fds before / peak / after | honest underruns / failures, segment p99 | newcomer during: admitted, longest wait | right after | attacker |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for mode in $modes; do
    for entry in "${attacks[@]}"; do
        IFS='|' read -r name args limit <<<"$entry"
        if [ ${#only[@]} -gt 0 ] && [[ ! " ${only[*]} " == *" $name "* ]]; then continue; fi
        run_one "$mode" "$name" "$args" "$limit"
    done
done
echo "(raw reports in $out)" >&2

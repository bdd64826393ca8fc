#!/usr/bin/env bash
# Measures a large library (docs/BENCHMARKS.md, "A library of a million songs"): the segmenter on
# SMALL generated songs and on 1% more, then for a catalog of SMALL songs (made by the segmenter)
# and one of BIG songs (its index written directly): server ready time, RSS idle and after paging
# through everything, LIST page latency, and search latency for one-word and three-word queries.
#
# Usage: segmenter/scripts/library-bench.sh [SMALL] [BIG]    (default 100000 1000000)
# Everything is made under $LIBRARY_BENCH_DIR (default /dev/shm/jukebox-library-bench, memory:
# removing 100,000 song folders from a disk mounted with discard takes minutes here) and removed
# at the end. Songs are three MPEG frames of a bundled song, each with its own audio and ID3 tag,
# tags drawn from a synthetic vocabulary with Zipf word frequencies (examples/synthetic_library.rs).
set -euo pipefail
cd "$(dirname "$0")/../.."
small=${1:-100000}
big=${2:-1000000}
root=${LIBRARY_BENCH_DIR:-/dev/shm/jukebox-library-bench}
port=${LIBRARY_BENCH_PORT:-5899}
repeat=${LIBRARY_BENCH_REPEAT:-200}
rm -rf "$root"
mkdir -p "$root"
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$root"
}
trap cleanup EXIT

cargo build --release -q -p jukebox-segmenter -p jukebox-server --bins --examples
seg=target/release/jukebox-segmenter
server=target/release/jukebox-server
gen=target/release/examples/synthetic_library
client=target/release/examples/library_client

# Seconds since the epoch, to the nanosecond.
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
rss() { awk '/VmRSS/ {printf "%.1f MB", $2 / 1024}' "/proc/$1/status"; }

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB; $(date -u +%F)"

echo "== segmenter: $small songs, then 1% more"
"$gen" songs "$root/src" "$small"
# Runs the segmenter once, printing its summary's first line and what it cost.
segment() {
  /usr/bin/time -o "$root/time" -f "$1: %e s wall, %U s user, %S s system, max RSS %M KB" \
    "$seg" "$root/src" "$root/small" --jobs 2 >"$root/summary" 2>/dev/null
  sed -n 1p "$root/summary"
  cat "$root/time"
}
segment "first run"
"$gen" songs "$root/src" $((small / 100)) "$small" >/dev/null
segment "re-run after adding 1%%"
segment "re-run with nothing changed"
du -sh "$root/small/index.sqlite" | awk '{print "index: " $1}'
rm -rf "$root/src"

echo "== index of $big songs written directly"
"$gen" index "$root/big" "$big"
du -sh "$root/big/index.sqlite" | awk '{print "index: " $1}'

# Serves a catalog and measures it. One-word queries: a word of rank 3 and one of rank 50 in the
# vocabulary (the most common word is the worst case); three-word: two words and a prefix.
measure() {
  local name=$1 dir=$2
  echo "== $name"
  local log="$root/server.log" started
  : >"$log"
  started=$(now)
  "$server" --catalog "$dir" --listen "127.0.0.1:$port" 2>"$log" &
  server_pid=$!
  until grep -q "listening on" "$log"; do
    kill -0 "$server_pid" || { cat "$log"; exit 1; }
    sleep 0.005
  done
  echo "ready in $(since "$started") s (to the 'listening on' line); RSS idle $(rss "$server_pid")"
  "$client" page "127.0.0.1:$port" 500
  "$client" page "127.0.0.1:$port" 100 | sed 's/^/again, /'
  echo "RSS after paging through everything twice: $(rss "$server_pid")"
  "$client" search "127.0.0.1:$port" "$repeat" pemo laurpeel zoanmo "ta vel no" "pemo sael be" \
    "zo ur"
  echo "RSS after the searches: $(rss "$server_pid")"
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}
measure "catalog of $small songs" "$root/small"
measure "catalog of $big songs" "$root/big"

#!/usr/bin/env bash
# Measures jukebox-segmenter against `openssl dgst -sha256`, `sha256sum` and `ffmpeg -f segment
# -c copy` over the same mp3 files, in one run, so that ratios hold on a shared machine.
#
# Usage: segmenter/scripts/bench.sh [CORPUS_DIR] [MIN_MB]
#   CORPUS_DIR (default /tmp/jukebox-bench-corpus) is filled with generated mp3 files up to MIN_MB
#   (default 1100) the first time; the files are distinct lame encodings (CBR, ABR and VBR, MPEG-1
#   and MPEG-2, mono and stereo) copied under several names.
# Every tool reads the files from the page cache (the corpus is read once first). Each tool runs
# with one and with two processes or threads; figures are MB/s of mp3 read (1 MB = 10^6 bytes).
set -euo pipefail
cd "$(dirname "$0")/../.."
corpus=${1:-/tmp/jukebox-bench-corpus}
min_mb=${2:-1100}
work=$(mktemp -d /tmp/jukebox-bench.XXXXXX)
# The catalog is written to memory (tmpfs) when there is one, so that the figure is the segmenter's
# and not the disk's write-back.
out_base=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && out_base=/dev/shm
catalog=$(mktemp -d "$out_base/jukebox-bench-catalog.XXXXXX")
trap 'rm -rf "$work" "$catalog"' EXIT

generate() {
  mkdir -p "$corpus/src"
  local settings=("-b 128" "-V 2" "--abr 160" "-b 320" "-V 5 -m m" "-b 192" "--resample 22.05 -b 64" "-V 0")
  local i=0
  for s in "${settings[@]}"; do
    i=$((i + 1))
    local wav="$work/src$i.wav" mp3="$corpus/src/song$i.mp3"
    [ -s "$mp3" ] && continue
    # Four minutes of chords with noise, so VBR varies.
    sox -n -r 44100 -c 2 "$wav" synth 240 sine $((200 + 37 * i)) sine $((300 + 53 * i)) pinknoise \
      tremolo 3 40 vol 0.5 2>/dev/null
    # shellcheck disable=SC2086
    lame --quiet $s "$wav" "$mp3"
    rm -f "$wav"
  done
  local n=0 total=0
  while [ "$total" -lt $((min_mb * 1000000)) ]; do
    for f in "$corpus"/src/*.mp3; do
      n=$((n + 1))
      local dest
      dest="$corpus/lib/$(printf 'artist%02d/album%02d/%04d.mp3' $((n % 23)) $((n % 7)) "$n")"
      mkdir -p "$(dirname "$dest")"
      [ -e "$dest" ] || cp "$f" "$dest"
      total=$((total + $(stat -c %s "$dest")))
    done
  done
}

if [ ! -d "$corpus/lib" ]; then
  echo "generating $corpus (once)" >&2
  generate
fi
[ "${GENERATE_ONLY:-}" = 1 ] && exit 0
lib="$corpus/lib"
find "$lib" -name '*.mp3' | sort > "$work/files"
bytes=$(xargs -a "$work/files" stat -c %s | awk '{s += $1} END {print s}')
count=$(wc -l < "$work/files")
split -n l/2 "$work/files" "$work/half."
echo "corpus: $count files, $bytes bytes; $(nproc) cores; catalog written to $out_base; $(date -u)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

cargo build --release -q -p jukebox-segmenter
seg=target/release/jukebox-segmenter

# Warm the page cache.
xargs -a "$work/files" cat > /dev/null

rate() { # NAME SECONDS
  awk -v n="$1" -v s="$2" -v b="$bytes" 'BEGIN {printf "%-48s %8.2f s %9.1f MB/s\n", n, s, b / 1e6 / s}'
}
timed() { # NAME COMMAND... : the fastest of $repeat runs (the machine may be shared)
  local name=$1
  shift
  local best="" start end took
  for _ in $(seq "$repeat"); do
    [ -n "${before:-}" ] && eval "$before"
    start=$(date +%s.%N)
    "$@" > /dev/null 2> "$work/stderr" || { cat "$work/stderr" >&2; return 1; }
    end=$(date +%s.%N)
    took=$(echo "$end - $start" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$took < $best" | bc -l)" = 1 ]; then best=$took; fi
  done
  rate "$name" "$best"
}
both() { # COMMAND... : runs COMMAND on each half of the files in parallel
  xargs -a "$work/half.aa" "$@" > /dev/null &
  local a=$!
  xargs -a "$work/half.ab" "$@" > /dev/null
  wait "$a"
}
segment_each() { # FILES... : ffmpeg's segment muxer, stream copy, ~2 s segments
  for f in "$@"; do
    local d
    d=$(mktemp -d "$work/ff.XXXXXX")
    ffmpeg -v error -i "$f" -map 0:a -c copy -f segment -segment_time 2 "$d/%06d.mp3"
    rm -rf "$d"
  done
}
export -f segment_each
export work

repeat=${REPEAT:-5}
echo "each figure: the fastest of $repeat runs"
for round in 1 2; do
  echo "round $round"
  timed "openssl dgst -sha256, 1 process" xargs -a "$work/files" openssl dgst -sha256
  timed "openssl dgst -sha256, 2 processes" both openssl dgst -sha256
  timed "sha256sum, 1 process" xargs -a "$work/files" sha256sum
  timed "sha256sum, 2 processes" both sha256sum
  timed "jukebox-segmenter --bench, 1 thread" "$seg" --bench "$lib" --jobs 1
  timed "jukebox-segmenter --bench, 2 threads" "$seg" --bench "$lib" --jobs 2
  before='rm -rf "$catalog"' timed "jukebox-segmenter IN OUT (first run), 2 threads" "$seg" "$lib" "$catalog" --jobs 2
  timed "jukebox-segmenter IN OUT (re-run), 2 threads" "$seg" "$lib" "$catalog" --jobs 2
done
repeat=1 timed "ffmpeg -f segment -c copy, 2 processes" both bash -c 'segment_each "$@"' _
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

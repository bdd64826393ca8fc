#!/usr/bin/env bash
# Makes a catalog of distinct songs for the benchmarks: SONGS songs of 5 minutes each (about 4.8 MB
# at 128 kbit/s, so 230 songs make a catalog of 1.1 GB, four times the default segment cache),
# synthesised with sox (each from its own tones and noise, so no two segments are alike), encoded
# with lame and cut by jukebox-segmenter into OUT. The mp3 files are deleted once cut.
#
# Usage: bench/make-catalog.sh OUT [SONGS]   (default 230; OUT must not exist)
# Environment: JUKEBOX_BIN (folder with a release jukebox-segmenter; default: build it).
set -euo pipefail

out=${1:?usage: $0 OUT [SONGS]}
songs=${2:-230}
root=$(cd "$(dirname "$0")/.." && pwd)
[ -e "$out" ] && { echo "$0: $out exists" >&2; exit 2; }
for tool in sox lame; do
    command -v "$tool" >/dev/null || { echo "$0: $tool is not installed" >&2; exit 1; }
done
if [ -z "${JUKEBOX_BIN:-}" ]; then
    (cd "$root" && cargo build --release -q -p jukebox-segmenter)
    JUKEBOX_BIN=$root/target/release
fi
need=$((songs * 5 * 2))   # MB: the catalog, and the mp3 files waiting to be cut
avail=$(df -Pm "$(dirname "$out")" | awk 'NR == 2 {print $4}')
[ "$avail" -gt "$need" ] || { echo "$0: $need MB needed, $avail MB free" >&2; exit 1; }

mp3=$(mktemp -d)
trap 'rm -rf "$mp3"' EXIT
make_song() {
    local n=$1 base=$((110 + $1 * 7 % 440))
    sox -q -n -r 44100 -c 2 -t wav - synth 300 sine "$base-$((base * 3))" sine $((base * 3 / 2)) \
        pinknoise vol 0.25 2>/dev/null |
        lame --quiet -b 128 --cbr -q 9 --tt "Synth $n" --ta "Bench Ensemble" - "$mp3/$(printf %04d "$n").mp3"
}
jobs=$(nproc)
for n in $(seq 1 "$songs"); do
    make_song "$n" &
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
done
wait
"$JUKEBOX_BIN/jukebox-segmenter" "$mp3" "$out" >/dev/null
du -sh "$out"

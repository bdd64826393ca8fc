#!/usr/bin/env bash
# Rebuilds the bundled songs from nothing but sox and lame. Deterministic: the same tools give the
# same audio. Usage: music/make.sh [OUT_DIR]   (default: the folder this script is in)
set -euo pipefail
out=$(cd "${1:-$(dirname "$0")}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# melody RATE CHANNELS NOTE_SECONDS VOICE NOTES... -> melody.wav
# Each note is a plucked string (or another sox synth voice) with a short fade, so notes don't click.
melody() {
  local rate=$1 channels=$2 len=$3 voice=$4; shift 4
  local i=0 files=()
  for note in "$@"; do
    if [ "$note" = "-" ]; then
      sox -n -r "$rate" -c "$channels" "n$i.wav" trim 0 "$len"
    else
      sox -n -r "$rate" -c "$channels" "n$i.wav" synth "$len" "$voice" "$note" fade 0.005 "$len" 0.05 vol 0.5
    fi
    files+=("n$i.wav"); i=$((i + 1))
  done
  sox "${files[@]}" melody.wav
  rm -f "${files[@]}"
}

# 1. Morning Steps: 44.1 kHz stereo, CBR 128 kbit/s, ID3v2.3 title, artist and album.
melody 44100 2 0.25 pluck C4 E4 G4 C5 G4 E4 C4 E4 F4 A4 C5 F5 C5 A4 F4 A4 G4 B4 D5 G5 D5 B4 G4 B4 \
  C4 E4 G4 C5 E5 C5 G4 E4 A3 C4 E4 A4 C5 A4 E4 C4 F3 A3 C4 F4 G3 B3 D4 G4 C4 E4 G4 C5 - - - -
sox melody.wav -r 44100 -c 2 bass.wav synth 13 sine 65.41 vol 0.15 fade 1 13 1
sox -m melody.wav bass.wav mix.wav
sox mix.wav song.wav repeat 1
lame --quiet -b 128 --cbr --id3v2-only --tt "Morning Steps" --ta "Jukebox Ensemble" --tl "Loopback Sessions" \
  song.wav "$out/01-morning-steps.mp3"

# 2. Blue Tide: 44.1 kHz stereo, VBR with a Xing/LAME header (encoder delay and padding).
melody 44100 2 0.3 pluck A3 C4 E4 A4 G4 E4 D4 C4 B3 D4 G4 B4 A4 G4 E4 D4 \
  F3 A3 C4 F4 E4 C4 A3 C4 E3 G#3 B3 E4 D4 B3 G#3 B3 A3 C4 E4 A4 E4 C4 A3 - - -
sox melody.wav -r 44100 -c 2 pad.wav synth 12.6 triangle 110 vol 0.08 tremolo 0.5 60
sox -m melody.wav pad.wav mix.wav
sox mix.wav song.wav repeat 1
lame --quiet -V 4 --id3v2-only --tt "Blue Tide" --ta "Jukebox Ensemble" --tl "Loopback Sessions" \
  song.wav "$out/02-blue-tide.mp3"

# 3. Small Hours: 22.05 kHz mono, MPEG-2 Layer III at 48 kbit/s.
melody 22050 1 0.4 sine E5 D5 C5 D5 E5 E5 E5 - D5 D5 D5 - E5 G5 G5 - E5 D5 C5 D5 E5 E5 E5 E5 D5 D5 E5 D5 C5 - - -
lame --quiet -b 48 --cbr -m m --id3v2-only --tt "Small Hours" --ta "Jukebox Ensemble" \
  melody.wav "$out/03-small-hours.mp3"

# 4. Long Road: 48 kHz stereo, CBR 192 kbit/s, the longest song, with ID3v2 and ID3v1 tags.
melody 48000 2 0.2 pluck D4 F#4 A4 D5 A4 F#4 D4 F#4 G4 B4 D5 G5 D5 B4 G4 B4 A4 C#5 E5 A5 E5 C#5 A4 C#5 \
  D4 F#4 A4 D5 F#5 D5 A4 F#4 B3 D4 F#4 B4 D5 B4 F#4 D4 G3 B3 D4 G4 A3 C#4 E4 A4 D4 F#4 A4 D5 - - - -
sox melody.wav -r 48000 -c 2 drone.wav synth 11.2 sine 73.42 vol 0.12
sox -m melody.wav drone.wav mix.wav
sox mix.wav song.wav repeat 3
lame --quiet -b 192 --cbr --add-id3v2 --tt "Long Road" --ta "Jukebox Ensemble" --tl "Loopback Sessions" \
  song.wav "$out/04-long-road.mp3"

#!/usr/bin/env python3
"""Startup cost of serving a music folder: how long `jukebox-server --music DIR` takes to log
`listening on`, and how long `printf 'play SONG\\n' | jukebox --music DIR --output wav:F` (the
client on its embedded server, as the README's first command) takes from its start to the first
audio in F. The WAV sink writes through an 8 KiB buffer, so "first audio" is F passing 16 KiB:
the same few milliseconds after the first sample for every build compared.

Usage: bench/startup.py --bin DIR [--bin DIR...] [--music DIR] [--song ID|WORDS] [--rounds N]
Each DIR holds jukebox and jukebox-server (e.g. target/release); builds are run in turn, round
after round, and the median and range of each are printed.
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def time_to_listening(server, music):
    start = time.monotonic()
    proc = subprocess.Popen([server, "--music", music, "--listen", "127.0.0.1:0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:
            if "listening on" in line:
                return time.monotonic() - start
        raise SystemExit(f"{server} exited without listening")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def time_to_sound(client, music, song):
    with tempfile.TemporaryDirectory() as scratch:
        wav = os.path.join(scratch, "out.wav")
        start = time.monotonic()
        proc = subprocess.Popen([client, "--music", music, "--output", f"wav:{wav}"],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            proc.stdin.write(f"play {song}\n".encode())
            proc.stdin.flush()
            deadline = start + 30
            while time.monotonic() < deadline:
                if os.path.exists(wav) and os.path.getsize(wav) > 16 * 1024:
                    return time.monotonic() - start
                time.sleep(0.001)
            raise SystemExit(f"{client}: no audio within 30 s")
        finally:
            proc.kill()
            proc.wait(timeout=30)


def summary(values):
    ms = sorted(v * 1000 for v in values)
    return f"median {statistics.median(ms):7.1f} ms  (min {ms[0]:.1f}, max {ms[-1]:.1f})"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", action="append", required=True)
    parser.add_argument("--music", default=os.path.join(HERE, "..", "music"))
    parser.add_argument("--song", default="small hours", help="an ID, or words matching one song")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    ready = {b: [] for b in args.bin}
    sound = {b: [] for b in args.bin}
    for _ in range(args.rounds):
        for b in args.bin:
            ready[b].append(time_to_listening(os.path.join(b, "jukebox-server"), args.music))
            sound[b].append(time_to_sound(os.path.join(b, "jukebox"), args.music, args.song))
    for b in args.bin:
        print(f"{b}\n  server listening: {summary(ready[b])}\n  client first audio: {summary(sound[b])}")


if __name__ == "__main__":
    main()

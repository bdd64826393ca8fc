#!/usr/bin/env python3
"""Checks, field by field, that the Wireshark dissector shows what the protocol crate decodes.

Usage: check.py --lua jukebox.lua --frames FRAMES_EXAMPLE --port PORT [--require TYPES] PCAP...

For every TCP connection of each capture, the bytes of each direction (from `tshark -z follow`) are
decoded by the protocol crate (protocol/examples/frames.rs, which prints one JSON object per
frame), and the same capture is dissected by tshark with the Lua dissector. Frame by frame, in
order, every field the crate reports must be the dissector's: header fields, message fields, the
error code a refused frame gets, a JSON document's text and each of its scalar top-level members
as the JSON dissector shows them. --require names message types (comma-separated) that must
appear, so that a capture that misses them fails instead of proving nothing.
"""

import argparse
import json
import subprocess
import sys
import tempfile


def tshark(*args):
    return subprocess.run(["tshark", *args], check=True, capture_output=True, text=True).stdout


def streams(pcap, port):
    """{(stream, from_client): bytes} for every TCP connection of the capture."""
    ids = sorted({int(s) for s in tshark("-r", pcap, "-T", "fields", "-e", "tcp.stream").split()})
    follow = []
    for stream in ids:
        follow += ["-z", f"follow,tcp,raw,{stream}"]
    out = {}
    stream, nodes, data = None, {}, {}

    def finish():
        for node, payload in data.items():
            if payload:
                out[(stream, nodes[node] != port)] = bytes(payload)

    for line in tshark("-r", pcap, "-q", *follow).splitlines():
        if line.startswith("Filter: tcp.stream eq "):
            stream, nodes, data = int(line.rsplit(" ", 1)[1]), {}, {0: bytearray(), 1: bytearray()}
        elif line.startswith("Node "):
            node, address = line[len("Node ") :].split(": ", 1)
            nodes[int(node)] = int(address.rsplit(":", 1)[1])
        elif line.startswith("="):
            if stream is not None:
                finish()
                stream = None
        elif line and stream is not None and not line.startswith("Follow:"):
            data[1 if line.startswith("\t") else 0].extend(bytes.fromhex(line.strip()))
    return out


def crate_frames(frames_bin, payload):
    with tempfile.NamedTemporaryFile() as f:
        f.write(payload)
        f.flush()
        text = subprocess.run([frames_bin, f.name], check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in text.splitlines()]


def members_with_value(pdu):
    """The json.member_with_value of the document's top-level object, as the dissector shows it."""
    tree = pdu.get("jukebox.document_tree", {}).get("json", {}).get("json.object", {})
    members = tree.get("json.member_tree", [])
    if isinstance(members, dict):
        members = [members]
    return {m["json.member_with_value"] for m in members if "json.member_with_value" in m}


def dissected(pcap, lua, port):
    """{(stream, from_client): [PDU fields]} as tshark shows them with the dissector."""
    text = tshark("-r", pcap, "-X", f"lua_script:{lua}", "-d", f"tcp.port=={port},jukebox",
                  "-T", "json", "--no-duplicate-keys")
    out = {}
    for packet in json.loads(text):
        layers = packet["_source"]["layers"]
        pdus = layers.get("jukebox")
        if pdus is None:
            continue
        if isinstance(pdus, dict):
            pdus = [pdus]
        tcp = layers["tcp"]
        key = (int(tcp["tcp.stream"]), int(tcp["tcp.srcport"]) != port)
        out.setdefault(key, []).extend(pdus)
    return out


def flag_end(pdu):
    return pdu.get("jukebox.flags_tree", {}).get("jukebox.flags.end")


def compare(expected, shown, where):
    """Problems found comparing one frame of the crate with one PDU of the dissector."""
    problems = []
    if "invalid" in expected:
        if shown.get("jukebox.invalid") != expected["invalid"]:
            problems.append(f"{where}: the crate refuses it with {expected['invalid']}, "
                            f"the dissector shows {shown.get('jukebox.invalid')}")
        return problems
    if "jukebox.invalid" in shown:
        problems.append(f"{where}: the dissector refuses a frame the crate reads: {shown['jukebox.invalid']}")
    for key, value in expected.items():
        if key == "document_refused":
            continue
        if key == "json.member_with_value":
            missing = set(value) - members_with_value(shown)
            if missing:
                problems.append(f"{where}: the JSON dissector does not show {sorted(missing)}")
            continue
        got = flag_end(shown) if key == "jukebox.flags.end" else shown.get(key)
        want = ("1" if value else "0") if isinstance(value, bool) else str(value)
        if got != want:
            problems.append(f"{where}: {key} is {got!r} in the dissector, {want!r} in the crate")
    return problems


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lua", required=True)
    parser.add_argument("--frames", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--require", default="")
    parser.add_argument("pcaps", nargs="+")
    args = parser.parse_args()

    problems, checked, seen = [], 0, set()
    for pcap in args.pcaps:
        shown_all = dissected(pcap, args.lua, args.port)
        for key, payload in sorted(streams(pcap, args.port).items()):
            stream, from_client = key
            side = "client" if from_client else "server"
            expected = [f for f in crate_frames(args.frames, payload) if "partial" not in f]
            shown = shown_all.get(key, [])
            where = f"{pcap}, connection {stream}, {side} side"
            if len(shown) < len(expected):
                problems.append(f"{where}: the crate decodes {len(expected)} frames, "
                                f"the dissector shows {len(shown)}")
            for n, (want, got) in enumerate(zip(expected, shown)):
                problems += compare(want, got, f"{where}, frame {n + 1}")
                checked += 1
                seen.add(want.get("jukebox.type_name", "invalid"))
    missing = {t for t in args.require.split(",") if t} - seen
    if missing:
        problems.append(f"the captures hold no {', '.join(sorted(missing))}")
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{checked} frames compared ({', '.join(sorted(seen))}): "
          f"{'OK' if not problems else str(len(problems)) + ' problems'}")
    sys.exit(1 if problems else 0)


main()

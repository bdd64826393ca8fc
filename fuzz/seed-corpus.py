#!/usr/bin/env python3
"""Seeds fuzz/corpus/ from the protocol RFC's test vectors and example documents, and the scanner's
corpus from the bundled music, so that every target starts from valid inputs of its kind.

Usage: fuzz/seed-corpus.py   (writes fuzz/corpus/TARGET/*; safe to re-run; corpora are not committed)

- wire: each vector of the RFC's appendix, valid and invalid, and all valid vectors as one stream
  (a whole session), each behind a read-size byte (1, 12 and 256 bytes per read).
- roundtrip: the same bytes, which the target reads as a recipe for messages.
- server_info, list_request, page, manifest: the JSON payloads of the vectors of that document's
  message (compact) and the RFC's example figure of it (with line breaks).
- scan: the first 12,000 bytes of each bundled song behind a duration byte (0.5 s).
"""

import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
RFC = HERE.parent / "docs" / "rfc" / "jukebox-protocol.md"
MUSIC = HERE.parent / "music"
CORPUS = HERE / "corpus"

sys.path.insert(0, str(RFC.parent))
from vectors import vectors  # noqa: E402


def figure(source, anchor):
    """The body of the code block captioned with {#anchor}."""
    lines = source.splitlines()
    caption = next((i for i, l in enumerate(lines) if l.startswith("Figure:") and l.endswith("{#" + anchor + "}")), None)
    if caption is None or not lines[caption - 1].startswith("~~~"):
        raise SystemExit(f"seed-corpus: no figure {anchor} in {RFC}")
    start = max(i for i in range(caption - 1) if lines[i].startswith("~~~"))
    return "\n".join(lines[start + 1 : caption - 1]).encode()


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def main():
    source = RFC.read_text()
    found = vectors(source)
    if not found:
        raise SystemExit(f"seed-corpus: no test vectors in {RFC}")
    valid = b"".join(data for label, data in found if label.startswith("Vector "))
    streams = [(f"vector-{n:02}", data) for n, (_, data) in enumerate(found)]
    streams.append(("session", valid))
    for name, data in streams:
        for read in (1, 12, 256):
            write("wire", f"{name}-read{read}", bytes([read - 1]) + data)
        write("roundtrip", name, data)

    documents = {"WELCOME": "server_info", "LIST": "list_request", "PAGE": "page", "MANIFEST": "manifest"}
    for n, (label, data) in enumerate(found):
        kind = label.removeprefix("Vector ").split(":")[0]
        if label.startswith("Vector ") and kind in documents and len(data) > 12:
            payload = data[12 + 6 :] if kind == "WELCOME" else data[12:]
            write(documents[kind], f"vector-{n:02}", payload)
    for target, anchor in [
        ("server_info", "fig-server-info-example"),
        ("list_request", "fig-list-request-example"),
        ("page", "fig-page-example"),
        ("manifest", "fig-manifest-example"),
    ]:
        write(target, "figure", figure(source, anchor))

    for song in sorted(MUSIC.glob("*.mp3")):
        write("scan", song.name, bytes([50]) + song.read_bytes()[:12000])

    for folder in sorted(CORPUS.iterdir()):
        print(f"{folder.name}: {len(list(folder.iterdir()))} seeds")


main()

"""The test vectors of the protocol RFC, read from its Markdown source: one reader for the scripts
that use them (fuzz/seed-corpus.py, tools/wireshark/vectors-pcap.py). protocol/tests/rfc.rs reads
them in Rust, and checks them against the code."""


def vectors(source):
    """(label, bytes) of every 'Vector ...' and 'Invalid vector ...' of the appendix."""
    out = []
    lines = source.splitlines()
    for i, line in enumerate(lines):
        if not (line.startswith("Vector ") or line.startswith("Invalid vector ")):
            continue
        j = i + 1
        while not lines[j].startswith("~~~"):
            j += 1
        data = bytearray()
        for dump in lines[j + 1 :]:
            if dump.startswith("~~~"):
                break
            data.extend(bytes.fromhex("".join(dump.split()[1:])))
        out.append((line, bytes(data)))
    return out

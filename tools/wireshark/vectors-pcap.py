#!/usr/bin/env python3
"""Writes the test vectors of the protocol RFC into a pcap file, as TCP connections on port 5853.

Usage: vectors-pcap.py RFC_MARKDOWN OUT.pcap

Connection 0 carries every valid vector in order, each from the side that sends its type, with the
bytes of each direction cut into TCP segments of varying sizes (7, 100, 1000 and 1460 bytes in
turn), so that frames span segments and segments hold several frames: the dissector must
reassemble. Each invalid vector gets a connection of its own (after an invalid frame the stream
cannot be read further), sent by the side that sends its type. Every connection opens with a
three-way handshake and carries correct sequence numbers and checksums.
"""

import pathlib
import struct
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "docs" / "rfc"))
from vectors import vectors  # noqa: E402

SERVER_PORT = 5853
CLIENT_TYPES = {"HELLO", "LIST", "GET_MANIFEST", "GET_SEGMENT", "CANCEL"}
CLIENT_CODES = {0x01, 0x03, 0x05, 0x07, 0x09}
SEGMENT_SIZES = [7, 100, 1000, 1460]
CLIENT_IP = bytes([127, 0, 0, 2])
SERVER_IP = bytes([127, 0, 0, 1])


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class Connection:
    """One TCP connection between CLIENT_IP:port and SERVER_IP:5853."""

    def __init__(self, pcap, client_port):
        self.pcap = pcap
        self.port = client_port
        self.seq = {True: 1000, False: 5000}  # next sequence number, by "sent by the client"
        self.segment(True, b"", syn=True)
        self.segment(False, b"", syn=True)
        self.segment(True, b"")

    def segment(self, from_client, payload, syn=False):
        src, dst = (CLIENT_IP, SERVER_IP) if from_client else (SERVER_IP, CLIENT_IP)
        sport, dport = (self.port, SERVER_PORT) if from_client else (SERVER_PORT, self.port)
        seq = self.seq[from_client]
        ack = self.seq[not from_client]
        flags = 0x10  # ACK
        if syn:
            flags = 0x02 if from_client else 0x12
            if from_client:
                ack = 0
        elif payload:
            flags |= 0x08  # PSH
        header = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(header) + len(payload))
        tcp_sum = checksum(pseudo + header + payload)
        header = header[:16] + struct.pack("!H", tcp_sum) + header[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(header) + len(payload), 0, 0x4000, 64, 6, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        ether = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
        self.pcap.packet(ether + ip + header + payload)
        self.seq[from_client] = (seq + len(payload) + (1 if syn else 0)) % 2**32

    def send(self, from_client, data):
        """Sends `data` in segments of the sizes of SEGMENT_SIZES, in turn."""
        i = 0
        while data:
            size = SEGMENT_SIZES[i % len(SEGMENT_SIZES)]
            self.segment(from_client, data[:size])
            data = data[size:]
            i += 1


class Pcap:
    def __init__(self, out):
        self.out = out
        self.time = 1_700_000_000_000_000  # microseconds
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

    def packet(self, frame):
        self.time += 1000
        self.out.write(struct.pack("<IIII", self.time // 10**6, self.time % 10**6, len(frame), len(frame)))
        self.out.write(frame)


def main():
    source_path, out_path = sys.argv[1:3]
    found = vectors(open(source_path).read())
    valid = [(label, data) for label, data in found if label.startswith("Vector ")]
    invalid = [(label, data) for label, data in found if label.startswith("Invalid vector ")]
    if not valid or not invalid:
        sys.exit(f"vectors-pcap: no test vectors in {source_path}")
    with open(out_path, "wb") as out:
        pcap = Pcap(out)
        session = Connection(pcap, 40000)
        # Consecutive vectors from the same side form one run of bytes, cut into segments.
        runs = []
        for label, data in valid:
            from_client = label.removeprefix("Vector ").split(":")[0] in CLIENT_TYPES
            if runs and runs[-1][0] == from_client:
                runs[-1][1].extend(data)
            else:
                runs.append((from_client, bytearray(data)))
        for from_client, data in runs:
            session.send(from_client, bytes(data))
        for n, (label, data) in enumerate(invalid):
            Connection(pcap, 40100 + n).segment(data[4] in CLIENT_CODES, data)


main()

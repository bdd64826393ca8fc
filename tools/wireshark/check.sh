#!/usr/bin/env bash
# Checks the Wireshark dissector (jukebox.lua) against the protocol crate, field by field, on
#  (a) a capture of a real session: jukebox-server on the bundled music on a loopback port, the
#      client `jukebox` listing the songs and asking for a song that does not exist, and
#      `jukebox-bench dump` fetching every manifest and every segment, captured by dumpcap on lo;
#  (b) the RFC's test vectors, written into a pcap (vectors-pcap.py) as TCP connections whose
#      segments split and join frames.
# check.py decodes each direction of each connection with the protocol crate
# (protocol/examples/frames.rs) and compares every frame with what tshark shows.
#
# Usage: tools/wireshark/check.sh   (needs tshark, dumpcap and python3; root or capture rights on
# lo). Run by .ci/run. Every wait is bounded; the whole check takes seconds.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
for tool in tshark dumpcap python3 cargo; do
    command -v "$tool" >/dev/null || { echo "wireshark/check.sh: $tool is not installed" >&2; exit 1; }
done

(cd "$root" && cargo build -q --bin jukebox-server --bin jukebox --bin jukebox-bench --example frames)
bin=$root/target/debug

work=$(mktemp -d)
server_pid= capture_pid=
cleanup() {
    [ -n "$capture_pid" ] && kill "$capture_pid" 2>/dev/null && wait "$capture_pid" 2>/dev/null
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Polls a condition for at most 10 seconds.
wait_for() {
    local what=$1
    shift
    for _ in $(seq 100); do
        "$@" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "wireshark/check.sh: timed out waiting for $what" >&2
    exit 1
}
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1"); }
capturing() { [ -s "$1" ]; }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# (a) A real session.
"$bin/jukebox-server" --music "$root/music" --listen "127.0.0.1:$port" 2>"$work/server.log" &
server_pid=$!
wait_for "the server on port $port" listening "$port"
dumpcap -q -i lo -f "tcp port $port" -w "$work/session.pcapng" -a duration:60 2>"$work/dumpcap.log" &
capture_pid=$!
wait_for "dumpcap to start" capturing "$work/session.pcapng"
# The unknown song is a failed command, so the client exits with status 1.
status=0
printf 'list\nplay 9007199254740991\nquit\n' |
    timeout 20 "$bin/jukebox" --server "127.0.0.1:$port" --output null >"$work/client.log" 2>&1 ||
    status=$?
if [ "$status" != 1 ]; then
    echo "wireshark/check.sh: the client exited with status $status, not 1:" >&2
    cat "$work/client.log" >&2
    exit 1
fi
timeout 20 "$bin/jukebox-bench" --server "127.0.0.1:$port" dump --out "$work/dump" >"$work/bench.log"
kill "$server_pid" && wait "$server_pid" 2>/dev/null || true
server_pid=
# dumpcap writes what it has and exits on SIGINT.
kill -INT "$capture_pid" && wait "$capture_pid" 2>/dev/null || true
capture_pid=
grep -q "unknown song 9007199254740991" "$work/client.log" ||
    { echo "wireshark/check.sh: the client did not get its UNKNOWN_SONG:" >&2; cat "$work/client.log" >&2; exit 1; }

echo "wireshark: a real session ($(tshark -r "$work/session.pcapng" 2>/dev/null | wc -l) packets)"
python3 "$here/check.py" --lua "$here/jukebox.lua" --frames "$bin/examples/frames" --port "$port" \
    --require HELLO,WELCOME,LIST,PAGE,GET_MANIFEST,MANIFEST,GET_SEGMENT,DATA,ERROR \
    "$work/session.pcapng"

# (b) The RFC's vectors.
python3 "$here/vectors-pcap.py" "$root/docs/rfc/jukebox-protocol.md" "$work/vectors.pcap"
echo "wireshark: the RFC's test vectors"
python3 "$here/check.py" --lua "$here/jukebox.lua" --frames "$bin/examples/frames" --port 5853 \
    --require HELLO,WELCOME,LIST,PAGE,GET_MANIFEST,MANIFEST,GET_SEGMENT,DATA,CANCEL,ERROR,GOAWAY,invalid \
    "$work/vectors.pcap"

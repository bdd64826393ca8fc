#!/usr/bin/env bash
# Side by side on loopback: jukebox-server loaded by jukebox-bench, and nginx serving the very same
# segment bytes as files over HTTP/1.1 keep-alive, loaded by wrk, at the same connection count.
# Loads alternate (nginx, jukebox, nginx, jukebox, ...) so both see the same machine; the ratio of
# the medians is printed at the end. nginx and wrk are a yardstick here, never a dependency of
# Jukebox (Debian: apt-get install nginx wrk).
#
# Usage: bench/compare-nginx.sh [--clients N] [--duration S] [--rounds R] [--song ID] [--segment I]
#        [--music DIR]
# Environment: JUKEBOX_BIN (folder with release jukebox-server and jukebox-bench; default: build
# them with cargo --release), NGINX_PORT, JUKEBOX_PORT, JUKEBOX_SERVER_ARGS (extra jukebox-server
# options, e.g. "--notsent-lowat 0" to compare settings).
set -euo pipefail

clients=64 duration=10 rounds=3 song=1 segment=1
root=$(cd "$(dirname "$0")/.." && pwd)
music=$root/music
while [ $# -gt 0 ]; do
    case $1 in
        --clients) clients=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --song) song=$2; shift 2 ;;
        --segment) segment=$2; shift 2 ;;
        --music) music=$2; shift 2 ;;
        *) echo "usage: $0 [--clients N] [--duration S] [--rounds R] [--song ID] [--segment I] [--music DIR]" >&2; exit 2 ;;
    esac
done
nginx_port=${NGINX_PORT:-18080}
jukebox_port=${JUKEBOX_PORT:-18081}
threads=$(nproc)

for tool in nginx wrk python3; do
    command -v "$tool" >/dev/null || { echo "$0: $tool not found (apt-get install nginx wrk python3)" >&2; exit 1; }
done
if [ -z "${JUKEBOX_BIN:-}" ]; then
    (cd "$root" && cargo build --release -q -p jukebox-server -p jukebox-bench)
    JUKEBOX_BIN=$root/target/release
fi
server_bin=$JUKEBOX_BIN/jukebox-server
bench_bin=$JUKEBOX_BIN/jukebox-bench

work=$(mktemp -d)
chmod 755 "$work"
server_pid= nginx_pid=
cleanup() {
    [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "$0: nothing listening on port $1" >&2
    return 1
}

"$server_bin" --music "$music" --listen "127.0.0.1:$jukebox_port" ${JUKEBOX_SERVER_ARGS:-} 2>"$work/jukebox-server.log" &
server_pid=$!
wait_port "$jukebox_port"

# The same bytes for nginx: every segment the server sends, as www/SONG/INDEX.mp3.
"$bench_bin" --server "127.0.0.1:$jukebox_port" dump --out "$work/www" >/dev/null
chmod -R a+rX "$work/www"
file=$work/www/$song/$segment.mp3
[ -f "$file" ] || { echo "$0: the server has no segment $segment of song $song" >&2; exit 1; }
size=$(stat -c %s "$file")

mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_timeout 120s;
    keepalive_requests 100000000;
    default_type application/octet-stream;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        root $work/www;
    }
}
EOF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
nginx_pid=$!
wait_port "$nginx_port"
curl_check=$(python3 - "$nginx_port" "$song" "$segment" "$file" <<'EOF'
import sys, urllib.request
port, song, segment, path = sys.argv[1:]
body = urllib.request.urlopen(f"http://127.0.0.1:{port}/{song}/{segment}.mp3").read()
print("same" if body == open(path, "rb").read() else "different")
EOF
)
[ "$curl_check" = same ] || { echo "$0: nginx does not serve the segment's bytes" >&2; exit 1; }

# CPU time (user + system, in clock ticks) of a list of processes, and of a command's children.
ticks() { local sum=0 pid; for pid in "$@"; do sum=$((sum + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done; echo "$sum"; }
nginx_workers=$(pgrep -P "$nginx_pid" | tr '\n' ' ')
hz=$(getconf CLK_TCK)

echo "segment: song $song index $segment, $size bytes; $clients connections, ${duration}s per run, $rounds rounds, $threads load threads"
echo "(cpu: microseconds of CPU per request, server + load generator)"
nginx_rates=() jukebox_rates=() nginx_cpu=() jukebox_cpu=()
for round in $(seq "$rounds"); do
    before=$(ticks $nginx_workers)
    out=$( { /usr/bin/time -f "TIME %U %S" wrk -t"$threads" -c"$clients" -d"${duration}s" --latency \
        "http://127.0.0.1:$nginx_port/$song/$segment.mp3"; } 2>&1)
    after=$(ticks $nginx_workers)
    rate=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errors=$(grep -E "Non-2xx|Socket errors" <<<"$out" || true)
    cpu=$(awk -v b="$before" -v a="$after" -v hz="$hz" -v r="$rate" -v d="$duration" \
        '/^TIME/ {printf "%.1f + %.1f", (a - b) / hz / (r * d) * 1e6, ($2 + $3) / (r * d) * 1e6}' <<<"$out")
    echo "round $round nginx+wrk:        $rate requests/s, p99 $p99, cpu $cpu ${errors:+($errors)}"
    nginx_rates+=("$rate")

    before=$(ticks "$server_pid")
    out=$( { /usr/bin/time -f "TIME %U %S" "$bench_bin" --server "127.0.0.1:$jukebox_port" --threads "$threads" \
        --duration "$duration" --json throughput --clients "$clients" --song "$song" --segment "$segment"; } 2>&1) || {
        echo "$0: jukebox-bench failed: $out" >&2; exit 1; }
    after=$(ticks "$server_pid")
    read -r rate p99 failed cpu < <(python3 -c '
import json, sys
lines = sys.stdin.read().splitlines()
r = json.loads(next(l for l in lines if l.startswith("{")))
u, s = map(float, next(l for l in lines if l.startswith("TIME")).split()[1:])
n = r["segments"]; server = (int(sys.argv[2]) - int(sys.argv[1])) / int(sys.argv[3])
print(round(r["segments_per_sec"]), str(r["latency"]["p99_ms"]) + "ms", r["failed"],
      "%.1f+%.1f" % (server / n * 1e6, (u + s) / n * 1e6))' "$before" "$after" "$hz" <<<"$out")
    echo "round $round jukebox+bench:    $rate segments/s, p99 $p99, cpu ${cpu/+/ + }, $failed failed"
    jukebox_rates+=("$rate")
done

python3 - "${nginx_rates[*]}" "${jukebox_rates[*]}" <<'EOF'
import statistics, sys
nginx = [float(x) for x in sys.argv[1].split()]
jukebox = [float(x) for x in sys.argv[2].split()]
n, j = statistics.median(nginx), statistics.median(jukebox)
print(f"median: nginx {n:.0f} requests/s, jukebox {j:.0f} segments/s; ratio jukebox/nginx = {j / n:.2f}")
EOF

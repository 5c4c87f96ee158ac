#!/usr/bin/env bash
# Soak: parleyd holds N clients (default 2000) chatting and turning over for a long time
# (default 10 minutes); every 10 s one line with the server's RSS, open descriptors, the p99
# delivery latency and the churn. Flat means RSS and descriptors vary by less than 2%
# (max - min, over the last half of the run). Not part of the test run (bench/README.md).
#
#   bench/soak.sh [--duration S] [--clients N] [--out DIR]
#   more:  --rooms R  --churn F (fraction replaced per second, default 0.01)
#          --message-interval S (per client, default 5)  --interval S (default 10)
#          --server-cpu N  --generator-cpu N (defaults 0 and 1)  --parleyd PATH
#
# Builds nothing: expects build/default (cmake --preset default && cmake --build --preset
# default --target parley-bench parleyd). Output (default bench/results/<date>-soak/): soak.log
# (the table and the verdict), samples.jsonl (one JSON object per sample), summary.json (the
# whole run), parleyd.json (the config), parleyd.log and parleyd-excerpt.jsonl (its stats lines,
# warnings and errors) and parleyd-events.txt (how many of each event). Exits non-zero when
# not flat, when clients were lost or refused, or when the server died.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${BUILD_DIR:-$root/build/default}
bench=$build/bench/parley-bench
parleyd=$build/server/parleyd

duration=600
clients=2000
rooms=200
churn=0.01
message_interval=5
interval=10
out=""
server_cpu=0
generator_cpu=1

need_value() { [ $# -ge 2 ] && [ -n "$2" ] || { echo "soak.sh: $1 needs a value" >&2; exit 2; }; }
need_number() {
  [[ $2 =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "soak.sh: $1 wants a number, got '$2'" >&2; exit 2; }
}
while [ $# -gt 0 ]; do
  case "$1" in
    --duration|--clients|--rooms|--churn|--message-interval|--interval|--server-cpu|--generator-cpu)
      need_value "$@"; need_number "$1" "$2"
      case "$1" in
        --duration) duration=$2 ;; --clients) clients=$2 ;; --rooms) rooms=$2 ;;
        --churn) churn=$2 ;; --message-interval) message_interval=$2 ;;
        --interval) interval=$2 ;; --server-cpu) server_cpu=$2 ;;
        --generator-cpu) generator_cpu=$2 ;;
      esac
      shift ;;
    --out) need_value "$@"; out=$2; shift ;;
    --parleyd) need_value "$@"; parleyd=$2; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown option $1 (--help)" >&2; exit 2 ;;
  esac
  shift
done
[[ $clients =~ ^[0-9]+$ ]] && [ "$clients" -ge 1 ] || { echo "soak.sh: --clients wants a whole number >= 1" >&2; exit 2; }
[[ $rooms =~ ^[0-9]+$ ]] && [ "$rooms" -ge 1 ] && [ "$rooms" -le "$clients" ] ||
  { echo "soak.sh: --rooms wants a whole number in 1..clients" >&2; exit 2; }

for tool in "$bench" "$parleyd"; do
  [ -x "$tool" ] || { echo "soak.sh: $tool missing: build first (bench/README.md)" >&2; exit 1; }
done

# Descriptors: the server needs one per session (and a few), the generator one per client, and
# a quit's new client connects before the server has closed the old one.
ulimit -n "$(ulimit -Hn)"
needed=$((clients + clients / 10 + 200))
if [ "$(ulimit -n)" -lt "$needed" ]; then
  echo "soak.sh: RLIMIT_NOFILE $(ulimit -n) (hard limit) is below $needed for $clients clients" >&2
  exit 1
fi

# One core each for the server and the generator, when there are two.
server_run=()
generator_run=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  server_run=(taskset -c "$server_cpu")
  generator_run=(taskset -c "$generator_cpu")
else
  echo "soak.sh: taskset or a second CPU missing: server and generator share the CPUs" >&2
fi

[ -n "$out" ] || out=$here/results/$(date +%Y%m%d-%H%M%S)-soak
mkdir -p "$out"
work=$(mktemp -d /tmp/parley-soak.XXXXXX)
key_cache=$here/results/.transport-keys.pem  # bench-only: the generator's RSA-2048 key pool

# shellcheck source=bench/server_lifecycle.sh
. "$here/server_lifecycle.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

# The config: production defaults, except what 2,000 clients from one address (127.0.0.1) need.
# Every limit per source is raised past the whole load (the ramp opens 64 connections at a time
# as fast as the server signs), sessions per source and in all leave room for a quit's new
# client being counted before the old one is gone, and the stats line comes every 10 s.
max_sessions=$((clients * 2))
max_clients=$((max_sessions > 10000 ? max_sessions : 10000))
cat > "$out/parleyd.json" <<EOF
{
  "listen": [{"address": "127.0.0.1", "port": 0}],
  "identity_key": "$work/identity.pem",
  "limits": {
    "max_clients": $max_clients,
    "handshakes_per_source_per_s": 100000,
    "handshake_burst_per_source": 100000,
    "max_pending_handshakes": 1024,
    "max_pending_per_source": 1024,
    "max_sessions_per_source": $max_sessions
  },
  "log": {"format": "json", "level": "info", "stats_interval_s": 10}
}
EOF

started=$(date +%s)
log() { echo "[$(( $(date +%s) - started ))s] $*" >&2; }

# The conditions of this run.
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "git: $(git -C "$root" describe --always --dirty 2>/dev/null || echo '?')"
  echo "parleyd: $parleyd"
  echo "cpus: $(nproc), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "kernel: $(uname -r)"
  echo "loadavg before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "pinning: server ${server_run[*]:-none}, generator ${generator_run[*]:-none}"
  echo "nofile: $(ulimit -n)"
  echo "command: bench/soak.sh --duration $duration --clients $clients --rooms $rooms --churn $churn --message-interval $message_interval --interval $interval"
} > "$out/conditions.txt"

log "starting parleyd (a new identity key takes a few seconds)"
: > "$out/parleyd.log"
"${server_run[@]}" "$parleyd" --config "$out/parleyd.json" 2>> "$out/parleyd.log" &
server_pid=$!
# The kernel picks the port; the `listening` line says which.
port=""
for _ in $(seq 600); do
  port=$(sed -n 's/.*"event":"listening".*"port":\([0-9]*\).*/\1/p' "$out/parleyd.log" | head -1)
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || { echo "soak.sh: parleyd did not start (see $out/parleyd.log)" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "soak.sh: parleyd did not say where it listens (see $out/parleyd.log)" >&2; exit 1; }
log "parleyd $server_pid on 127.0.0.1:$port; soak: $clients clients, $rooms rooms, ${duration}s"

status=0
"${generator_run[@]}" "$bench" soak --system parley --port "$port" --server-pid "$server_pid" \
  --key-cache "$key_cache" --clients "$clients" --rooms "$rooms" --churn "$churn" \
  --message-interval "$message_interval" --duration "$duration" --interval "$interval" \
  --jsonl "$out/samples.jsonl" > "$out/summary.json" 2> >(tee "$out/soak.log" >&2) || status=$?

server_alive=1
kill -0 "$server_pid" 2>/dev/null || server_alive=0
stop_server
[ "$server_alive" = 1 ] || { echo "soak.sh: parleyd died during the run (see $out/parleyd.log)" >&2; status=1; }

# What the server logged, in small: every stats line, warning and error, and a count per event.
grep -E '"event":"(stats|listening|nofile_limit|shutdown)"|"level":"(warn|error|critical)"' \
  "$out/parleyd.log" > "$out/parleyd-excerpt.jsonl" || true
sed -n 's/.*"level":"\([a-z]*\)".*"event":"\([a-z_]*\)".*/\1 \2/p' "$out/parleyd.log" |
  sort | uniq -c | sort -rn > "$out/parleyd-events.txt" || true

log "done (exit $status): $out"
exit "$status"

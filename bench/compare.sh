#!/usr/bin/env bash
# Parley side by side with mosquitto, nats-server and ngIRCd, in one run (bench/README.md).
#
#   bench/compare.sh            quick mode (a few minutes)
#   bench/compare.sh --full     longer phases, more load points, a second fan-out shape
#   options: --out DIR  --server-cpu N  --generator-cpu N  --systems "parley-aes mosquitto ..."
#   (parley-tls: Parley AES-256-GCM behind a TLS listener; not in the default list)
#            --quiet-wait S  before each server start, wait up to S seconds for both cores to
#                            be at least 90% idle (a shared machine; default 0: do not wait)
#            --parleyd PATH  the parleyd to measure (default: the build's; before_after.sh)
#            --shapes "chat bigrooms"  the fan-out shapes (default: chat; --full adds bigrooms)
#            --no-sweep      fan-out: the closed-loop window phase only, no paced phases
#            --hs-rounds N   sign-rate and handshake rounds (default 3 quick, 5 full)
#
# Every server runs on 127.0.0.1 with its own config (bench/peers/), pinned to one core; the
# load generator (parley-bench) is pinned to another. Results: DIR/raw.jsonl (one JSON object
# per run), DIR/results.json, DIR/results.md, DIR/latency.png, and the servers' logs.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${BUILD_DIR:-$root/build/default}
bench=$build/bench/parley-bench
parleyd=$build/server/parleyd

mode=quick
out=""
server_cpu=0
generator_cpu=1
systems="parley-aes parley-chacha parley-idea mosquitto nats ngircd"
quiet_wait=0
shapes=""
no_sweep=0
hs_rounds_option=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --out) out=$2; shift ;;
    --server-cpu) server_cpu=$2; shift ;;
    --generator-cpu) generator_cpu=$2; shift ;;
    --systems) systems=$2; shift ;;
    --quiet-wait) quiet_wait=$2; shift ;;
    --parleyd) parleyd=$2; shift ;;
    --shapes) shapes=$2; shift ;;
    --no-sweep) no_sweep=1 ;;
    --hs-rounds) hs_rounds_option=$2; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

# Scenario sizes. Quick: every system, short phases. Full: longer phases, more load points,
# and a second fan-out shape with large rooms.
fanout_clients=1000 fanout_rooms=100 fanout_publishers=100 fanout_size=128 fanout_window=4
idle_clients=10000 idle_rooms=1000
if [ "$mode" = quick ]; then
  warmup=1 duration=3 sweep="0.1,0.3,0.6,0.9,1.05"
  hs_rounds=3 hs_warmup=2 hs_duration=5 sign_runs=3
else
  warmup=2 duration=10 sweep="0.05,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0,1.1"
  hs_rounds=5 hs_warmup=3 hs_duration=15 sign_runs=5
fi
[ -n "$shapes" ] || { [ "$mode" = full ] && shapes="chat bigrooms" || shapes="chat"; }
[ -n "$hs_rounds_option" ] && hs_rounds=$hs_rounds_option
sweep_args=(--sweep "$sweep")
[ "$no_sweep" = 1 ] && sweep_args=()

for tool in "$bench" "$parleyd"; do
  [ -x "$tool" ] || { echo "compare.sh: $tool missing: build first (README.md)" >&2; exit 1; }
done
for tool in mosquitto nats-server ngircd taskset ss python3 gnuplot; do
  command -v "$tool" >/dev/null || { echo "compare.sh: $tool missing: run bench/install-bench-deps.sh" >&2; exit 1; }
done
[ "$(nproc)" -ge 2 ] || { echo "compare.sh: needs two CPUs (server and generator on one each)" >&2; exit 1; }

# Every descriptor the hard limit allows, for the servers (inherited) and the generator.
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((idle_clients + 200)) ]; then
  echo "compare.sh: RLIMIT_NOFILE $(ulimit -n) is below $((idle_clients + 200)); idle runs will fail" >&2
fi

[ -n "$out" ] || out=$here/results/$(date +%Y%m%d-%H%M%S)-$mode
mkdir -p "$out"
work=$(mktemp -d /tmp/parley-compare.XXXXXX)
key_cache=$here/results/.transport-keys.pem  # bench-only: the generator's RSA-2048 key pool
raw=$out/raw.jsonl
: > "$raw"

# shellcheck source=bench/server_lifecycle.sh
. "$here/server_lifecycle.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

port_of() {
  case "$1" in
    parley-*) echo 17777 ;; mosquitto) echo 18883 ;; nats) echo 14222 ;; ngircd) echo 16667 ;;
  esac
}

# Connections opened at once: ngIRCd listens with a backlog of 10 (hard-coded in conn.c), so
# more simultaneous connects overflow its accept queue and get reset.
parallel_of() {
  case "$1" in ngircd) echo 8 ;; *) echo 128 ;; esac
}

listening() { ss -Hltn "sport = :$1" | grep -q LISTEN; }

# Idle share (0..100) of the least idle of the two cores over one second, from /proc/stat.
min_idle() {
  python3 - "$server_cpu" "$generator_cpu" <<'PY'
import sys, time
def read():
    out = {}
    for line in open("/proc/stat"):
        f = line.split()
        if f[0].startswith("cpu") and f[0] != "cpu":
            v = list(map(int, f[1:]))
            out[f[0][3:]] = (v[3] + v[4], sum(v))
    return out
a = read(); time.sleep(1); b = read()
print(min(int(100 * (b[c][0] - a[c][0]) / max(1, b[c][1] - a[c][1])) for c in sys.argv[1:]))
PY
}

wait_quiet() {
  [ "$quiet_wait" -gt 0 ] || return 0
  local deadline=$(( $(date +%s) + quiet_wait )) idle
  while :; do
    idle=$(min_idle)
    [ "$idle" -ge 90 ] && return 0
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "compare.sh: cores still busy (least idle ${idle}%), measuring anyway" >&2
      return 0
    fi
    sleep 2
  done
}

# start_server SYSTEM: fills $server_pid, waits until the port listens.
start_server() {
  local system=$1 port dir
  port=$(port_of "$system")
  if listening "$port"; then
    echo "compare.sh: port $port is already in use" >&2; exit 1
  fi
  wait_quiet
  dir=$work/$system
  mkdir -p "$dir/conf.d"
  case "$system" in
    parley-*)
      dir=$work/parley  # one identity key for every Parley run
      mkdir -p "$dir"
      sed -e "s|@PORT@|$port|" -e "s|@DIR@|$dir|" "$here/peers/parleyd.json.in" > "$dir/parleyd.json"
      if [ "$system" = parley-tls ]; then
        # The same server behind TLS: a throwaway self-signed P-256 certificate (the generator
        # does not check it; what TLS costs the server does not depend on who signed it).
        [ -f "$dir/tls.crt" ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
          -nodes -keyout "$dir/tls.key" -out "$dir/tls.crt" -days 2 -subj /CN=localhost 2> /dev/null
        jq --arg cert "$dir/tls.crt" --arg key "$dir/tls.key" \
          '.listen[0].tls = {cert: $cert, key: $key}' "$dir/parleyd.json" > "$dir/parleyd-tls.json"
        mv "$dir/parleyd-tls.json" "$dir/parleyd.json"
      fi
      taskset -c "$server_cpu" "$parleyd" --config "$dir/parleyd.json" 2>> "$out/parleyd.log" &
      ;;
    mosquitto)
      sed -e "s|@PORT@|$port|" -e "s|@DIR@|$dir|" "$here/peers/mosquitto.conf.in" > "$dir/mosquitto.conf"
      taskset -c "$server_cpu" mosquitto -c "$dir/mosquitto.conf" >> "$out/mosquitto.log" 2>&1 &
      ;;
    nats)
      sed -e "s|@PORT@|$port|" -e "s|@DIR@|$dir|" "$here/peers/nats.conf.in" > "$dir/nats.conf"
      taskset -c "$server_cpu" nats-server -c "$dir/nats.conf" >> "$out/nats-server.log" 2>&1 &
      ;;
    ngircd)
      sed -e "s|@PORT@|$port|" -e "s|@DIR@|$dir|" "$here/peers/ngircd.conf.in" > "$dir/ngircd.conf"
      taskset -c "$server_cpu" ngircd --nodaemon --config "$dir/ngircd.conf" >> "$out/ngircd.log" 2>&1 &
      ;;
  esac
  server_pid=$!
  for _ in $(seq 300); do
    listening "$port" && return 0
    kill -0 "$server_pid" 2>/dev/null || { echo "compare.sh: $system did not start (see $out)" >&2; exit 1; }
    sleep 0.1
  done
  echo "compare.sh: $system does not listen on $port" >&2
  exit 1
}

# generator ARGS...: parley-bench pinned to the generator's core, one JSON line into raw.jsonl.
generator() {
  local line
  if line=$(taskset -c "$generator_cpu" "$bench" "$@" 2>> "$out/generator.log"); then :; else
    echo "compare.sh: parley-bench $1 failed (see $out/generator.log)" >&2
  fi
  [ -n "$line" ] && echo "$line" >> "$raw"
  return 0
}

system_args() {
  local system=$1
  case "$system" in
    parley-aes) echo "--system parley --suite AES-256-GCM --key-cache $key_cache" ;;
    parley-chacha) echo "--system parley --suite CHACHA20-POLY1305 --key-cache $key_cache" ;;
    parley-idea) echo "--system parley --suite IDEA-CTR-HMAC-SHA256 --key-cache $key_cache" ;;
    parley-tls) echo "--system parley --suite AES-256-GCM --tls --key-cache $key_cache" ;;
    *) echo "--system $system" ;;
  esac
}

started=$(date +%s)
log() { echo "[$(( $(date +%s) - started ))s] $*" >&2; }

# The conditions of this run, for the report.
python3 - "$out/conditions.json" "$mode" "$server_cpu" "$generator_cpu" "$root" "$parleyd" <<'EOF'
import json, os, platform, subprocess, sys
def cmd(*a):
    try: return subprocess.run(a, capture_output=True, text=True).stdout.strip()
    except Exception: return ""
model = ""
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"): model = line.split(":", 1)[1].strip(); break
json.dump({
    "mode": sys.argv[2], "server_cpu": int(sys.argv[3]), "generator_cpu": int(sys.argv[4]),
    "cpus": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
    "loadavg_before": open("/proc/loadavg").read().split()[:3],
    "versions": {
        "mosquitto": cmd("dpkg-query", "-W", "-f=${Version}", "mosquitto"),
        "nats-server": cmd("dpkg-query", "-W", "-f=${Version}", "nats-server"),
        "ngircd": cmd("dpkg-query", "-W", "-f=${Version}", "ngircd"),
        "botan": cmd("dpkg-query", "-W", "-f=${Version}", "libbotan-2-19"),
    },
    "git": cmd("git", "-C", sys.argv[5], "describe", "--always", "--dirty"),
    "parleyd": sys.argv[6],
}, open(sys.argv[1], "w"), indent=1)
EOF

have() { case " $systems " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# 1. Handshakes, and the raw RSA-PSS sign rate of the identity key on the server's core. A VM's
# speed drifts by several percent over a minute, so the two are measured back to back in rounds
# (sign rate with the server stopped, then handshakes) and the report takes the median round.
if have parley-aes; then
  log "parley: sign rate and handshakes, $hs_rounds rounds"
  start_server parley-aes
  stop_server  # the first start created the identity key; the sign rate runs on an idle core
  for round in $(seq "$hs_rounds"); do
    taskset -c "$server_cpu" "$bench" sign-rate --key "$work/parley/identity.pem" --runs "$sign_runs" \
      2>> "$out/generator.log" | sed "s/^{/{\"round\":$round,/" >> "$raw"
    start_server parley-aes
    # shellcheck disable=SC2046
    generator handshake $(system_args parley-aes) --port 17777 --server-pid "$server_pid" \
      --concurrency 16 --warmup "$hs_warmup" --duration "$hs_duration" --label "handshake-$round"
    stop_server
    if have parley-tls; then  # the same round over TLS, back to back
      start_server parley-tls
      # shellcheck disable=SC2046
      generator handshake $(system_args parley-tls) --port 17777 --server-pid "$server_pid" \
        --concurrency 16 --warmup "$hs_warmup" --duration "$hs_duration" --label "tls-handshake-$round"
      stop_server
    fi
  done
fi

# 2. Fan-out: the closed-loop window phase, then paced phases at fractions of its rate.
# fanout SYSTEM LABEL WINDOW [shape options]
fanout() {
  local system=$1 label=$2 window=$3; shift 3
  log "$system: fanout $label"
  start_server "$system"
  # shellcheck disable=SC2046
  generator fanout $(system_args "$system") --port "$(port_of "$system")" \
    --server-pid "$server_pid" --label "$label" --size "$fanout_size" --window "$window" \
    --warmup "$warmup" --duration "$duration" "${sweep_args[@]}" \
    --connect-parallel "$(parallel_of "$system")" "$@"
  stop_server
}
have_shape() { case " $shapes " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
if have_shape chat; then
  for system in $systems; do
    fanout "$system" chat "$fanout_window" --clients "$fanout_clients" --rooms "$fanout_rooms" \
      --publishers "$fanout_publishers"
  done
fi
if have_shape bigrooms; then
  for system in $systems; do
    fanout "$system" bigrooms 8 --clients 1000 --rooms 10 --publishers 10
  done
fi

# 3. Idle sessions: RSS per session (Parley once: the suite does not change what is kept).
for system in $systems; do
  case "$system" in parley-chacha|parley-idea) continue ;; esac
  log "$system: $idle_clients idle sessions"
  start_server "$system"
  # shellcheck disable=SC2046
  generator idle $(system_args "$system") --port "$(port_of "$system")" --server-pid "$server_pid" \
    --clients "$idle_clients" --rooms "$idle_rooms" --settle 3 --connect-parallel "$(parallel_of "$system")" \
    --label idle
  stop_server
done

log "report"
python3 "$here/report.py" "$out"
log "done: $out/results.md"

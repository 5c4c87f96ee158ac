#!/usr/bin/env bash
# What the cluster costs (docs/cluster.md): parley-bench's fan-out against
#   single    one parleyd, no cluster block (the plain server)
#   cluster1  one parleyd that is a cluster node (nats-server -js beside it)
#   cluster2  two parleyd nodes sharing the port (reuse_port), one nats-server
# in the shapes
#   chat      1000 clients, 100 rooms, 100 publishers, window 4 (compare.sh's chat)
#   bigrooms  1000 clients, 10 rooms, 10 publishers, window 8
#   oneroom   10 clients in one room, 1 publisher, window 64: one room's ceiling
#   oneroom10 10 clients in one room, all 10 publishing, window 8
# Every server process (parleyd, nats-server) is pinned to the server core, parley-bench to the
# generator core: on a 2-core machine "cluster2" is two nodes and NATS sharing one core, a shape
# and not a claim about scaling. Only the closed-loop window phase runs.
#
# Usage: bench/cluster.sh [--build DIR] [--out DIR] [--cases "single cluster1 cluster2"]
#                         [--shapes "chat bigrooms oneroom oneroom10"] [--duration S]
# Prints a table; raw JSON lines go to OUT/raw.jsonl.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=$root/build/default
out=""
cases="single cluster1 cluster2"
shapes="chat bigrooms oneroom oneroom10"
duration=5
warmup=2
server_cpu=0
generator_cpu=1
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift ;;
    --out) out=$2; shift ;;
    --cases) cases=$2; shift ;;
    --shapes) shapes=$2; shift ;;
    --duration) duration=$2; shift ;;
    *) echo "cluster.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
bench=$build/bench/parley-bench
parleyd=$build/server/parleyd
for tool in "$bench" "$parleyd"; do
  [ -x "$tool" ] || { echo "cluster.sh: $tool missing: build first" >&2; exit 1; }
done
command -v nats-server > /dev/null || { echo "cluster.sh: nats-server missing (apt-get install nats-server)" >&2; exit 1; }
[ -n "$out" ] || out=$here/results/$(date +%Y%m%d-%H%M%S)-cluster
mkdir -p "$out"
raw=$out/raw.jsonl
: > "$raw"
work=$(mktemp -d /tmp/parley-cluster.XXXXXX)
key_cache=$here/results/.transport-keys.pem
port=17777
nats_port=14322
pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2> /dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
  done
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

listening() { ss -Hltn "sport = :$1" | grep -q LISTEN; }
wait_listen() {
  for _ in $(seq 300); do listening "$1" && return 0; sleep 0.1; done
  echo "cluster.sh: nothing listens on $1 (see $out)" >&2
  exit 1
}

# config NODE CLUSTER(0|1) REUSE(0|1): a parleyd config from bench/peers/parleyd.json.in.
config() {
  local node=$1 cluster=$2 reuse=$3 file=$work/parleyd-$1.json
  sed -e "s|@PORT@|$port|" -e "s|@DIR@|$work|" "$here/peers/parleyd.json.in" |
    jq --argjson cluster "$cluster" --argjson reuse "$reuse" --arg node "$node" \
      --arg nats "nats://127.0.0.1:$nats_port" '
      (if $reuse == 1 then .listen[0].reuse_port = true else . end)
      | (if $cluster == 1 then .cluster = {servers: [$nats], name: "bench", node: $node} else . end)' \
      > "$file"
  echo "$file"
}

# start_case CASE: starts its processes; sets $server_pid (the first parleyd) and $nats_pid.
start_case() {
  local case=$1 nodes=0 cluster=0 reuse=0
  case "$case" in
    single) nodes=1 ;;
    cluster1) nodes=1 cluster=1 ;;
    cluster2) nodes=2 cluster=1 reuse=1 ;;
  esac
  nats_pid=""
  if [ "$cluster" = 1 ]; then
    rm -rf "$work/nats"
    taskset -c "$server_cpu" nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$work/nats" \
      >> "$out/nats-server.log" 2>&1 &
    nats_pid=$!
    pids+=("$nats_pid")
    wait_listen "$nats_port"
  fi
  # One identity key for every node (made by the first start).
  for n in $(seq "$nodes"); do
    taskset -c "$server_cpu" "$parleyd" --config "$(config "n$n" "$cluster" "$reuse")" \
      2>> "$out/parleyd-$case.log" &
    pids+=("$!")
    [ "$n" = 1 ] && server_pid=$!
    wait_listen "$port"
    sleep 0.5  # the next node's cluster_joined after this one's
  done
}

# CPU seconds a process has used (utime + stime).
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat" 2> /dev/null || echo 0; }

shape_args() {
  case "$1" in
    chat) echo "--clients 1000 --rooms 100 --publishers 100 --window 4" ;;
    bigrooms) echo "--clients 1000 --rooms 10 --publishers 10 --window 8" ;;
    oneroom) echo "--clients 10 --rooms 1 --publishers 1 --window 64" ;;
    oneroom10) echo "--clients 10 --rooms 1 --publishers 10 --window 8" ;;
  esac
}

printf '%-9s %-10s %14s %14s %10s %10s %10s\n' case shape delivered/s published/s p99_ms parleyd% nats%
for case in $cases; do
  for shape in $shapes; do
    start_case "$case"
    nats_before=0
    [ -n "$nats_pid" ] && nats_before=$(cpu_s "$nats_pid")
    started=$(date +%s.%N)
    # shellcheck disable=SC2046
    line=$(taskset -c "$generator_cpu" "$bench" fanout --system parley --suite AES-256-GCM \
      --key-cache "$key_cache" --port "$port" --server-pid "$server_pid" \
      --label "$case-$shape" --size 128 --warmup "$warmup" --duration "$duration" \
      $(shape_args "$shape") 2>> "$out/generator.log") || true
    elapsed=$(echo "$(date +%s.%N) - $started" | bc)
    nats_pct=-
    if [ -n "$nats_pid" ]; then
      nats_pct=$(echo "scale=1; 100 * ($(cpu_s "$nats_pid") - $nats_before) / $elapsed" | bc)
    fi
    stop_all
    if [ -z "$line" ]; then
      printf '%-9s %-10s %14s\n' "$case" "$shape" "failed (see $out/generator.log)"
      continue
    fi
    echo "$line" >> "$raw"
    echo "$line" | jq -r --arg case "$case" --arg shape "$shape" --arg nats "$nats_pct" '
      .phases[0] as $p
      | [$case, $shape, ($p.delivered_per_s | floor), ($p.published_per_s | floor),
         (($p.latency_us.p99 / 1000) * 10 | floor / 10), ($p.server.cpu_pct | floor), $nats]
      | @tsv' | awk -F'\t' '{ printf "%-9s %-10s %14s %14s %10s %10s %10s\n", $1, $2, $3, $4, $5, $6, $7 }'
  done
done
echo "raw: $raw" >&2

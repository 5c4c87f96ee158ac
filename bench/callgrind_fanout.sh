#!/usr/bin/env bash
# Instructions per delivered record, counted by callgrind: a figure a noisy VM cannot move.
#
#   bench/callgrind_fanout.sh PARLEYD... [--shapes "chat bigrooms"] [--suite S] [--repeat N] [--out DIR]
#
# Throughput on a VM drifts by more than 5% between runs of the same binary, so a 5% regression
# cannot be seen in deliveries/s. Callgrind counts the instructions the server executes instead.
# For each binary and shape: parleyd runs under callgrind (2048-bit identity key, made once, so
# the handshakes are bearable under valgrind), the generator connects the clients and runs the
# closed-loop phase, and the counters are zeroed once the phase has started and dumped while it
# is still running: the dump holds only steady-state fan-out. The figure is the dump's
# instructions divided by its calls to RecordSealer::seal (one per record the server sends:
# deliveries, and the few acks of the publishers), next to the syscalls per sealed record.
# Shapes (rooms of the same size as compare.sh's, fewer of them):
#   chat      200 clients, 20 rooms of 10, 20 publishers, window 4
#   bigrooms  300 clients, 3 rooms of 100, 3 publishers, window 8
# Kernel work (the send path) is not counted: the syscall counts stand for it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
bench=$root/build/default/bench/parley-bench
shapes="chat bigrooms"
suite=AES-256-GCM
repeat=1
out=$here/results/$(date +%Y%m%d-%H%M%S)-callgrind
binaries=()
while [ $# -gt 0 ]; do
  case "$1" in
    --shapes) shapes=$2; shift ;;
    --suite) suite=$2; shift ;;
    --repeat) repeat=$2; shift ;;
    --out) out=$2; shift ;;
    -*) echo "callgrind_fanout.sh: unknown option $1" >&2; exit 2 ;;
    *) binaries+=("$(realpath "$1")") ;;
  esac
  shift
done
[ ${#binaries[@]} -gt 0 ] || { sed -n '2,17p' "$0"; exit 2; }
for tool in "$bench" "${binaries[@]}"; do
  [ -x "$tool" ] || { echo "callgrind_fanout.sh: $tool is not executable" >&2; exit 1; }
done
command -v valgrind > /dev/null || { echo "callgrind_fanout.sh: valgrind is not installed" >&2; exit 1; }
mkdir -p "$out"
work=$(mktemp -d /tmp/parley-callgrind.XXXXXX)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2> /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/identity.pem" 2> /dev/null
port=17999
sed -e "s|@PORT@|$port|" -e "s|@DIR@|$work|" "$here/peers/parleyd.json.in" > "$work/parleyd.json"

# wait_for FILE PATTERN SECONDS
wait_for() {
  local i
  for i in $(seq $(($3 * 10))); do
    grep -q "$2" "$1" 2> /dev/null && return 0
    sleep 0.1
  done
  echo "callgrind_fanout.sh: no '$2' in $1 after $3 s" >&2
  return 1
}

# measure BINARY LABEL SHAPE-ARGS...
measure() {
  local binary=$1 label=$2; shift 2
  local dir=$out/$label
  mkdir -p "$dir"
  valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" \
    "$binary" --config "$work/parleyd.json" 2> "$dir/parleyd.log" &
  server_pid=$!
  for _ in $(seq 600); do
    ss -ltn "sport = :$port" | grep -q LISTEN && break
    sleep 0.1
  done
  "$bench" fanout --system parley --suite "$suite" --key-cache "$here/results/.transport-keys.pem" \
    --port "$port" --warmup 40 --duration 1 --drain 600 --connect-parallel 8 --label "$label" \
    "$@" > "$dir/generator.json" 2> "$dir/generator.log" &
  local generator_pid=$!
  wait_for "$dir/generator.log" "clients ready" 900
  sleep 10  # the closed-loop phase settles
  callgrind_control --zero "$server_pid" > /dev/null
  sleep 20
  callgrind_control --dump=steady "$server_pid" > /dev/null
  wait "$generator_pid" || true
  kill "$server_pid"
  wait "$server_pid" || true
  server_pid=
}

for shape in $shapes; do
  case "$shape" in
    chat) args=(--clients 200 --rooms 20 --publishers 20 --window 4) ;;
    bigrooms) args=(--clients 300 --rooms 3 --publishers 3 --window 8) ;;
    *) echo "callgrind_fanout.sh: unknown shape $shape" >&2; exit 2 ;;
  esac
  for round in $(seq "$repeat"); do  # interleaved: every binary once per round
    i=0
    for binary in "${binaries[@]}"; do
      i=$((i + 1))
      echo "[callgrind] $shape, round $round: $binary" >&2
      measure "$binary" "$shape-r$round-$i" "${args[@]}"
    done
  done
done

python3 - "$out" "${binaries[@]}" <<'PY'
import glob, json, os, re, statistics, sys
out, binaries = sys.argv[1], sys.argv[2:]
syscalls = ("send", "recv", "sendmsg", "recvmsg", "epoll_wait", "epoll_ctl", "write", "read", "writev", "readv")

def parse(path):
    """Total Ir, and calls per callee name, from one callgrind dump."""
    names, calls, total = {}, {}, 0
    callee = None
    for line in open(path, errors="replace"):
        m = re.match(r"(c?fn)=\((\d+)\)(?: (.*))?", line)
        if m:
            if m.group(3) is not None:
                names[m.group(2)] = m.group(3).strip()
            if m.group(1) == "cfn":
                callee = names.get(m.group(2))
            continue
        m = re.match(r"calls=(\d+)", line)
        if m and callee is not None:
            calls[callee] = calls.get(callee, 0) + int(m.group(1))
            continue
        m = re.match(r"(?:summary|totals): (\d+)", line)
        if m:
            total = int(m.group(1))
    return total, calls

rows = []
for shape_dir in sorted(glob.glob(f"{out}/*-r*-*")):
    label = os.path.basename(shape_dir)
    dumps = [p for p in glob.glob(f"{shape_dir}/callgrind.out*") if "steady" in open(p, errors="replace").read(4096)]
    if not dumps:
        print(f"{label}: no steady-state dump", file=sys.stderr)
        continue
    total, calls = parse(dumps[0])
    seals = sum(n for name, n in calls.items() if re.search(r"RecordSealer::seal\(", name))
    sys_counts = {s: sum(n for name, n in calls.items() if name == s or name.startswith(s + "'")) for s in syscalls}
    shape, round_, index = label.rsplit("-", 2)
    row = {"shape": shape, "round": round_[1:], "binary": binaries[int(index) - 1], "ir": total, "sealed": seals,
           "ir_per_sealed": total / seals if seals else None,
           "syscalls_per_sealed": {s: n / seals for s, n in sys_counts.items() if n and seals}}
    rows.append(row)
json.dump(rows, open(f"{out}/callgrind.json", "w"), indent=1)
with open(f"{out}/callgrind.md", "w") as f:
    f.write("| shape | round | binary | sealed records | Ir per sealed record | syscalls per sealed record |\n|---|---:|---|---:|---:|---|\n")
    for r in rows:
        per = ", ".join(f"{s} {v:.3f}" for s, v in sorted(r["syscalls_per_sealed"].items()))
        f.write(f"| {r['shape']} | {r['round']} | {r['binary']} | {r['sealed']} | {r['ir_per_sealed']:.0f} | {per} |\n")
    f.write("\n| shape | binary | median Ir per sealed record |\n|---|---|---:|\n")
    for shape in dict.fromkeys(r["shape"] for r in rows):
        for b in binaries:
            v = [r["ir_per_sealed"] for r in rows if r["shape"] == shape and r["binary"] == b]
            if v:
                f.write(f"| {shape} | {b} | {statistics.median(v):.0f} |\n")
print(open(f"{out}/callgrind.md").read())
PY

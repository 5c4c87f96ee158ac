#!/usr/bin/env bash
# One generator against two parleyd binaries, interleaved: before, after, before, after, ...
# A VM's speed drifts by several percent over minutes, so only neighbouring runs compare; the
# summary takes each side's median over the rounds.
#
#   bench/before_after.sh BEFORE_PARLEYD AFTER_PARLEYD [--rounds N] [--hs-rounds N] [--out DIR]
#
# Each run (compare.sh, Parley only): the sign rate and handshakes (--hs-rounds, default 2), the closed-loop
# fan-out phase for every suite in the chat and bigrooms shapes, 10,000 idle sessions.
# DIR/summary.md and DIR/summary.json: the figures of every run, each side's median, after/before.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 2 ] || { sed -n '2,11p' "$0"; exit 2; }
before=$(realpath "$1") after=$(realpath "$2"); shift 2
rounds=3
hs_rounds=2
out=$here/results/$(date +%Y%m%d-%H%M%S)-before-after
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift ;;
    --hs-rounds) hs_rounds=$2; shift ;;
    --out) out=$2; shift ;;
    *) echo "before_after.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
for p in "$before" "$after"; do [ -x "$p" ] || { echo "before_after.sh: $p is not executable" >&2; exit 1; }; done
mkdir -p "$out"
printf '{"before": "%s", "after": "%s", "rounds": %s}\n' "$before" "$after" "$rounds" > "$out/sides.json"

for round in $(seq "$rounds"); do
  for side in before after; do
    binary=$before
    [ "$side" = after ] && binary=$after
    echo "[before_after] round $round: $side ($binary)" >&2
    "$here/compare.sh" --parleyd "$binary" --systems "parley-aes parley-chacha parley-idea" \
      --shapes "chat bigrooms" --no-sweep --hs-rounds "$hs_rounds" --out "$out/$side-$round" >&2
  done
done

python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
figures = {}  # name -> side -> [values]
def add(name, side, value):
    figures.setdefault(name, {}).setdefault(side, []).append(value)
for side in ("before", "after"):
    for r in range(1, rounds + 1):
        sign = None
        for line in open(f"{out}/{side}-{r}/raw.jsonl"):
            d = json.loads(line)
            s = d.get("scenario")
            if s == "sign-rate":
                sign = d["median_per_s"]
            elif s == "handshake":
                add("handshakes/s", side, d["handshakes_per_s"])
                if sign: add("handshakes / sign rate (%)", side, 100 * d["handshakes_per_s"] / sign)
            elif s == "fanout" and d.get("phases"):
                p = d["phases"][0]
                add(f"fanout {d['label']} {d['system']} (deliveries/s)", side, p["delivered_per_s"])
                add(f"fanout {d['label']} {d['system']} generator cpu %", side, p["generator"]["cpu_pct"])
                add(f"fanout {d['label']} {d['system']} losses", side, d.get("losses", -1))
            elif s == "idle":
                add("idle KiB per session (10,000)", side, d["server"]["rss_per_session_kib"])
rows = []
for name, sides in figures.items():
    b, a = sides.get("before", []), sides.get("after", [])
    mb = statistics.median(b) if b else None
    ma = statistics.median(a) if a else None
    ratio = (ma / mb) if (mb and ma is not None) else None
    rows.append({"figure": name, "before": b, "after": a, "median_before": mb, "median_after": ma,
                 "after_over_before": ratio})
json.dump(rows, open(f"{out}/summary.json", "w"), indent=1)
with open(f"{out}/summary.md", "w") as f:
    f.write("| figure | before (each round) | after (each round) | median before | median after | after/before |\n")
    f.write("|---|---|---|---:|---:|---:|\n")
    fmt = lambda v: "" if v is None else (f"{v:,.1f}" if abs(v) >= 100 else f"{v:.2f}")
    for r in rows:
        f.write(f"| {r['figure']} | {', '.join(fmt(v) for v in r['before'])} | "
                f"{', '.join(fmt(v) for v in r['after'])} | {fmt(r['median_before'])} | "
                f"{fmt(r['median_after'])} | {fmt(r['after_over_before'])} |\n")
print(open(f"{out}/summary.md").read())
PY

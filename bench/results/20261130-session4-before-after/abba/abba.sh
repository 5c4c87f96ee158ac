#!/usr/bin/env bash
# Ad-hoc: fan-out window phase, AES, ABBA order (before, after, after, before, ...), chat and bigrooms.
set -u
ulimit -n $(ulimit -Hn)
rounds=${1:-4}
out=/tmp/ab/abba; mkdir -p $out; : > $out/raw.jsonl
dir=/tmp/ab/srv; mkdir -p $dir
sed -e "s|@PORT@|17777|" -e "s|@DIR@|$dir|" /work/main/bench/peers/parleyd.json.in > $dir/parleyd.json
run() {  # side shape
  local side=$1 shape=$2 args
  case $shape in chat) args="--clients 1000 --rooms 100 --publishers 100 --window 4" ;; bigrooms) args="--clients 1000 --rooms 10 --publishers 10 --window 8" ;; esac
  taskset -c 0 /tmp/ab/parleyd-$side --config $dir/parleyd.json 2>>$out/server.log &
  local pid=$!
  for _ in $(seq 100); do ss -Hltn "sport = :17777" | grep -q LISTEN && break; sleep 0.1; done
  local line
  line=$(taskset -c 1 /work/main/build/default/bench/parley-bench fanout --system parley --suite AES-256-GCM --port 17777 --server-pid $pid --key-cache /work/main/bench/results/.transport-keys.pem $args --size 128 --warmup 1 --duration 5 --connect-parallel 128 --label $side-$shape 2>>$out/gen.log)
  echo "$line" >> $out/raw.jsonl
  kill -TERM $pid; wait $pid 2>/dev/null
  echo "$line" | python3 -c "import json,sys; d=json.loads(sys.stdin.read()); p=d['phases'][0]; print(d['label'], round(p['delivered_per_s']), 'srv', round(p['server']['cpu_pct']), 'gen', round(p['generator']['cpu_pct']))"
}
for r in $(seq $rounds); do
  if [ $((r % 2)) = 1 ]; then order="before final2"; else order="final2 before"; fi
  for shape in chat bigrooms; do for side in $order; do run $side $shape; done; done
done

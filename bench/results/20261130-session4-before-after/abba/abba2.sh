#!/usr/bin/env bash
set -u
ulimit -n $(ulimit -Hn)
rounds=$1; a=$2; b=$3; shape=${4:-bigrooms}
dir=/tmp/ab/srv
run() {
  local side=$1 args
  case $shape in chat) args="--clients 1000 --rooms 100 --publishers 100 --window 4" ;; bigrooms) args="--clients 1000 --rooms 10 --publishers 10 --window 8" ;; esac
  taskset -c 0 /tmp/ab/parleyd-$side --config $dir/parleyd.json 2>/dev/null &
  local pid=$!
  for _ in $(seq 100); do ss -Hltn "sport = :17777" | grep -q LISTEN && break; sleep 0.1; done
  local line
  line=$(taskset -c 1 /work/main/build/default/bench/parley-bench fanout --system parley --suite AES-256-GCM --port 17777 --server-pid $pid --key-cache /work/main/bench/results/.transport-keys.pem $args --size 128 --warmup 1 --duration 5 --connect-parallel 128 --label $side-$shape 2>/dev/null)
  echo "$line" >> /tmp/ab/abba2.jsonl
  kill -TERM $pid; wait $pid 2>/dev/null
  echo "$line" | python3 -c "import json,sys; d=json.loads(sys.stdin.read()); p=d['phases'][0]; print(d['label'], round(p['delivered_per_s']))"
}
for r in $(seq $rounds); do
  if [ $((r % 2)) = 1 ]; then order="$a $b"; else order="$b $a"; fi
  for side in $order; do run $side; done
done

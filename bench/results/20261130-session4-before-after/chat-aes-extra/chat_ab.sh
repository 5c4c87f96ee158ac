#!/usr/bin/env bash
# Ad-hoc: chat shape, AES, window phase only, interleaved before/after, N rounds.
set -u
ulimit -n $(ulimit -Hn)
rounds=${1:-6}
out=/tmp/ab/chat; mkdir -p $out; : > $out/raw.jsonl
dir=/tmp/ab/srv; mkdir -p $dir
sed -e "s|@PORT@|17777|" -e "s|@DIR@|$dir|" /work/main/bench/peers/parleyd.json.in > $dir/parleyd.json
for r in $(seq $rounds); do
  for side in before after; do
    taskset -c 0 /tmp/ab/parleyd-$side --config $dir/parleyd.json 2>>$out/server.log &
    pid=$!
    for _ in $(seq 100); do ss -Hltn "sport = :17777" | grep -q LISTEN && break; sleep 0.1; done
    line=$(taskset -c 1 /work/main/build/default/bench/parley-bench fanout --system parley --suite "${SUITE:-AES-256-GCM}" --port 17777 --server-pid $pid --key-cache /work/main/bench/results/.transport-keys.pem --clients ${CLIENTS:-1000} --rooms ${ROOMS:-100} --publishers ${PUBS:-100} --size 128 --window ${WINDOW:-4} --warmup 1 --duration 5 --connect-parallel 128 --label $side-$r 2>>$out/gen.log)
    echo "$line" >> $out/raw.jsonl
    kill -TERM $pid; wait $pid 2>/dev/null
    echo "$line" | python3 -c "import json,sys; d=json.loads(sys.stdin.read()); p=d['phases'][0]; print(d['label'], round(p['delivered_per_s']), 'server cpu', round(p['server']['cpu_pct']), 'gen cpu', round(p['generator']['cpu_pct']), 'other', round(p['server'].get('core_other_pct',0)), round(p['generator'].get('core_other_pct',0)), 'losses', d['losses'], 'ooo', d.get('out_of_order'))"
  done
done

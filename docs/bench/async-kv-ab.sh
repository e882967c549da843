#!/usr/bin/env bash
# The 0.3 handler on Redis through the async interface (bench-http-async,
# wasmcloud:keyvalue) against the same routes through the synchronous draft
# import (bench-http-p3), by hand: both served by one wasmkv binary on one
# redis-server, pinned to core 0, `wrk` on core 1, ROUNDS alternating runs of
# SECONDS at CONNECTIONS on ROUTE (/get or /get4); prints each run's rate
# and p50 and the medians' ratio.
#
# Usage: docs/bench/async-kv-ab.sh WASMKV_BINARY [ROUTE] [CONNECTIONS] [ROUNDS] [SECONDS]
# Needs wrk, redis-server and the two components built
# (`cargo build --release --target wasm32-wasip2 -p bench-http-p3 -p bench-http-async` in guest/).
set -euo pipefail
binary=$(realpath "$1")
route=${2:-/get}
connections=${3:-16}
rounds=${4:-10}
seconds=${5:-3}
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
release="$repo/guest/target/wasm32-wasip2/release"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
taskset -c 0 redis-server --port "$port" --save '' --appendonly no > "$work/redis.log" 2>&1 &
pids+=($!)
sleep 0.5

# serve NAME COMPONENT: sets addr_NAME.
serve() {
  local name=$1 component=$2 log="$work/$1.log" found=""
  (cd "$work" && exec taskset -c 0 "$binary" serve --addr 127.0.0.1:0 --bucket '' \
    --store "default=redis://127.0.0.1:$port" "$component") > "$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 600); do
    found=$(grep -o -m1 "serving HTTP on http://[0-9.:]*" "$log" 2>/dev/null | sed 's|.*http://||') || true
    [ -n "$found" ] && break
    sleep 0.1
  done
  [ -n "$found" ] || { echo "$name did not start" >&2; cat "$log" >&2; exit 1; }
  eval "addr_$name=$found"
  curl -sf "http://$found/seed" > /dev/null
}
serve sync "$release/bench_http_p3.wasm"
serve async "$release/bench_http_async.wasm"

declare -A rates p50s
for round in $(seq 1 "$rounds"); do
  for name in sync async; do
    eval "addr=\$addr_$name"
    out=$(taskset -c 1 wrk -t1 -c"$connections" -d"$seconds"s --latency "http://$addr$route")
    rate=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
    rates[$name]+="$rate "
    p50s[$name]+="$p50 "
    echo "round $round $name: $rate req/s, p50 $p50"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
sync=$(echo "${rates[sync]}" | median)
async=$(echo "${rates[async]}" | median)
echo "median $route at $connections connections: sync $sync req/s, async $async req/s, async / sync $(echo "$async / $sync" | bc -l | cut -c1-5)"

#!/usr/bin/env bash
# What a key-value call that waits on its store does to other requests, for
# a 0.3 handler (instances reused) and a 0.2 one (an instance per request):
# /ok's latency alone, then while 16 connections run /incr on a Redis whose
# every round trip is held 10 ms by delay_proxy.py (no CPU spent waiting).
# Needs wrk, redis-server, python3, and the release build and guests:
#   cargo build --release -p wasmkv-cli
#   cargo build --release --manifest-path guest/Cargo.toml --target wasm32-wasip2
set -euo pipefail
cd "$(dirname "$0")/../../.."
W=target/release/wasmkv
G=guest/target/wasm32-wasip2/release
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
redis-server --port 6391 --save '' --appendonly no --dir "$work" >/dev/null & pids+=($!)
python3 docs/bench/stall/delay_proxy.py 6392 6391 10 & pids+=($!)
sleep 1
serve() { # PORT COMPONENT
  (cd "$work" && exec taskset -c 0 "$OLDPWD/$W" serve --addr "127.0.0.1:$1" \
    --store default=redis://127.0.0.1:6392 "$OLDPWD/$G/$2" 2>/dev/null) & pids+=($!)
}
serve 18201 http_probe_p3.wasm
serve 18202 http_probe.wasm
sleep 3
ok() { taskset -c 1 wrk -t1 -c4 -d5s --latency "http://127.0.0.1:$1/ok" | grep -E "50%|99%|Requests/sec" | tr -s ' \n' ' '; echo; }
for port in 18201 18202; do
  echo "== $port /ok alone:"; ok $port
  taskset -c 1 wrk -t1 -c16 -d7s "http://127.0.0.1:$port/incr?key=k" > "$work/incr" &
  load=$!
  sleep 1
  echo "== $port /ok while 16 connections /incr on the delayed Redis:"; ok $port
  wait $load
  echo "   /incr: $(grep Requests/sec "$work/incr")"
done

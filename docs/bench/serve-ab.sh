#!/usr/bin/env bash
# A/B of `wasmkv serve` builds on bench-http's `/get` (memory store, access
# log on, as users run it) next to the bench's wasmtime-serve-style host, in
# interleaved rounds, every server on core 0 and wrk on core 1, as the HTTP
# bench pins them. Prints req/s per round and the medians, and each build's
# median ÷ the wasmtime-style host's.
#
# Usage: docs/bench/serve-ab.sh WASMKV_A WASMKV_B [ROUNDS] [SECONDS] [CONNECTIONS...]
#   e.g. docs/bench/serve-ab.sh /tmp/wasmkv-before target/release/wasmkv 7 2 1 16 64
# Needs: wrk, taskset, python3, target/release/wasmkv-bench and the release
# bench-http component (`cargo run --release -p wasmkv-bench -- --http --quick`
# builds both).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
a="$(realpath "$1")" b="$(realpath "$2")"
rounds="${3:-5}" seconds="${4:-2}"
shift $(( $# < 4 ? $# : 4 ))
conns=("${@:-16}")
[ ${#conns[@]} -gt 0 ] || conns=(16)
component="$repo/guest/target/wasm32-wasip2/release/bench_http.wasm"
bench="$repo/target/release/wasmkv-bench"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

wait_for() { # FILE PATTERN -> prints the address after PATTERN
  for _ in $(seq 1 600); do
    if grep -q "$2" "$1" 2>/dev/null; then
      grep -o "$2[0-9.:]*" "$1" | head -1 | sed "s|$2||"; return 0
    fi
    sleep 0.1
  done
  echo "no '$2' in $1" >&2; cat "$1" >&2; exit 1
}

start_wasmkv() { # NAME BINARY
  mkdir -p "$work/$1"
  (cd "$work/$1" && exec taskset -c 0 "$2" serve --addr 127.0.0.1:0 --bucket '' \
    --store default=memory: "$component" 2> "$work/$1.log" > /dev/null) &
  pids+=($!)
  eval "pid_$1=$!"
}
start_wasmkv a "$a"
start_wasmkv b "$b"
taskset -c 0 "$bench" --wasmtime-style-host "$component" > "$work/h.log" 2>/dev/null &
pids+=($!)
pid_h=$!
addr_a="$(wait_for "$work/a.log" "serving HTTP on http://")"
addr_b="$(wait_for "$work/b.log" "serving HTTP on http://")"
addr_h="$(wait_for "$work/h.log" "listening on ")"
curl -sf "http://$addr_a/seed" > /dev/null
curl -sf "http://$addr_b/seed" > /dev/null

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Each round: req/s, and the server's CPU time (all its threads) per
# request, which a busy neighbour on the machine disturbs far less.
tick_us=$(( 1000000 / $(getconf CLK_TCK) ))
for c in "${conns[@]}"; do
  for r in $(seq 1 "$rounds"); do
    for who in a b h; do
      eval "addr=\$addr_$who pid=\$pid_$who"
      before=$(cpu_ticks "$pid")
      out=$(taskset -c 1 wrk -t1 -c"$c" -d"${seconds}s" "http://$addr/get")
      after=$(cpu_ticks "$pid")
      rate=$(awk '/Requests\/sec/ {print $2}' <<< "$out")
      reqs=$(awk '/requests in/ {print $1}' <<< "$out")
      echo "$c $r $who $rate $(( (after - before) * tick_us / reqs ))"
    done
  done
done | tee "$work/rates" >&2

python3 - "$work/rates" "$a" "$b" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
names = {"a": sys.argv[2], "b": sys.argv[3], "h": "wasmtime-serve-style"}
for c in sorted({int(r[0]) for r in rows}):
    mine = [r for r in rows if int(r[0]) == c]
    rate = {w: statistics.median(float(r[3]) for r in mine if r[2] == w) for w in "abh"}
    cpu = {w: statistics.median(float(r[4]) for r in mine if r[2] == w) for w in "abh"}
    print(f"{c} connections, median req/s and server CPU µs per request:")
    for w in "abh":
        print(f"  {names[w]}: {rate[w]:.0f} req/s, {cpu[w]:.0f} µs CPU")
    print(f"  req/s ÷ wasmtime-serve-style: A {rate['a']/rate['h']:.3f}x, B {rate['b']/rate['h']:.3f}x")
    print(f"  CPU per request ÷ wasmtime-serve-style: A {cpu['a']/cpu['h']:.3f}x, B {cpu['b']/cpu['h']:.3f}x")
EOF

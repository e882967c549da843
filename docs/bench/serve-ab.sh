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
source "$(dirname "$0")/serve-lib.sh"
a="$(realpath "$1")" b="$(realpath "$2")"
rounds="${3:-5}" seconds="${4:-2}"
shift $(( $# < 4 ? $# : 4 ))
conns=("${@:-16}")
[ ${#conns[@]} -gt 0 ] || conns=(16)

start_wasmkv a "$a"
start_wasmkv b "$b"
start_style_host h
addr_a="$(address a)"
addr_b="$(address b)"
addr_h="$(address h)"
seed "$addr_a"
seed "$addr_b"

# Each round: req/s, and the server's CPU time (all its threads) per
# request, which a busy neighbour on the machine disturbs far less.
for c in "${conns[@]}"; do
  for r in $(seq 1 "$rounds"); do
    for who in a b h; do
      eval "addr=\$addr_$who pid=\$pid_$who"
      before=$(cpu_ns "$pid")
      out=$(taskset -c 1 wrk -t1 -c"$c" -d"${seconds}s" "http://$addr/get")
      after=$(cpu_ns "$pid")
      rate=$(awk '/Requests\/sec/ {print $2}' <<< "$out")
      reqs=$(awk '/requests in/ {print $1}' <<< "$out")
      echo "$c $r $who $rate $(( (after - before) / 1000 / reqs ))"
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

#!/usr/bin/env bash
# Server CPU per request on bench-http's `/get` (memory store): one `wasmkv
# serve` build, the bench's wasmtime-serve-style host and, when a wasmtime
# CLI is on PATH, the real `wasmtime serve`, each on core 0 with wrk on
# core 1, in interleaved rounds. CPU is read two ways around every wrk run:
# /proc (all threads) and, when perf is installed, `perf stat` (task-clock,
# context switches, page faults), so the two can be checked against each
# other. NEIGHBOURS=N also starts N idle `wasmkv serve` processes on core 0.
#
# Usage: docs/bench/serve-cpu.sh WASMKV [ROUNDS] [SECONDS] [CONNECTIONS...]
#   e.g. docs/bench/serve-cpu.sh target/release/wasmkv 4 3 16
# Needs: wrk, taskset, python3, target/release/wasmkv-bench and the release
# bench-http component (`cargo run --release -p wasmkv-bench -- --http --quick`
# builds both).
set -euo pipefail
source "$(dirname "$0")/serve-lib.sh"
wasmkv="$(realpath "$1")"
rounds="${2:-4}" seconds="${3:-3}"
shift $(( $# < 3 ? $# : 3 ))
conns=("${@:-16}")

start_wasmkv k "$wasmkv"
start_style_host h
servers=(k h)
if command -v wasmtime > /dev/null; then
  start_wasmtime_serve w
  servers+=(w)
fi
for i in $(seq 1 "${NEIGHBOURS:-0}"); do
  start_wasmkv "n$i" "$wasmkv"
done
addr_k="$(address k)"
addr_h="$(address h)"
[ "${#servers[@]}" -eq 3 ] && addr_w="$(address w)"
seed "$addr_k"

for c in "${conns[@]}"; do
  for r in $(seq 1 "$rounds"); do
    for who in "${servers[@]}"; do
      eval "addr=\$addr_$who pid=\$pid_$who"
      stat="$work/stat"; : > "$stat"; perf_pid=""
      if command -v perf > /dev/null; then
        perf stat -x, -e task-clock,context-switches,page-faults -p "$pid" -o "$stat" \
          -- sleep 3600 > /dev/null 2>&1 &
        perf_pid=$!
        sleep 0.2
      fi
      before=$(cpu_ns "$pid")
      reqs=$(taskset -c 1 wrk -t1 -c"$c" -d"${seconds}s" "http://$addr/get" | awk '/requests in/ {print $1}')
      after=$(cpu_ns "$pid")
      # perf stat counts until its `sleep` ends: the same window as /proc's.
      [ -z "$perf_pid" ] || { pkill -P "$perf_pid" -x sleep || true; wait "$perf_pid" || true; }
      perf_fields=$(awk -F, '/task-clock/ {t = $1 * 1e6} /context-switches/ {s = $1} /page-faults/ {f = $1}
        END {printf "%s %s %s", (t == "" ? "-" : sprintf("%.0f", t)), (s == "" ? "-" : s), (f == "" ? "-" : f)}' "$stat")
      echo "$c $r $who $reqs $(( after - before )) $perf_fields"
    done
  done
done | tee "$work/runs" >&2

python3 - "$work/runs" <<'EOF'
import statistics, sys
names = {"k": "wasmkv serve", "h": "wasmtime-serve-style", "w": "wasmtime serve"}
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None
def num(text):
    return None if text == "-" else float(text)
for c in sorted({int(r[0]) for r in rows}):
    print(f"{c} connections, medians per request:")
    cpu = {}
    for w in dict.fromkeys(r[2] for r in rows):
        mine = [r for r in rows if int(r[0]) == c and r[2] == w]
        n = [float(r[3]) for r in mine]
        proc = med(float(r[4]) / k / 1000 for r, k in zip(mine, n))
        task = med(num(r[5]) and num(r[5]) / k / 1000 for r, k in zip(mine, n))
        switches = med(num(r[6]) and num(r[6]) / k for r, k in zip(mine, n))
        faults = med(num(r[7]) and num(r[7]) / k for r, k in zip(mine, n))
        cpu[w] = proc
        perf = "" if task is None else f", perf task-clock {task:.0f} µs, {switches:.2f} switches, {faults:.2f} page faults"
        print(f"  {names[w]}: /proc CPU {proc:.0f} µs{perf}")
    for w in cpu:
        if w != "k":
            print(f"  wasmkv ÷ {names[w]}, /proc CPU per request: {cpu['k'] / cpu[w]:.2f}x")
EOF

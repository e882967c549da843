#!/usr/bin/env bash
# Server CPU per request of several `wasmkv serve` variants beside the
# bench's wasmtime-serve-style host, on bench-http's `/get` (memory store),
# in interleaved rounds: every server on core 0, `wrk` on core 1, CPU (all
# threads) and minor page faults read from /proc around each wrk run. The
# ratios are paired per round (each round's own ratio, then the median), so
# drift on this shared machine cancels; q1 and q3 show the spread.
#
# Usage: docs/bench/serve-variants.sh ROUNDS SECONDS CONNECTIONS VARIANT...
#   VARIANT is `h` (the wasmtime-style host) or NAME=ENV: a `wasmkv serve`
#   started with the environment assignments ENV (space-separated, may be
#   empty), from the binary $BIN_NAME, else target/release/wasmkv. E.g.
#   BIN_old=/tmp/wasmkv-old docs/bench/serve-variants.sh 12 2 16 h old= new=
#   docs/bench/serve-variants.sh 28 2 16 h k0= 'kA=WASMKV_X=ALL'
#   (the second with a binary built from serve-ablation.patch).
# Needs: wrk, taskset, python3, target/release/wasmkv-bench and the release
# bench-http component (`cargo run --release -p wasmkv-bench -- --http --quick`
# builds both).
set -euo pipefail
source "$(dirname "$0")/serve-lib.sh"
rounds=$1 seconds=$2 conns=$3
shift 3
declare -A addr pid
for v in "$@"; do
  name=${v%%=*} env=${v#*=}
  if [ "$name" = h ]; then
    start_style_host h
  else
    bin_var="BIN_$name"
    # shellcheck disable=SC2086 # ENV is a list of assignments
    start_wasmkv "$name" "${!bin_var:-$repo/target/release/wasmkv}" $env
  fi
  pid[$name]=${pids[-1]}
done
for v in "$@"; do
  name=${v%%=*}
  addr[$name]=$(address "$name")
  seed "${addr[$name]}"
done
faults() { awk '{print $10}' "/proc/$1/stat"; }
for r in $(seq 1 "$rounds"); do
  for v in "$@"; do
    name=${v%%=*} p=${pid[${v%%=*}]}
    f0=$(faults "$p") c0=$(cpu_ns "$p")
    n=$(taskset -c 1 wrk -t1 -c"$conns" -d"${seconds}s" "http://${addr[$name]}/get" | awk '/requests in/ {print $1}')
    c1=$(cpu_ns "$p") f1=$(faults "$p")
    echo "$r $name $n $(( c1 - c0 )) $(( f1 - f0 ))"
  done
done | tee "$work/runs" >&2
for v in "$@"; do
  name=${v%%=*}
  echo "$name: $(grep VmRSS "/proc/${pid[$name]}/status" | tr -s ' \t' ' ') after the rounds"
done
python3 - "$work/runs" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
rounds = {}
for r, name, reqs, cpu, faults in rows:
    rounds.setdefault(r, {})[name] = (int(cpu) / int(reqs) / 1000, int(faults) / int(reqs), int(reqs))
names = list(next(iter(rounds.values())))
for n in names:
    cpu = [x[n][0] for x in rounds.values()]
    print(f"{n}: CPU per request median {statistics.median(cpu):.1f} µs (min {min(cpu):.1f}, max {max(cpu):.1f}), "
          f"{statistics.median(x[n][1] for x in rounds.values()):.2f} minor faults per request, "
          f"{statistics.median(x[n][2] for x in rounds.values()):.0f} requests per run")
for ref in names[:2]:
    for n in names:
        if n == ref:
            continue
        ratios = [x[n][0] / x[ref][0] for x in rounds.values()]
        q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
        print(f"{n} ÷ {ref}, CPU per request, paired: {statistics.median(ratios):.3f} (q1 {q[0]:.3f}, q3 {q[2]:.3f})")
PY

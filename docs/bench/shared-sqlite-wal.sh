#!/usr/bin/env bash
# Two `wasmkv serve` on one SQLite file, as issue 33 tried it: one serves
# `/get` under wrk, the other `/incr` under wrk, and the reading one is
# paused (SIGSTOP) under load, paused right after its last answered
# request, killed, or left reading flat out, while the writer goes on for
# SECONDS. Prints the largest WAL seen during the writes, the WAL after, the
# writes made, and whether the reader (resumed or restarted) sees the
# writer's last count.
#
# Usage: docs/bench/shared-sqlite-wal.sh WASMKV_BINARY [TRIALS] [SECONDS]
# Needs wrk and curl, and guest/target/wasm32-wasip2/release/http_probe.wasm
# (built by the tests, or `cargo build --release --target wasm32-wasip2` in guest/).
set -euo pipefail
binary=$(realpath "$1")
trials=${2:-10}
seconds=${3:-60}
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
probe="$repo/guest/target/wasm32-wasip2/release/http_probe.wasm"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# serve NAME DIR: a `wasmkv serve` of the probe on DIR's default store; sets
# pid_NAME and addr_NAME.
serve() {
  local name=$1 dir=$2 log="$2/$1.log" found=""
  (cd "$dir" && exec "$binary" serve --addr 127.0.0.1:0 "$probe") > "$log" 2>&1 &
  pids+=($!)
  eval "pid_$name=$!"
  for _ in $(seq 1 600); do
    found=$(grep -o -m1 "serving HTTP on http://[0-9.:]*" "$log" 2>/dev/null | sed 's|.*http://||') || true
    [ -n "$found" ] && break
    sleep 0.1
  done
  [ -n "$found" ] || { echo "server $name did not start:" >&2; cat "$log" >&2; exit 1; }
  eval "addr_$name=$found"
}

# watch_wal WAL SECONDS: the largest size WAL has in the next SECONDS.
watch_wal() {
  local wal=$1 until=$(( $(date +%s%N) + $2 * 1000000000 )) largest=0 size
  while [ "$(date +%s%N)" -lt "$until" ]; do
    size=$(stat -c %s "$wal" 2>/dev/null || echo 0)
    [ "$size" -gt "$largest" ] && largest=$size
    sleep 0.01
  done
  echo "$largest"
}

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

echo "scenario      trial  largest WAL  WAL after  writes  reader sees last write"
for scenario in paused-under-load paused-idle killed flat-out; do
  for trial in $(seq 1 "$trials"); do
    dir="$work/$scenario-$trial"
    mkdir -p "$dir"
    serve reader "$dir"
    serve writer "$dir"
    curl -sf "http://$addr_writer/incr?key=n" > /dev/null
    wal="$dir/.wasmkv/default.db-wal"
    wrk -t1 -c8 -d$((seconds + 10))s "http://$addr_reader/get?key=n" > /dev/null 2>&1 &
    reads=$!
    wrk -t1 -c8 -d$((seconds + 2))s "http://$addr_writer/incr?key=n" > "$dir/writes.txt" 2>&1 &
    writes=$!
    sleep 2
    case $scenario in
      paused-under-load) kill -STOP "$pid_reader" ;;
      paused-idle) kill "$reads"; wait "$reads" 2>/dev/null || true; kill -STOP "$pid_reader" ;;
      killed) kill -9 "$pid_reader" ;;
      flat-out) ;;
    esac
    largest=$(watch_wal "$wal" "$seconds")
    wait "$writes" || true
    case $scenario in
      paused-*) kill -CONT "$pid_reader" ;;
      killed) serve reader "$dir" ;;
    esac
    kill "$reads" 2>/dev/null || true
    wait "$reads" 2>/dev/null || true
    # A few writes after: the first checkpoints what a paused reader held
    # back, a later one starts the WAL over (and cuts it back).
    for _ in 1 2 3 4 5; do last=$(curl -sf "http://$addr_writer/incr?key=n"); done
    sleep 1
    seen=$(curl -sf "http://$addr_reader/get?key=n")
    after=$(stat -c %s "$wal" 2>/dev/null || echo 0)
    requests=$(grep -o '[0-9]* requests' "$dir/writes.txt" | cut -d' ' -f1)
    ok=$([ "$seen" = "$last" ] && echo yes || echo "NO ($seen, last $last)")
    printf "%-17s %2d  %8s MiB  %6s MiB  %6s  %s\n" "$scenario" "$trial" "$(mib "$largest")" \
      "$(mib "$after")" "$requests" "$ok"
    kill "$pid_reader" "$pid_writer" 2>/dev/null || true
    wait "$pid_reader" "$pid_writer" 2>/dev/null || true
    rm -rf "$dir"
  done
done

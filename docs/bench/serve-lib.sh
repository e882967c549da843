# Shared by serve-ab.sh, serve-cpu.sh and serve-variants.sh (source it; it
# is not run on its own): starting the servers those scripts compare, each
# pinned to core 0 with its output in $work, finding their addresses, and
# reading a process's CPU time from /proc. Sets repo, component, work and
# pids, and stops every server it started when the calling script exits.

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
component="$repo/guest/target/wasm32-wasip2/release/bench_http.wasm"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# start NAME COMMAND...: runs COMMAND on core 0, its output in $work/NAME.log,
# its pid in pid_NAME.
start() {
  local name=$1
  shift
  mkdir -p "$work/$name"
  (cd "$work/$name" && exec taskset -c 0 "$@") > "$work/$name.log" 2>&1 &
  pids+=($!)
  eval "pid_$name=$!"
}

# start_wasmkv NAME BINARY [ENV...]: `wasmkv serve` of bench-http on memory,
# with the environment assignments ENV.
start_wasmkv() {
  local name=$1 binary=$2
  shift 2
  start "$name" env "$@" "$binary" serve --addr 127.0.0.1:0 --bucket '' \
    --store default=memory: "$component"
}

# start_style_host NAME: the bench's wasmtime-serve-style host.
start_style_host() {
  start "$1" "$repo/target/release/wasmkv-bench" --wasmtime-style-host "$component"
}

# start_wasmtime_serve NAME: the real `wasmtime serve -S keyvalue`, its store
# holding the value `/get` reads.
start_wasmtime_serve() {
  start "$1" wasmtime serve --addr 127.0.0.1:0 -S cli -S keyvalue \
    -S "keyvalue-in-memory-data=bench-value=$(printf 'x%.0s' $(seq 1 100))" "$component"
}

# address NAME: waits for server NAME to print where it listens; prints
# HOST:PORT.
address() {
  local log="$work/$1.log" found=""
  for _ in $(seq 1 600); do
    found=$(grep -o -m1 -e "serving HTTP on http://[0-9.:]*" -e "Serving HTTP on http://[0-9.:]*" \
      -e "listening on [0-9.:]*" "$log" 2>/dev/null | head -1 | sed 's|.* ||;s|http://||') || true
    [ -n "$found" ] && break
    sleep 0.1
  done
  [ -n "$found" ] || { echo "server $1 did not start:" >&2; cat "$log" >&2; exit 1; }
  echo "$found"
}

# seed HOST:PORT: stores the value `/get` reads, through the handler.
seed() { curl -sf "http://$1/seed" > /dev/null; }

tick_ns=$(( 1000000000 / $(getconf CLK_TCK) ))
# cpu_ns PID: the CPU time PID has used, all its threads, in ns.
cpu_ns() { awk -v t="$tick_ns" '{printf "%.0f\n", ($14 + $15) * t}' "/proc/$1/stat"; }

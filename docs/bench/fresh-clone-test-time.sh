#!/usr/bin/env bash
# How long `bash scripts/test` takes on a fresh clone, as CI runs it: a new
# target dir, CARGO_INCREMENTAL=0 and an empty wasmtime compile cache.
# Usage: docs/bench/fresh-clone-test-time.sh [COMMIT]   (default HEAD)
# Prints the seconds, the build time and each test binary's time.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
git clone -q "$repo" "$work/clone"
git -C "$work/clone" checkout -q "${1:-HEAD}"
cd "$work/clone"
export CARGO_INCREMENTAL=0 XDG_CACHE_HOME="$work/cache" CARGO_TARGET_DIR="$work/target"
start=$(date +%s)
bash scripts/test > "$work/log" 2>&1 || { tail -40 "$work/log"; exit 1; }
echo "scripts/test on a fresh clone of ${1:-HEAD}: $(( $(date +%s) - start )) s"
grep -E "Finished|finished in" "$work/log"

# Sourced by the docs/bench scripts that time wasmkv-backend through a small
# program of their own. Gives them a work dir that is removed on exit, with
# any git worktrees made in it, and two functions:
#   checkout_at COMMIT   prints the path of a worktree of COMMIT
#   build_program NAME CHECKOUT [DEPENDENCY_LINES] < main.rs
#                        builds (release) a program NAME from the main.rs on
#                        stdin against CHECKOUT's wasmkv-backend (SQLite
#                        only), tokio and bytes, plus DEPENDENCY_LINES, and
#                        prints the binary's path.
bench_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bench_work="$(mktemp -d)"
bench_cleanup() {
  for tree in "$bench_work"/tree-*; do
    [ -d "$tree" ] && git -C "$bench_repo" worktree remove --force "$tree" >/dev/null 2>&1 || true
  done
  rm -rf "$bench_work"
}
trap bench_cleanup EXIT

checkout_at() {
  local tree
  tree="$bench_work/tree-$(git -C "$bench_repo" rev-parse --short "$1")"
  [ -d "$tree" ] || git -C "$bench_repo" worktree add -q --detach "$tree" "$1"
  echo "$tree"
}

build_program() {
  local prog
  prog="$(mktemp -d "$bench_work/$1-XXXX")"
  mkdir -p "$prog/src"
  cat > "$prog/Cargo.toml" <<TOML
[package]
name = "$1"
version = "0.1.0"
edition = "2024"

[dependencies]
wasmkv-backend = { path = "$2/crates/wasmkv-backend", default-features = false, features = ["sqlite"] }
tokio = { version = "1", features = ["rt", "macros", "time"] }
bytes = "1"
${3:-}
TOML
  cp "$bench_repo/Cargo.lock" "$prog/"
  cat > "$prog/src/main.rs"
  # One target dir for every build, so the dependencies are built once; the
  # binary is copied out before another checkout's build replaces it.
  (cd "$prog" && CARGO_TARGET_DIR="$bench_work/target" cargo build --quiet --release)
  cp "$bench_work/target/release/$1" "$prog/$1"
  echo "$prog/$1"
}

#!/bin/bash
# Alternates the bench binaries of de22a49 (before) and this change (after), each
# run the same rows: SQLite get at 1 and 64 instances, memory get (for the ratio),
# Redis get at 64 (the >= 5x Redis line), the single-key writes, and the same draft
# component under wasmtime-wasi-keyvalue (the memory rows of the wasm boundary).
for i in 1 2 3; do
  for which in before after; do
    if [ $which = before ]; then bin=${BEFORE:?the bench binary of de22a49}; else bin=${AFTER:?the bench binary of this change}; fi
    $bin --quick --op get-hit --op set --op increment --system wasmkv --system native --system wasmkv-draft --system wasmtime-wasi-keyvalue --backend memory --backend sqlite --backend redis --rounds 5 > $which-$i.txt 2>&1
    echo "$which $i done"
  done
done

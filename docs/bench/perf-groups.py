#!/usr/bin/env python3
"""Where a Redis get's client-side CPU goes, wasmkv against native redis-rs
(BENCHMARKS.md, "Redis at 64 instances: where the time goes").

Reads two `perf record` files of the bench, one per system (commands in
BENCHMARKS.md), counts the runtime workers' samples by what they were in
(wasmtime, the wasm code, wasmkv, redis-rs, tokio, kernel, libc...) and
divides by redis-server's samples in the same recording: both systems send
the same GETs to the same server, so that is a per-GET unit that needs no
operation count and no clock.

Usage: perf-groups.py WASMKV.data NATIVE.data
"""
import sys
import re,subprocess,collections
def classify(dso,sym):
    if "kernel" in dso: return "kernel"
    if "JIT" in dso or "jitted" in dso: return "wasm code (JIT)"
    if "libc" in dso or "ld-linux" in dso or "libm" in dso: return "libc"
    if re.search(r"cranelift|regalloc|wasmparser|wasmtime_environ",sym): return "compile (cranelift etc)"
    if "wasmtime" in sym: return "wasmtime runtime"
    if re.search(r"wasmkv_host|wasmkv_engine|wasmkv_bench::guest",sym): return "wasmkv host/engine"
    if "wasmkv_backend" in sym: return "wasmkv backend"
    if re.search(r"redis::|combine::",sym): return "redis-rs"
    if re.search(r"tokio|futures|mio::",sym): return "tokio/futures"
    if sym in ("[unknown]",""): return "wasm code (no symbols)"
    return "other (alloc, std, ...)"
def load(path):
    out=subprocess.run(["perf","script","-i",path,"-F","comm,ip,sym,dso"],capture_output=True,text=True).stdout
    g=collections.Counter(); server=0; other=collections.Counter()
    for line in out.splitlines():
        line=line.strip()
        m=re.match(r"(\S+(?: \S+)*?)\s+([0-9a-f]+)\s+(.*)\s+\((.*)\)$",line)
        if not m: continue
        comm,ip,sym,dso=m.groups()
        if comm=="redis-server": server+=1; continue
        if comm!="tokio-rt-worker": other[comm]+=1; continue
        sym=re.sub(r"\+0x[0-9a-f]+$","",sym)
        g[classify(dso,sym)]+=1
    return g,server
w,sw=load(sys.argv[1]); n,sn=load(sys.argv[2])
print(f"runtime-worker samples: wasmkv {sum(w.values())}, native {sum(n.values())}; redis-server: {sw}, {sn}")
keys=sorted(set(w)|set(n),key=lambda k:-(w.get(k,0)/sw))
print(f"{'':28} {'wasmkv':>7} {'native':>7} {'extra':>7}   worker samples per redis-server sample (= per GET, server cost 1.0)")
for k in keys:
    a=w.get(k,0)/sw; b=n.get(k,0)/sn
    print(f"{k:28} {a:7.2f} {b:7.2f} {a-b:7.2f}")
tw,tn=sum(w.values())/sw,sum(n.values())/sn
print(f"{'total':28} {tw:7.2f} {tn:7.2f} {tw-tn:7.2f}")

#!/usr/bin/env python3
"""Where an HTTP request's server CPU goes: `wasmkv serve` against the
wasmtime-serve-style host on the same handler (BENCHMARKS.md, "The access
log now, and what is left").

Takes two `perf record -p PID` files, one per server, and the requests each
served while recorded (wrk's rate x seconds); prints samples per 1000
requests by group, and wasmkv's own functions.

Usage: perf-http-groups.py WASMKV.data HOST.data WASMKV_REQUESTS HOST_REQUESTS
"""
import re,subprocess,collections,sys
def classify(comm,dso,sym):
    if comm.startswith("tracing-append"): return "log writer thread"
    if comm.startswith("wasmkv-epoch"): return "epoch ticker thread"
    if "kernel" in dso: return "kernel"
    if sym in ("[unknown]",""): return "wasm code"
    if "libc" in dso: return "libc"
    if "wasmtime_wasi_http" in sym or "wasmtime_wasi::" in sym or "wasmtime_wasi_io" in sym: return "wasmtime-wasi(-http)"
    if "wasmtime" in sym: return "wasmtime runtime"
    if re.search(r"wasmkv_cli|wasmkv_host|wasmkv_engine|wasmkv_backend|wasmkv_bench",sym): return "wasmkv / harness own"
    if re.search(r"tracing|humantime",sym): return "tracing/log"
    if "hyper" in sym or "http::" in sym or "h2::" in sym: return "hyper/http"
    if re.search(r"tokio|futures|mio::",sym): return "tokio/futures"
    return "other"
def load(path):
    out=subprocess.run(["perf","script","-i",path,"-F","comm,ip,sym,dso"],capture_output=True,text=True).stdout
    g=collections.Counter(); tops=collections.Counter()
    for line in out.splitlines():
        m=re.match(r"\s*(\S+(?: \S+)*?)\s+([0-9a-f]+)\s+(.*)\s+\((.*)\)$",line)
        if not m: continue
        comm,ip,sym,dso=m.groups(); sym=re.sub(r"\+0x[0-9a-f]+$","",sym)
        k=classify(comm,dso,sym); g[k]+=1
        if k=="wasmkv / harness own": tops[sym]+=1
    return g,tops
a,ta=load(sys.argv[1]); b,tb=load(sys.argv[2]); ra=float(sys.argv[3]); rb=float(sys.argv[4])
print(f"{'samples per 1000 requests':26} {'wasmkv':>7} {'ws-host':>7} {'extra':>7}")
for k in sorted(set(a)|set(b),key=lambda k:-(a.get(k,0)/ra)):
    x=a.get(k,0)/ra*1000; y=b.get(k,0)/rb*1000
    print(f"{k:26} {x:7.1f} {y:7.1f} {x-y:7.1f}")
print(f"{'total':26} {sum(a.values())/ra*1000:7.1f} {sum(b.values())/rb*1000:7.1f}")
print("top wasmkv:",ta.most_common(12))

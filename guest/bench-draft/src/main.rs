//! `bench-draft OP BUCKET VALUE_BYTES ITERS INSTANCE`: the same loop as
//! bench-seed on `wasi:keyvalue@0.2.0-draft`, so one component runs under
//! wasmkv and under wasmtime-wasi-keyvalue.

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/draft",
        world: "wasi:keyvalue/imports@0.2.0-draft",
        generate_all,
    });
}

use std::hint::black_box;
use std::process::ExitCode;

use bench_loop::{BATCH, Request, Stamper, finish, timed};
use bindings::wasi::keyvalue::store::Error;
use bindings::wasi::keyvalue::{atomics, batch, store};

fn main() -> ExitCode {
    let Some(req) = Request::from_args("bench-draft") else {
        return ExitCode::from(2);
    };
    finish(&req.op, run(&req))
}

fn run(req: &Request) -> Result<Option<String>, Error> {
    let b = store::open(&req.bucket)?;
    let mut value = vec![0x5a; req.value_bytes];
    let stamper = Stamper::new();
    let names: Vec<String> = (0..BATCH).map(|n| req.key(n)).collect();
    let mut pairs: Vec<(String, Vec<u8>)> =
        names.iter().map(|k| (k.clone(), value.clone())).collect();
    let ctr = format!("{}-ctr", req.instance);
    if req.needs_keys() {
        for n in 0..req.setup_keys() {
            b.set(&req.key(n), &value)?;
        }
    }
    if req.op == "delete" {
        let doomed: Vec<(String, Vec<u8>)> = (0..req.iters)
            .map(|n| (req.doomed_key(n), value.clone()))
            .collect();
        for chunk in doomed.chunks(BATCH as usize) {
            batch::set_many(&b, chunk)?;
        }
    }
    timed(req.iters, |n| {
        match req.op.as_str() {
            "get-hit" => {
                black_box(b.get(&req.key(n))?);
            }
            "get-miss" => {
                black_box(b.get(&format!("{}-missing-{n}", req.instance))?);
            }
            "set" => {
                stamper.stamp(&mut value, n);
                b.set(&req.key(n), &value)?
            }
            "exists" => {
                black_box(b.exists(&req.key(n))?);
            }
            "delete" => b.delete(&req.doomed_key(n))?,
            "increment" => {
                black_box(atomics::increment(&b, &ctr, 1)?);
            }
            "get-many" => {
                black_box(batch::get_many(&b, &names)?);
            }
            "set-many" => {
                for (_, v) in &mut pairs {
                    stamper.stamp(v, n);
                }
                batch::set_many(&b, &pairs)?
            }
            _ => return Ok(false),
        }
        Ok(true)
    })
}

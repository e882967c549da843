//! `bench-seed OP BUCKET VALUE_BYTES ITERS INSTANCE`: wasmkv-bench's loop on
//! the seed world, through the SDK. Setup (keys a `get` needs) is untimed.

use std::hint::black_box;
use std::process::ExitCode;

use bench_loop::{BATCH, Request, Stamper, finish, timed};
use wasmkv_guest::{Bucket, Error};

fn main() -> ExitCode {
    let Some(req) = Request::from_args("bench-seed") else {
        return ExitCode::from(2);
    };
    finish(&req.op, run(&req))
}

fn run(req: &Request) -> Result<Option<String>, Error> {
    let b = Bucket::open(&req.bucket)?;
    let mut value = vec![0x5a; req.value_bytes];
    let stamper = Stamper::new();
    let batch: Vec<String> = (0..BATCH).map(|n| req.key(n)).collect();
    let mut pairs: Vec<(String, Vec<u8>)> =
        batch.iter().map(|k| (k.clone(), value.clone())).collect();
    let ctr = format!("{}-ctr", req.instance);
    if req.needs_keys() {
        for n in 0..req.setup_keys() {
            b.set(&req.key(n), &value)?;
        }
    }
    if req.op == "cas" {
        b.set(&ctr, b"0")?;
    }
    if req.op == "delete" {
        let doomed: Vec<(String, Vec<u8>)> = (0..req.iters)
            .map(|n| (req.doomed_key(n), value.clone()))
            .collect();
        for chunk in doomed.chunks(BATCH as usize) {
            b.set_many(chunk)?;
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
                black_box(b.increment(&ctr, 1)?);
            }
            "cas" => {
                black_box(b.compare_and_swap(&ctr, n, n + 1)?);
            }
            "get-many" => {
                black_box(b.get_many(&batch)?);
            }
            "set-many" => {
                for (_, v) in &mut pairs {
                    stamper.stamp(v, n);
                }
                b.set_many(&pairs)?
            }
            _ => return Ok(false),
        }
        Ok(true)
    })
}

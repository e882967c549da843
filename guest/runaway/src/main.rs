//! Misbehaves on purpose so host tests can check `wasmkv run`'s guest
//! limits: `runaway spin|sleep|memory|buckets`.

use std::hint::black_box;

use wasmkv_guest::Bucket;

pub fn main() {
    let what = std::env::args().nth(1).unwrap_or_default();
    match what.as_str() {
        // A busy loop that never calls the host.
        "spin" => {
            let mut n = 0u64;
            loop {
                n = black_box(n.wrapping_add(1));
            }
        }
        // Blocked in a host call (a clock wait) for an hour.
        "sleep" => std::thread::sleep(std::time::Duration::from_secs(3600)),
        // Allocates 1 MiB at a time and keeps all of it.
        "memory" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(black_box(vec![1u8; 1 << 20]));
                println!("holding {} MiB", hoard.len());
            }
        }
        // Opens buckets and never drops them: one live resource each.
        "buckets" => {
            let mut open = Vec::new();
            loop {
                open.push(Bucket::open("default").expect("open-bucket failed"));
                if open.len() % 1000 == 0 {
                    println!("holding {} buckets", open.len());
                }
            }
        }
        _ => {
            eprintln!("usage: runaway spin|sleep|memory|buckets");
            std::process::exit(2);
        }
    }
}

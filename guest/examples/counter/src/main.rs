//! Counts its own runs in bucket `default` and prints the count.
//!
//! Run it twice with `wasmkv run`: the count goes on, because the default
//! store is a SQLite file on disk.

use std::process::ExitCode;

use wasmkv_guest::Bucket;

fn main() -> ExitCode {
    let run = Bucket::open("default").and_then(|bucket| bucket.increment("counter-runs", 1));
    match run {
        Ok(n) => {
            println!("counter has run {n} time{}", if n == 1 { "" } else { "s" });
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("counter: {e}");
            ExitCode::FAILURE
        }
    }
}

//! Counts its own runs in bucket `default` and prints the count, as a WASI
//! 0.3 command (`wasi:cli/run@0.3`, an async `run`): the 0.3 twin of
//! `counter`. Its output goes through a 0.3 `stream<u8>` to stdout.

use wasmkv_guest::Bucket;
use wasmkv_guest::p3::wasip3;

struct Counter;

impl wasip3::exports::cli::run::Guest for Counter {
    async fn run() -> Result<(), ()> {
        let (line, ok) = match Bucket::open("default").and_then(|b| b.increment("counter-runs", 1))
        {
            Ok(n) => (
                format!(
                    "counter-p3 has run {n} time{}\n",
                    if n == 1 { "" } else { "s" }
                ),
                true,
            ),
            Err(e) => (format!("counter-p3: {e}\n"), false),
        };
        let (mut tx, rx) = wasip3::wit_stream::new();
        // The writer runs as a task of its own while the host reads.
        wasip3::spawn_local(async move {
            tx.write_all(line.into_bytes()).await;
        });
        let written = if ok {
            wasip3::cli::stdout::write_via_stream(rx).await
        } else {
            wasip3::cli::stderr::write_via_stream(rx).await
        };
        match (written, ok) {
            (Ok(()), true) => Ok(()),
            _ => Err(()),
        }
    }
}

wasip3::cli::command::export!(Counter);

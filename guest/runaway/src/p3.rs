//! `runaway` as a WASI 0.3 command: every mode of `main.rs`, plus what only
//! a 0.3 guest can do:
//!
//! - `wait`: awaits a host clock future for an hour
//! - `stream`: awaits stdin as a 0.3 `stream<u8>` that never ends
//! - `trap`: traps
//! - `exit N`: exits with status N through `wasi:cli/exit@0.3`

#[path = "main.rs"]
mod program;

use wasmkv_guest::p3::wasip3;

struct Runaway;

impl wasip3::exports::cli::run::Guest for Runaway {
    async fn run() -> Result<(), ()> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        match args.first().map(String::as_str) {
            Some("wait") => {
                wasip3::clocks::monotonic_clock::wait_for(3600 * 1_000_000_000).await;
                Ok(())
            }
            Some("stream") => {
                let (stdin, _result) = wasip3::cli::stdin::read_via_stream();
                let _ = stdin.collect().await;
                Ok(())
            }
            Some("trap") => panic!("runaway was asked to trap"),
            Some("exit") => {
                let code = args.get(1).and_then(|c| c.parse().ok()).unwrap_or(1);
                wasip3::cli::exit::exit_with_code(code);
                Ok(())
            }
            _ => {
                program::main();
                Ok(())
            }
        }
    }
}

wasip3::cli::command::export!(Runaway);

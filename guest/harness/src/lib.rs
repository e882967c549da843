//! The checks of every conformance component print the same way: one line
//! per check (`ok - NAME` or `FAIL - NAME: WHY`), then `N passed, M failed`,
//! and the exit code says whether all passed.

use std::process::ExitCode;

/// What a check returns: `Err` carries what went wrong.
pub type Outcome = Result<(), String>;

/// Fails the current check with a message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Unwraps a keyvalue result inside a check, naming the step that failed.
pub trait Step<T> {
    /// The value, or the check's failure naming `what`.
    fn step(self, what: &str) -> Result<T, String>;
}

impl<T, E: std::fmt::Display> Step<T> for Result<T, E> {
    fn step(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

/// Counts checks and prints one line for each.
#[derive(Default)]
pub struct Harness {
    passed: usize,
    failed: usize,
}

impl Harness {
    /// Runs one named check.
    pub fn check(&mut self, name: &str, f: impl FnOnce() -> Outcome) {
        self.record(name, f());
    }

    /// Runs one named check that awaits.
    pub async fn check_async(&mut self, name: &str, f: impl std::future::Future<Output = Outcome>) {
        let outcome = f.await;
        self.record(name, outcome);
    }

    fn record(&mut self, name: &str, outcome: Outcome) {
        match outcome {
            Ok(()) => {
                self.passed += 1;
                println!("ok - {name}");
            }
            Err(why) => {
                self.failed += 1;
                println!("FAIL - {name}: {}", why.replace('\n', "\\n"));
            }
        }
    }

    /// Prints the summary line and turns it into the exit code.
    pub fn finish(self) -> ExitCode {
        println!("{} passed, {} failed", self.passed, self.failed);
        if self.failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

/// For [`p3_command!`]: the crate whose export macro it expands to.
pub use wasip3;

/// Exports a conformance component's `main` as a WASI 0.3 command
/// (`wasi:cli/run@0.3`), so the same checks run in a 0.3 component: `main`
/// returning `ExitCode::SUCCESS` is `Ok`.
#[macro_export]
macro_rules! p3_command {
    ($main:path) => {
        struct P3Command;

        impl $crate::wasip3::exports::cli::run::Guest for P3Command {
            async fn run() -> ::core::result::Result<(), ()> {
                if $main() == ::std::process::ExitCode::SUCCESS {
                    Ok(())
                } else {
                    Err(())
                }
            }
        }

        $crate::wasip3::cli::command::export!(P3Command);
    };
}

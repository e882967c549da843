//! The conformance component: every function of the seed world and every
//! rule of DESIGN.md's semantics table, one line per check, then
//! `N passed, M failed`. Exits non-zero when any check fails.
//!
//! The host must grant buckets `conformance`, `iso-a` and `iso-a:b`, and must
//! not grant `conformance-denied`.

mod checks;

use std::process::ExitCode;

pub fn main() -> ExitCode {
    let mut h = conformance_harness::Harness::default();
    checks::run_all(&mut h);
    h.finish()
}

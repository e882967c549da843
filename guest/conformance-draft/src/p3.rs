//! The same checks and modes as `main.rs`, as a WASI 0.3 command
//! (`wasi:cli/run@0.3`): the 0.3 conformance runs of the host tests.

#[path = "main.rs"]
mod program;

conformance_harness::p3_command!(program::main);

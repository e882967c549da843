//! Compiles the C half of `src/sqlite/read_marks.rs` (the variadic `fcntl`
//! SQLite calls) where that module is built: Linux, with the SQLite store.

fn main() {
    println!("cargo::rerun-if-changed=src/sqlite/fcntl_trampoline.c");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if linux && std::env::var_os("CARGO_FEATURE_SQLITE").is_some() {
        cc::Build::new()
            .file("src/sqlite/fcntl_trampoline.c")
            .compile("wasmkv_sqlite_fcntl");
    }
}

//! Imports `wasi:keyvalue/atomics@0.2.0-draft` with `increment` taking an
//! `s32` delta instead of the draft's `u64`, so `wasmkv run` must refuse it
//! and name the function and both types.

wit_bindgen::generate!({
    inline: "
        package wasi:keyvalue@0.2.0-draft;
        interface store {
            variant error { no-such-store, access-denied, other(string) }
            resource bucket {}
            open: func(identifier: string) -> result<bucket, error>;
        }
        interface atomics {
            use store.{bucket, error};
            increment: func(bucket: borrow<bucket>, key: string, delta: s32) -> result<u64, error>;
        }
        world app { import atomics; }
    ",
});

fn main() {
    if let Ok(bucket) = wasi::keyvalue::store::open("") {
        let _ = wasi::keyvalue::atomics::increment(&bucket, "n", 1);
    }
}

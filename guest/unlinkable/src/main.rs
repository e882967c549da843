//! Imports `wasmkv-test:unlinkable/missing`, which no host provides, so
//! `wasmkv run` must refuse it and name the import.

wit_bindgen::generate!({
    inline: "
        package wasmkv-test:unlinkable;
        interface missing { ping: func(); }
        world app { import missing; }
    ",
});

fn main() {
    wasmkv_test::unlinkable::missing::ping();
}

//! Imports `wasmcloud:keyvalue/store@0.2.0` unlabelled and as `cache`.
//!
//! `wasmcloud-labels IMPORT BUCKET KEY VALUE`, IMPORT being `plain` or
//! `cache`: opens BUCKET through that import, sets KEY to VALUE, adds 1 to
//! the counter `KEY-n` through `atomics`, and reads KEY back through a
//! versioned `cas.current` and `batch.get-many`, printing
//! `set VALUE, count N, current VALUE, many VALUE`: a bucket opened through
//! a label works with every other interface. `... IMPORT BUCKET KEY` prints
//! the value (`(none)` when absent).

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package wasmkv-test:labels;

            world labels {
                import wasmcloud:keyvalue/types@0.2.0;
                import wasmcloud:keyvalue/store@0.2.0;
                import cache: wasmcloud:keyvalue/store@0.2.0;
                import wasmcloud:keyvalue/atomics@0.2.0;
                import wasmcloud:keyvalue/cas@0.2.0;
                import wasmcloud:keyvalue/batch@0.2.0;
            }
        ",
        path: "../../wit/wasmcloud",
        world: "wasmkv-test:labels/labels",
        generate_all,
    });
}

use bindings::wasmcloud::keyvalue::types::{Bucket, Error};
use bindings::wasmcloud::keyvalue::{atomics, batch, cas, store};

struct Command;

impl wasip3::exports::cli::run::Guest for Command {
    async fn run() -> Result<(), ()> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        match work(&args).await {
            Ok(out) => {
                println!("{out}");
                Ok(())
            }
            Err(e) => {
                println!("error: {e}");
                Err(())
            }
        }
    }
}

wasip3::cli::command::export!(Command);

async fn open(import: &str, bucket: &str) -> Result<Bucket, String> {
    let opened: Result<Bucket, Error> = match import {
        "plain" => store::open(bucket.to_string()).await,
        "cache" => bindings::cache::open(bucket.to_string()).await,
        other => return Err(format!("no import {other:?}")),
    };
    opened.map_err(|e| format!("open {bucket:?} through {import}: {e:?}"))
}

async fn work(args: &[String]) -> Result<String, String> {
    let text = |v: Option<Vec<u8>>| {
        v.map_or("(none)".to_string(), |v| {
            String::from_utf8_lossy(&v).into_owned()
        })
    };
    match args {
        [import, bucket, key] => {
            let b = open(import, bucket).await?;
            Ok(text(
                b.get(key.clone()).await.map_err(|e| format!("{e:?}"))?,
            ))
        }
        [import, bucket, key, value] => {
            let b = open(import, bucket).await?;
            let fail = |e: Error| format!("{e:?}");
            b.set(key.clone(), value.clone().into_bytes(), None)
                .await
                .map_err(fail)?;
            let count = atomics::increment(&b, format!("{key}-n"), 1)
                .await
                .map_err(fail)?;
            let current = cas::current(&b, key.clone()).await.map_err(fail)?;
            let many = batch::get_many(&b, vec![key.clone()]).await.map_err(fail)?;
            let many = many.into_iter().next().flatten().map(|(_, v)| v);
            Ok(format!(
                "set {value}, count {count}, current {}, many {}",
                text(current.map(|e| e.value)),
                text(many)
            ))
        }
        _ => Err("usage: wasmcloud-labels plain|cache BUCKET KEY [VALUE]".into()),
    }
}

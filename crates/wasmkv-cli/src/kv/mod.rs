//! `wasmkv kv`: admin commands over any configured store, for looking at and
//! moving data without writing a component.

mod transfer;

use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Read, Write};

use anyhow::Context;
use wasmkv_engine::{Bucket, Bytes, CounterRange, Engine};

use crate::cli::{KvArgs, KvCommand};
use crate::config::Setup;
use crate::exit;

/// Exit code of `get` for an absent key, so scripts can test for it.
const NOT_FOUND: i32 = 1;

/// The counter range of `kv incr`: anything a seed (u64) or draft2 (i64)
/// component may have stored, so the operator can fix either.
const ADMIN_COUNTER_RANGE: CounterRange = CounterRange {
    min: i64::MIN as i128,
    max: u64::MAX as i128,
};

/// Runs one admin command and returns the process exit code.
pub fn main(args: KvArgs) -> i32 {
    crate::runtime::block_on(async {
        match execute(args).await {
            Ok(code) => code,
            Err(e) => {
                exit::report(&e);
                exit::SETUP_FAILED
            }
        }
    })
}

async fn execute(args: KvArgs) -> anyhow::Result<i32> {
    let engine = Setup::load(&args.store)?.for_admin().build_engine().await?;
    match args.command {
        KvCommand::List { bucket, prefix } => {
            let mut keys = open(&engine, &bucket)?.keys().await?;
            if let Some(prefix) = prefix {
                keys.retain(|k| k.starts_with(&prefix));
            }
            keys.sort();
            let mut out = std::io::stdout().lock();
            for key in keys {
                writeln!(out, "{key}")?;
            }
        }
        KvCommand::Get { bucket, key } => match open(&engine, &bucket)?.get(&key).await? {
            Some(value) => std::io::stdout().lock().write_all(&value)?,
            None => {
                eprintln!("wasmkv: key {key:?} is not in bucket {bucket:?}");
                return Ok(NOT_FOUND);
            }
        },
        KvCommand::Set {
            bucket,
            key,
            value,
            file,
        } => {
            let bytes = match (value, file) {
                (_, Some(path)) => std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?,
                (Some(v), None) if v == "-" => {
                    let mut buf = Vec::new();
                    std::io::stdin().lock().read_to_end(&mut buf)?;
                    buf
                }
                (Some(v), None) => v.into_bytes(),
                (None, None) => unreachable!("clap requires a value or --file"),
            };
            open(&engine, &bucket)?
                .set(&key, Bytes::from(bytes))
                .await?;
        }
        KvCommand::Delete { bucket, key } => open(&engine, &bucket)?.delete(&key).await?,
        KvCommand::Incr { bucket, key, delta } => {
            let value = open(&engine, &bucket)?
                .increment(&key, delta.into(), ADMIN_COUNTER_RANGE)
                .await?;
            println!("{value}");
        }
        KvCommand::Export { bucket, out } => {
            let bucket = open(&engine, &bucket)?;
            let progress = std::io::stderr().is_terminal();
            let count = match out {
                Some(path) => {
                    let file = File::create(&path)
                        .with_context(|| format!("cannot create {}", path.display()))?;
                    transfer::export(&bucket, &mut BufWriter::new(file), progress).await?
                }
                None => {
                    let mut stdout = BufWriter::new(std::io::stdout().lock());
                    transfer::export(&bucket, &mut stdout, progress).await?
                }
            };
            eprintln!(
                "wasmkv: exported {count} keys from bucket {:?}",
                bucket.name()
            );
        }
        KvCommand::Import { bucket, input } => {
            let bucket = open(&engine, &bucket)?;
            let progress = std::io::stderr().is_terminal();
            let count = match input {
                Some(path) => {
                    let file = File::open(&path)
                        .with_context(|| format!("cannot open {}", path.display()))?;
                    transfer::import(&bucket, BufReader::new(file), progress).await?
                }
                None => transfer::import(&bucket, std::io::stdin().lock(), progress).await?,
            };
            eprintln!(
                "wasmkv: imported {count} keys into bucket {:?}",
                bucket.name()
            );
        }
    }
    Ok(0)
}

fn open(engine: &Engine, bucket: &str) -> anyhow::Result<Bucket> {
    Ok(engine.open_bucket(bucket)?)
}

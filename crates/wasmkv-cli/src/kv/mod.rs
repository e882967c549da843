//! `wasmkv kv`: admin commands over any configured store, for looking at and
//! moving data without writing a component.

mod transfer;

use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Read, Write};

use std::time::Duration;

use anyhow::Context;
use wasmkv_backend::expiry::{Clock, SystemClock};
use wasmkv_engine::{Bucket, Bytes, CounterRange, Engine, Expiry, Interface, SetOptions};

use crate::cli::{KvArgs, KvCommand};
use crate::config::Setup;
use crate::exit;
use crate::output;

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
    crate::runtime::block_on(crate::runtime::Workers::AtLeastTwo, async {
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
    // `kv` lifts the caps that protect the host from guests; a cap given
    // for it would be silently ignored, so it is refused instead.
    if args.store.max_result_bytes.is_some() || args.store.max_instance_bytes.is_some() {
        anyhow::bail!(
            "--max-result-bytes and --max-instance-bytes limit what components may make the host hold; `wasmkv kv` has no such caps: give them to `wasmkv run` or `wasmkv serve`"
        );
    }
    let engine = Setup::load(&args.store)?.for_admin().build_engine().await?;
    match args.command {
        KvCommand::List { bucket, prefix } => {
            let mut keys = open(&engine, &bucket)?.keys().await?;
            if let Some(prefix) = prefix {
                keys.retain(|k| k.starts_with(&prefix));
            }
            keys.sort();
            let mut listing = String::new();
            for key in keys {
                listing.push_str(&key);
                listing.push('\n');
            }
            return Ok(print(listing.as_bytes(), None));
        }
        KvCommand::Get { bucket, key } => match open(&engine, &bucket)?.get(&key).await? {
            Some(value) => return Ok(print(&value, None)),
            None => {
                output::stderr_line(&format!("wasmkv: key {key:?} is not in bucket {bucket:?}"));
                return Ok(NOT_FOUND);
            }
        },
        KvCommand::Set {
            bucket,
            key,
            value,
            file,
            ttl,
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
            let options = SetOptions {
                ttl: ttl.map(Into::into),
                if_absent: false,
            };
            open(&engine, &bucket)?
                .set_with(&key, Bytes::from(bytes), options)
                .await?;
        }
        KvCommand::Ttl { bucket, key } => match open(&engine, &bucket)?.expiry(&key).await? {
            Some(Expiry::Never) => return Ok(print(b"none\n", None)),
            Some(Expiry::At(at)) => {
                let left = Duration::from_millis(at.saturating_sub(SystemClock.now_ms()));
                let shown = humantime::format_duration(Duration::from_secs(left.as_secs()));
                let line = format!("{} ({shown})\n", left.as_secs());
                return Ok(print(line.as_bytes(), None));
            }
            None => {
                output::stderr_line(&format!("wasmkv: key {key:?} is not in bucket {bucket:?}"));
                return Ok(NOT_FOUND);
            }
        },
        KvCommand::Delete { bucket, key } => open(&engine, &bucket)?.delete(&key).await?,
        KvCommand::Incr { bucket, key, delta } => {
            let value = open(&engine, &bucket)?
                .increment(&key, delta.into(), ADMIN_COUNTER_RANGE)
                .await?;
            let done = format!("the increment was applied (new value {value})");
            return Ok(print(format!("{value}\n").as_bytes(), Some(&done)));
        }
        KvCommand::Export { bucket, out } => {
            let bucket = open(&engine, &bucket)?;
            let progress = std::io::stderr().is_terminal();
            let mut sink = match &out {
                Some(path) => {
                    let file = File::create(path)
                        .with_context(|| format!("cannot create {}", path.display()))?;
                    Sink::new(Box::new(BufWriter::new(file)))
                }
                None => Sink::new(Box::new(BufWriter::new(std::io::stdout()))),
            };
            let count = match transfer::export(&bucket, &mut sink, progress).await {
                Ok(count) => count,
                Err(e) => match sink.failed {
                    Some(kind) => return Ok(output::write_failed(&e, kind, None, 0)),
                    None => return Err(e),
                },
            };
            output::stderr_line(&format!(
                "wasmkv: exported {count} keys from bucket {:?}",
                bucket.name()
            ));
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
            output::stderr_line(&format!(
                "wasmkv: imported {count} keys into bucket {:?}",
                bucket.name()
            ));
        }
    }
    Ok(0)
}

/// Writes a command's whole output; `done` names a change already made.
fn print(bytes: &[u8], done: Option<&str>) -> i32 {
    match output::stdout(bytes) {
        Ok(()) => 0,
        Err(e) => output::write_failed(&anyhow::anyhow!("{e}"), e.kind(), done, 0),
    }
}

/// An export's destination, remembering whether a write to it failed, so
/// that failure is told apart from the store's.
struct Sink {
    inner: Box<dyn Write>,
    failed: Option<std::io::ErrorKind>,
}

impl Sink {
    fn new(inner: Box<dyn Write>) -> Self {
        Self {
            inner,
            failed: None,
        }
    }

    fn note<T>(&mut self, result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &result {
            self.failed.get_or_insert(e.kind());
        }
        result
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let result = self.inner.write(buf);
        self.note(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = self.inner.flush();
        self.note(result)
    }
}

fn open(engine: &Engine, bucket: &str) -> anyhow::Result<Bucket> {
    Ok(engine.open_bucket_via(bucket, None, Interface::Admin, None)?)
}

//! `kv export` / `kv import`: a bucket as JSON Lines, one
//! `{"key": KEY, "value": BASE64}` object per line, so any bytes survive any
//! text tool and any backend. An entry with a TTL carries its deadline,
//! `"expires_at_ms"` (milliseconds since the Unix epoch), so it expires at
//! the same moment wherever it is imported; one already expired is neither
//! exported nor imported.

use std::io::{BufRead, Read, Write};

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use wasmkv_backend::expiry::{Clock, SystemClock};
use wasmkv_engine::{Bucket, Bytes, Expiry, HostBudget, SetOptions};

/// Keys read or written per batch call: few round trips.
const CHUNK: usize = 500;

/// Value bytes held at once; a batch is cut when it would pass this (or one
/// value, if bigger), so large values do not multiply into gigabytes.
const CHUNK_BYTES: usize = 64 * 1024 * 1024;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    key: String,
    value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at_ms: Option<u64>,
}

/// One pair read from an import, and its deadline.
type Pair = (String, Bytes, Option<u64>);

fn bar(visible: bool, total: Option<u64>, verb: &str) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let (bar, template) = match total {
        Some(n) => (
            ProgressBar::new(n),
            "{msg} {bar:40} {pos}/{len} keys ({per_sec}, {eta} left)",
        ),
        None => (
            ProgressBar::new_spinner(),
            "{msg} {spinner} {pos} keys ({per_sec})",
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.set_message(verb.to_string());
    bar
}

/// Writes every key of `bucket`, sorted, with its value; returns the count.
/// A key deleted while exporting is skipped.
pub async fn export(bucket: &Bucket, out: &mut dyn Write, progress: bool) -> anyhow::Result<usize> {
    let mut keys = bucket.keys().await?;
    keys.sort();
    let bar = bar(progress, Some(keys.len() as u64), "exporting");
    let mut count = 0;
    let budget = HostBudget::new(CHUNK_BYTES.max(bucket.limits().max_value_bytes));
    let mut todo: Vec<&[String]> = keys.chunks(CHUNK).rev().collect();
    while let Some(chunk) = todo.pop() {
        let values = match bucket.get_many(chunk, &budget).await {
            Ok((values, _charge)) => values,
            // Too many bytes at once: read each half on its own.
            Err(e) if chunk.len() > 1 && is_over_budget(&e) => {
                let (first, second) = chunk.split_at(chunk.len() / 2);
                todo.extend([second, first]);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        for (key, value) in chunk.iter().zip(values) {
            let Some(value) = value else { continue };
            // Read after the value: an entry that expires (or goes) between
            // the two is left out, never written without its deadline.
            let expires_at_ms = match bucket.expiry(key).await? {
                None => continue,
                Some(Expiry::Never) => None,
                Some(Expiry::At(at)) => Some(at),
            };
            let line = Line {
                key: key.clone(),
                value: BASE64.encode(&value),
                expires_at_ms,
            };
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")?;
            count += 1;
        }
        bar.inc(chunk.len() as u64);
    }
    out.flush()?;
    bar.finish_and_clear();
    Ok(count)
}

fn is_over_budget(e: &wasmkv_engine::KvError) -> bool {
    matches!(
        e.cause(),
        wasmkv_engine::Cause::TooMany {
            limit: "max_instance_bytes" | "max_result_bytes",
            ..
        }
    )
}

/// Stores every line's pair in `bucket`; returns the count (0 for empty
/// input). A malformed or unreadable line stops the import; the error names
/// its line number and how many pairs were already written.
pub async fn import(
    bucket: &Bucket,
    mut input: impl BufRead,
    progress: bool,
) -> anyhow::Result<usize> {
    let bar = bar(progress, None, "importing");
    let limits = bucket.limits();
    // The longest line a valid pair can make: the key escaped, the value in
    // base64, the JSON around them.
    let max_line = limits
        .max_key_bytes
        .saturating_mul(6)
        .saturating_add(limits.max_value_bytes.div_ceil(3).saturating_mul(4))
        .saturating_add(64);
    let mut pending: Vec<Pair> = Vec::with_capacity(CHUNK);
    let mut pending_bytes = 0;
    let mut count = 0;
    let mut buf = Vec::new();
    for number in 1.. {
        buf.clear();
        let read = (&mut input)
            .take(max_line as u64 + 1)
            .read_until(b'\n', &mut buf);
        let pair = match read {
            Ok(0) => break,
            Ok(_) if buf.len() > max_line => Err(anyhow::anyhow!(
                "the line is longer than any valid pair ({max_line} bytes)"
            )),
            Ok(_) => parse_line(&buf),
            Err(e) => Err(anyhow::Error::new(e).context("cannot read it")),
        };
        let pair = match pair {
            Ok(Some(pair)) => pair,
            Ok(None) => continue,
            Err(e) => bail!("line {number}: {e:#}; {count} pairs were imported before it"),
        };
        pending_bytes += pair.1.len();
        pending.push(pair);
        if pending.len() == CHUNK || pending_bytes >= CHUNK_BYTES {
            count += flush(bucket, &mut pending, &bar)
                .await
                .with_context(|| format!("{count} pairs were imported before this batch"))?;
            pending_bytes = 0;
        }
    }
    count += flush(bucket, &mut pending, &bar)
        .await
        .with_context(|| format!("{count} pairs were imported before this batch"))?;
    bar.finish_and_clear();
    Ok(count)
}

/// One line's pair; `None` for a blank line.
fn parse_line(line: &[u8]) -> anyhow::Result<Option<Pair>> {
    if line.trim_ascii().is_empty() {
        return Ok(None);
    }
    let parsed: Line = serde_json::from_slice(line)
        .context("expected {\"key\": \"...\", \"value\": \"BASE64\"}")?;
    let value = BASE64
        .decode(parsed.value.as_bytes())
        .context("value is not base64")?;
    Ok(Some((parsed.key, Bytes::from(value), parsed.expires_at_ms)))
}

/// Stores the pending pairs: those without a deadline in one batch, the
/// others one by one with the time they have left; those past their
/// deadline are not stored. Returns how many were stored.
async fn flush(
    bucket: &Bucket,
    pending: &mut Vec<Pair>,
    bar: &ProgressBar,
) -> anyhow::Result<usize> {
    let n = pending.len();
    let (plain, expiring): (Vec<Pair>, Vec<Pair>) = std::mem::take(pending)
        .into_iter()
        .partition(|(_, _, at)| at.is_none());
    let mut stored = plain.len();
    if !plain.is_empty() {
        let items = plain.into_iter().map(|(k, v, _)| (k, v)).collect();
        bucket.set_many(items).await?;
    }
    for (key, value, at) in expiring {
        let left = at.unwrap_or(0).saturating_sub(SystemClock.now_ms());
        if left == 0 {
            continue;
        }
        let options = SetOptions {
            ttl: Some(std::time::Duration::from_millis(left)),
            if_absent: false,
        };
        bucket.set_with(&key, value, options).await?;
        stored += 1;
    }
    bar.inc(n as u64);
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmkv_engine::Engine;

    async fn bucket_on(url: &str) -> (Bucket, Option<tempfile::TempDir>) {
        let dir = tempfile::tempdir().unwrap();
        let url = url.replace("DIR", dir.path().to_str().unwrap());
        let engine = Engine::builder()
            .store_url("s", url.parse().unwrap())
            .grant("b", "s")
            .build()
            .await
            .unwrap();
        (engine.open_bucket("b").unwrap(), Some(dir))
    }

    /// Every byte value 0..=255, an empty value, a 1 MiB value, and keys
    /// with quotes, newlines and non-ASCII.
    fn samples() -> Vec<(String, Bytes)> {
        let mut items = vec![
            ("empty".to_string(), Bytes::new()),
            (
                "all-bytes".to_string(),
                Bytes::from((0..=255u8).collect::<Vec<_>>()),
            ),
            ("big".to_string(), Bytes::from(vec![7u8; 1 << 20])),
            (
                "quote\"new\nline é".to_string(),
                Bytes::from_static(b"\xff\xfe"),
            ),
        ];
        items.extend((0..1200).map(|i| (format!("n{i}"), Bytes::from(i.to_string()))));
        items
    }

    #[tokio::test]
    async fn memory_to_sqlite_to_memory_keeps_every_byte() {
        let (memory, _d1) = bucket_on("memory:").await;
        let (sqlite, _d2) = bucket_on("sqlite:DIR/kv.db").await;
        let (again, _d3) = bucket_on("memory:").await;
        memory.set_many(samples()).await.unwrap();

        let mut first = Vec::new();
        assert_eq!(export(&memory, &mut first, false).await.unwrap(), 1204);
        import(&sqlite, &first[..], false).await.unwrap();
        let mut second = Vec::new();
        export(&sqlite, &mut second, false).await.unwrap();
        import(&again, &second[..], false).await.unwrap();
        let mut third = Vec::new();
        export(&again, &mut third, false).await.unwrap();

        assert_eq!(first, second);
        assert_eq!(second, third);
        let keys: Vec<String> = samples().into_iter().map(|(k, _)| k).collect();
        let expected: Vec<Option<Bytes>> = samples().into_iter().map(|(_, v)| Some(v)).collect();
        let unlimited = HostBudget::new(usize::MAX);
        assert_eq!(again.get_many(&keys, &unlimited).await.unwrap().0, expected);
    }

    #[tokio::test]
    async fn a_malformed_line_is_refused_with_its_number_and_what_was_written() {
        let (bucket, _d) = bucket_on("memory:").await;
        let input = "{\"key\":\"a\",\"value\":\"YQ==\"}\n{\"key\":\"b\",\"value\":\"%%\"}\n";
        let err = import(&bucket, input.as_bytes(), false).await.unwrap_err();
        assert!(
            format!("{err:#}").contains("line 2: value is not base64")
                && format!("{err:#}").ends_with("; 0 pairs were imported before it"),
            "{err:#}"
        );
    }

    #[tokio::test]
    async fn empty_input_imports_nothing_and_endless_lines_are_refused() {
        let (bucket, _d) = bucket_on("memory:").await;
        assert_eq!(import(&bucket, &b""[..], false).await.unwrap(), 0);
        assert_eq!(import(&bucket, &b"\n\n"[..], false).await.unwrap(), 0);
        // A line with no end (like /dev/zero) stops at the longest valid line.
        let endless = std::io::BufReader::new(std::io::repeat(b'x'));
        let err = import(&bucket, endless, false).await.unwrap_err();
        assert!(
            format!("{err:#}").contains("line 1: the line is longer"),
            "{err:#}"
        );
    }

    #[tokio::test]
    async fn export_splits_batches_that_hold_too_many_bytes() {
        let (bucket, _d) = bucket_on("memory:").await;
        // Three values that together pass CHUNK_BYTES, one at a time not.
        let big = Bytes::from(vec![7u8; CHUNK_BYTES / 2 + 1]);
        for key in ["a", "b", "c"] {
            bucket.set(key, big.clone()).await.unwrap();
        }
        let mut out = Vec::new();
        assert_eq!(export(&bucket, &mut out, false).await.unwrap(), 3);
        let (again, _d2) = bucket_on("memory:").await;
        assert_eq!(import(&again, &out[..], false).await.unwrap(), 3);
        assert_eq!(again.get("c").await.unwrap(), Some(big));
    }
}

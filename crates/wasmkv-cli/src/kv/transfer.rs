//! `kv export` / `kv import`: a bucket as JSON Lines, one
//! `{"key": KEY, "value": BASE64}` object per line, so any bytes survive any
//! text tool and any backend.

use std::io::{BufRead, Write};

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use wasmkv_engine::{Bucket, Bytes, HostBudget};

/// Keys read or written per batch call: few round trips, bounded memory.
const CHUNK: usize = 500;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    key: String,
    value: String,
}

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
    for chunk in keys.chunks(CHUNK) {
        let (values, _charge) = bucket.get_many(chunk, &HostBudget::new(usize::MAX)).await?;
        for (key, value) in chunk.iter().zip(values) {
            let Some(value) = value else { continue };
            let line = Line {
                key: key.clone(),
                value: BASE64.encode(&value),
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

/// Stores every line's pair in `bucket`; returns the count. A malformed line
/// stops the import and names its line number; earlier chunks stay written.
pub async fn import(bucket: &Bucket, input: impl BufRead, progress: bool) -> anyhow::Result<usize> {
    let bar = bar(progress, None, "importing");
    let mut pending: Vec<(String, Bytes)> = Vec::with_capacity(CHUNK);
    let mut count = 0;
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = line.with_context(|| format!("cannot read line {number}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(&line).with_context(|| {
            format!("line {number}: expected {{\"key\": \"...\", \"value\": \"BASE64\"}}")
        })?;
        let value = BASE64
            .decode(parsed.value.as_bytes())
            .with_context(|| format!("line {number}: value is not base64"))?;
        pending.push((parsed.key, Bytes::from(value)));
        if pending.len() == CHUNK {
            count += flush(bucket, &mut pending, &bar).await?;
        }
    }
    count += flush(bucket, &mut pending, &bar).await?;
    bar.finish_and_clear();
    if count == 0 {
        bail!("nothing to import: the input has no lines");
    }
    Ok(count)
}

async fn flush(
    bucket: &Bucket,
    pending: &mut Vec<(String, Bytes)>,
    bar: &ProgressBar,
) -> anyhow::Result<usize> {
    let n = pending.len();
    if n > 0 {
        bucket.set_many(std::mem::take(pending)).await?;
        bar.inc(n as u64);
    }
    Ok(n)
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
    async fn a_malformed_line_is_refused_with_its_number() {
        let (bucket, _d) = bucket_on("memory:").await;
        let input = "{\"key\":\"a\",\"value\":\"YQ==\"}\n{\"key\":\"b\",\"value\":\"%%\"}\n";
        let err = import(&bucket, input.as_bytes(), false).await.unwrap_err();
        assert!(
            format!("{err:#}").contains("line 2: value is not base64"),
            "{err:#}"
        );
    }
}

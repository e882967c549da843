//! A 64 MiB value streamed in and out, on both built-in backends.

use crate::common::{kvtool, workdir};

const SIZE: &str = "67108864";

/// The checksum part of a `wrote N fnv=X` line.
fn written_checksum(line: &str) -> String {
    line.strip_prefix(&format!("wrote {SIZE} "))
        .unwrap_or_else(|| panic!("unexpected write result: {line}"))
        .to_string()
}

#[test]
fn sixty_four_mib_value_streams_through_sqlite_across_processes() {
    let dir = workdir();
    let wrote = kvtool(dir.path(), &[], &["write-big", "default", "big", SIZE]).success();
    let fnv = written_checksum(wrote.stdout.trim());
    let read = kvtool(dir.path(), &[], &["read-big", "default", "big"]).success();
    assert_eq!(read.stdout.trim(), format!("read {SIZE} size={SIZE} {fnv}"));
}

#[test]
fn sixty_four_mib_value_streams_through_memory() {
    let dir = workdir();
    let out = kvtool(
        dir.path(),
        &["--store", "default=memory:"],
        &["round-trip-big", "default", "big", SIZE],
    )
    .success();
    let mut lines = out.stdout.lines();
    let fnv = written_checksum(lines.next().unwrap_or_default());
    assert_eq!(
        lines.next().unwrap_or_default(),
        format!("read {SIZE} size={SIZE} {fnv}")
    );
}

//! The engine's checks on guest input, applied before any backend sees it.

use crate::error::Cause;
use crate::limits::Limits;

/// Keys are 1..=`max_key_bytes` UTF-8 bytes; every character is ordinary.
pub(crate) fn key(key: &str, limits: &Limits) -> Result<(), Cause> {
    if key.is_empty() {
        return Err(Cause::InvalidKey("key is empty".into()));
    }
    if key.len() > limits.max_key_bytes {
        return Err(Cause::InvalidKey(format!(
            "key is {} bytes, over max_key_bytes ({})",
            key.len(),
            limits.max_key_bytes
        )));
    }
    Ok(())
}

/// Batch calls carry 0..=`max_batch_items` keys or pairs.
pub(crate) fn batch_len(len: usize, limits: &Limits) -> Result<(), Cause> {
    if len > limits.max_batch_items {
        return Err(Cause::TooMany {
            what: format!("{len} items"),
            limit: "max_batch_items",
            max: limits.max_batch_items,
        });
    }
    Ok(())
}

/// Values are 0..=`max_value_bytes` bytes.
pub(crate) fn value_len(len: usize, limits: &Limits) -> Result<(), Cause> {
    if len > limits.max_value_bytes {
        return Err(Cause::ValueTooLarge {
            len,
            max: limits.max_value_bytes,
        });
    }
    Ok(())
}

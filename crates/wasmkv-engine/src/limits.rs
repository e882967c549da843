/// Caps on what one guest call may ask of a store.
///
/// They keep a guest from exhausting host memory or the store, and each
/// refusal names the limit it hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest key, in UTF-8 bytes.
    pub max_key_bytes: usize,
    /// Largest value, in bytes; enforced while a value streams in.
    pub max_value_bytes: usize,
}

impl Limits {
    /// 4096-byte keys.
    pub const DEFAULT_MAX_KEY_BYTES: usize = 4096;
    /// 64 MiB values.
    pub const DEFAULT_MAX_VALUE_BYTES: usize = 64 * 1024 * 1024;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_key_bytes: Self::DEFAULT_MAX_KEY_BYTES,
            max_value_bytes: Self::DEFAULT_MAX_VALUE_BYTES,
        }
    }
}

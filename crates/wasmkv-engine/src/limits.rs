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
    /// Most keys or pairs in one get-many, set-many or delete-many call.
    pub max_batch_items: usize,
    /// Most keys one `keys` call may return; a larger bucket is refused
    /// rather than listed into host memory.
    pub max_listed_keys: usize,
    /// Most bytes one `get-many` or key listing may return; refused before
    /// the values are read where the store can tell their sizes.
    pub max_result_bytes: usize,
    /// Most bytes the host holds for one instance at a time: value bodies
    /// being written or read, snapshots, batch results. Bounds what a guest
    /// can make the host allocate beyond its own linear memory.
    pub max_instance_bytes: usize,
}

impl Limits {
    /// 4096-byte keys.
    pub const DEFAULT_MAX_KEY_BYTES: usize = 4096;
    /// 64 MiB values.
    pub const DEFAULT_MAX_VALUE_BYTES: usize = 64 * 1024 * 1024;
    /// 10 000 items per batch call.
    pub const DEFAULT_MAX_BATCH_ITEMS: usize = 10_000;
    /// 100 000 keys per `keys` call.
    pub const DEFAULT_MAX_LISTED_KEYS: usize = 100_000;
    /// 128 MiB per batch result: two default-size values.
    pub const DEFAULT_MAX_RESULT_BYTES: usize = 128 * 1024 * 1024;
    /// 256 MiB held per instance: a default-size value in and one out,
    /// with room for a batch.
    pub const DEFAULT_MAX_INSTANCE_BYTES: usize = 256 * 1024 * 1024;

    /// No caps on batches and listings, for wasmkv's own admin commands.
    pub fn for_admin(self) -> Self {
        Self {
            max_batch_items: usize::MAX,
            max_listed_keys: usize::MAX,
            max_result_bytes: usize::MAX,
            max_instance_bytes: usize::MAX,
            ..self
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_key_bytes: Self::DEFAULT_MAX_KEY_BYTES,
            max_value_bytes: Self::DEFAULT_MAX_VALUE_BYTES,
            max_batch_items: Self::DEFAULT_MAX_BATCH_ITEMS,
            max_listed_keys: Self::DEFAULT_MAX_LISTED_KEYS,
            max_result_bytes: Self::DEFAULT_MAX_RESULT_BYTES,
            max_instance_bytes: Self::DEFAULT_MAX_INSTANCE_BYTES,
        }
    }
}

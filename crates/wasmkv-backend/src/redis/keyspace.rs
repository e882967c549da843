//! Where a Redis key is built: `PREFIX` + byte length of the bucket + `:` +
//! bucket + `:` + key, e.g. `wasmkv:7:default:visits`.
//!
//! The length makes the layout unambiguous whatever the names hold: bucket
//! `a` with key `b:c` is `wasmkv:1:a:b:c`, bucket `a:b` with key `c` is
//! `wasmkv:3:a:b:c`. The result stays readable in `redis-cli`.

use std::collections::HashMap;
use std::sync::OnceLock;

use ::redis::cluster_routing::Slot;

/// The Redis key layout of one store.
#[derive(Debug, Clone)]
pub struct Keyspace {
    prefix: String,
}

impl Keyspace {
    /// A keyspace whose keys all start with `prefix`.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// Everything before the user's key for bucket `namespace`.
    fn head(&self, namespace: &str) -> String {
        format!("{}{}:{namespace}:", self.prefix, namespace.len())
    }

    /// The Redis key holding `key` of bucket `namespace`.
    pub fn key(&self, namespace: &str, key: &str) -> String {
        let mut full = self.head(namespace);
        full.push_str(key);
        full
    }

    /// The Redis keys for `keys`, in order.
    pub fn keys<'a>(
        &self,
        namespace: &str,
        keys: impl IntoIterator<Item = &'a String>,
    ) -> Vec<String> {
        let head = self.head(namespace);
        keys.into_iter().map(|k| format!("{head}{k}")).collect()
    }

    /// A `SCAN MATCH` pattern for every key of bucket `namespace`. Glob
    /// characters in the prefix and bucket are escaped, so they match only
    /// themselves.
    pub fn scan_pattern(&self, namespace: &str) -> String {
        let mut pattern = String::new();
        for c in self.head(namespace).chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('*');
        pattern
    }

    /// The record of one write under `wait_replicas` (see
    /// `super::replicated`): `PREFIX` + `once:{TAG}:` + the operation's id,
    /// where `{TAG}` is a hash tag chosen so the record lives in the same
    /// cluster slot as `key`, as a Lua script's keys must. Listings never
    /// see records: the bucket length that follows the prefix is never
    /// `once`.
    pub fn record(&self, key: &str, operation: &str) -> String {
        self.in_slot_of(key, "once", operation)
    }

    /// The version key of data key `key` (see `current.lua`): `PREFIX` +
    /// `ver:{TAG}:` + `key`, in the same cluster slot as `key` so one script
    /// can write both. Every wasmkv write of `key` deletes it; listings
    /// never see it, as they never see records.
    pub fn version_key(&self, key: &str) -> String {
        self.in_slot_of(key, "ver", key)
    }

    /// `PREFIX` + `KIND:{TAG}:` + `rest`, where `{TAG}` is a hash tag that
    /// puts it in `key`'s cluster slot.
    fn in_slot_of(&self, key: &str, kind: &str, rest: &str) -> String {
        let slot = Slot::for_key(key);
        let tag = slot_tags()[&slot];
        let beside = format!("{}{kind}:{{{tag}}}:{rest}", self.prefix);
        if Slot::for_key(&beside) == slot {
            beside
        } else {
            // The prefix holds a brace that captures the hash tag: put ours
            // first, where it is the one Redis reads.
            format!("{{{tag}}}{}{kind}:{rest}", self.prefix)
        }
    }

    /// The user's key inside a Redis key of bucket `namespace`; `None` if it
    /// belongs elsewhere or is not UTF-8 (never written by wasmkv).
    pub fn user_key(&self, namespace: &str, redis_key: &[u8]) -> Option<String> {
        let rest = redis_key.strip_prefix(self.head(namespace).as_bytes())?;
        String::from_utf8(rest.to_vec()).ok()
    }
}

/// For every cluster slot, a number whose decimal text, as a hash tag,
/// lands in it; built once (about 170 000 checksums).
fn slot_tags() -> &'static HashMap<Slot, u32> {
    static TAGS: OnceLock<HashMap<Slot, u32>> = OnceLock::new();
    TAGS.get_or_init(|| {
        const SLOTS: usize = 16_384;
        let mut tags = HashMap::with_capacity(SLOTS);
        let mut n = 0u32;
        while tags.len() < SLOTS {
            tags.entry(Slot::for_key(n.to_string())).or_insert(n);
            n += 1;
        }
        tags
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_readable() {
        let ks = Keyspace::new("wasmkv:");
        assert_eq!(ks.key("default", "visits"), "wasmkv:7:default:visits");
    }

    #[test]
    fn colons_cannot_make_two_buckets_collide() {
        let ks = Keyspace::new("wasmkv:");
        assert_ne!(ks.key("a", "b:c"), ks.key("a:b", "c"));
        assert_ne!(ks.key("", "1:x:y"), ks.key("x", "y"));
        assert_eq!(
            ks.user_key("a", ks.key("a", "b:c").as_bytes()).unwrap(),
            "b:c"
        );
        assert_eq!(ks.user_key("a:b", ks.key("a", "b:c").as_bytes()), None);
    }

    #[test]
    fn scan_pattern_escapes_globs() {
        let ks = Keyspace::new("p*:");
        assert_eq!(ks.scan_pattern("b[1]?\\"), "p\\*:6:b\\[1\\]\\?\\\\:*");
    }

    #[test]
    fn records_and_version_keys_share_their_keys_slot_whatever_the_prefix() {
        for prefix in ["wasmkv:", "{app}:", "a{b", "}{", ""] {
            let ks = Keyspace::new(prefix);
            for key in ["visits", "{user1}:n", "a}b", "{", "é"] {
                let key = ks.key("default", key);
                let record = ks.record(&key, "op-1");
                let version = ks.version_key(&key);
                for beside in [&record, &version] {
                    assert_eq!(Slot::for_key(beside), Slot::for_key(&key), "{beside} {key}");
                    assert_eq!(ks.user_key("default", beside.as_bytes()), None);
                }
                assert!(record.contains("op-1"));
                assert!(version.ends_with(&key) || version.contains(&key));
                assert_ne!(version, ks.version_key(&ks.key("default", "other")));
            }
        }
    }

    #[test]
    fn length_counts_bytes() {
        let ks = Keyspace::new("");
        assert_eq!(ks.key("é", "k"), "2:é:k");
    }
}

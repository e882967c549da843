//! Properties of the pure parsers, over generated input: they never panic,
//! what they accept round-trips, and no password survives into a message.
//! `PROPTEST_CASES=100000 cargo test -p wasmkv-backend --test parsers` runs
//! them longer.

use proptest::prelude::*;
use wasmkv_backend::counter::{encode, parse_canonical};
use wasmkv_backend::{StoreUrl, redact_secrets};

proptest! {
    #[test]
    fn every_counter_round_trips(n in any::<i128>()) {
        prop_assert_eq!(parse_canonical(encode(n).as_bytes()), Some(n));
    }

    #[test]
    fn only_the_canonical_form_parses(bytes in proptest::collection::vec(any::<u8>(), 0..48)) {
        if let Some(n) = parse_canonical(&bytes) {
            let encoded = encode(n);
            prop_assert_eq!(encoded.as_bytes(), &bytes[..]);
        }
    }

    #[test]
    fn decimal_looking_text_parses_iff_canonical(text in "-?[0-9]{0,42}") {
        let canonical = text
            .parse::<i128>()
            .map(|n| encode(n) == text)
            .unwrap_or(false);
        prop_assert_eq!(parse_canonical(text.as_bytes()).is_some(), canonical);
    }

    #[test]
    fn store_urls_never_panic(text in "\\PC{0,80}") {
        let _ = text.parse::<StoreUrl>();
    }

    #[test]
    fn a_redis_password_never_reaches_a_message(
        scheme in "redis|rediss|redis-cluster",
        user in "[a-z]{0,6}",
        password in "[A-Za-z0-9/@:?#%!]{6,20}",
        rest in "[a-z0-9.:,/?=&]{0,30}",
    ) {
        // A marker no other part of the URL can produce.
        let password = format!("Zq{password}");
        let url = format!("{scheme}://{user}:{password}@{rest}");
        let shown = match url.parse::<StoreUrl>() {
            Ok(parsed) => format!("{parsed} {parsed:?}"),
            Err(e) => format!("{e} {e:?}"),
        };
        prop_assert!(!shown.contains(&password), "{}", shown);
        prop_assert!(!redact_secrets(&url).contains(&password));
    }
}

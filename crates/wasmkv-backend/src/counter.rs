//! The one counter encoding every backend and every WIT version shares:
//! a canonical decimal integer in ASCII (`"42"`, `"-7"`; no `+`, no leading
//! zeros, no `-0`, no spaces), readable by `get` and by other tools.

use std::fmt;

/// The range of counter values an API can express (`u64` for the seed world,
/// `i64` for later drafts). Stored values outside it are refused, not wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterRange {
    /// Smallest value allowed.
    pub min: i128,
    /// Largest value allowed.
    pub max: i128,
}

impl CounterRange {
    /// The seed world's `u64` counters.
    pub const U64: CounterRange = CounterRange {
        min: 0,
        max: u64::MAX as i128,
    };
    /// Signed 64-bit counters, as `wasi:keyvalue@0.2.0-draft2` uses.
    pub const I64: CounterRange = CounterRange {
        min: i64::MIN as i128,
        max: i64::MAX as i128,
    };

    /// Whether `value` lies inside the range.
    pub fn contains(&self, value: i128) -> bool {
        (self.min..=self.max).contains(&value)
    }
}

impl fmt::Display for CounterRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.min, self.max)
    }
}

/// Why a counter operation was refused; the stored value is left unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CounterError {
    /// The stored bytes are not a canonical decimal integer.
    #[error("stored value {0} is not a canonical decimal integer")]
    NotCanonical(String),
    /// The stored value is a canonical integer but outside the API's range.
    #[error("stored value {value} is outside the counter range {range}")]
    StoredOutOfRange {
        /// The stored value.
        value: i128,
        /// The API's range.
        range: CounterRange,
    },
    /// The increment's result would leave the API's range.
    #[error("{current} + {delta} overflows the counter range {range}")]
    Overflow {
        /// The value before the increment.
        current: i128,
        /// The requested delta.
        delta: i128,
        /// The API's range.
        range: CounterRange,
    },
}

/// Longest canonical encoding accepted; i128 needs at most 40 bytes.
const MAX_DIGITS: usize = 40;

/// Parses a canonical decimal integer; anything else (`+1`, `007`, `-0`,
/// ` 1`, non-ASCII, too long) is `None`.
pub fn parse_canonical(bytes: &[u8]) -> Option<i128> {
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    let negative = digits.len() != bytes.len();
    let canonical = match digits {
        [] => false,
        [b'0'] => !negative,
        [first, rest @ ..] => {
            (b'1'..=b'9').contains(first)
                && rest.iter().all(u8::is_ascii_digit)
                && bytes.len() <= MAX_DIGITS
        }
    };
    if !canonical {
        return None;
    }
    // Up to 18 digits fit a u64 with no overflow check: the common counter,
    // parsed without the slower general i128 parser.
    if digits.len() <= 18 {
        let n = digits
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        let n = i128::from(n);
        return Some(if negative { -n } else { n });
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// The canonical encoding of `value`. Formatting an `i64` is several times
/// faster than an `i128`, and every counter a guest API can return but the
/// top half of `u64` fits one.
pub fn encode(value: i128) -> String {
    match i64::try_from(value) {
        Ok(small) => small.to_string(),
        Err(_) => value.to_string(),
    }
}

/// Computes the counter after adding `delta` to `current` (the stored bytes,
/// `None` when absent), enforcing the canonical encoding and `range`.
pub fn next_value(
    current: Option<&[u8]>,
    delta: i128,
    range: CounterRange,
) -> Result<i128, CounterError> {
    let current = current.map(stored_counter).transpose()?;
    next_after(current, delta, range)
}

/// The counter the stored bytes hold, or why they are not one.
pub fn stored_counter(bytes: &[u8]) -> Result<i128, CounterError> {
    parse_canonical(bytes).ok_or_else(|| CounterError::NotCanonical(preview(bytes)))
}

/// [`next_value`] for a store that keeps counters as numbers: `current` is
/// the stored counter (`None` when absent), which must lie in `range`.
pub fn next_after(
    current: Option<i128>,
    delta: i128,
    range: CounterRange,
) -> Result<i128, CounterError> {
    let current = match current {
        None => 0,
        Some(value) if !range.contains(value) => {
            return Err(CounterError::StoredOutOfRange { value, range });
        }
        Some(value) => value,
    };
    match current.checked_add(delta) {
        Some(next) if range.contains(next) => Ok(next),
        _ => Err(CounterError::Overflow {
            current,
            delta,
            range,
        }),
    }
}

/// A short, single-line, quoted rendering of stored bytes for error messages.
fn preview(bytes: &[u8]) -> String {
    const LIMIT: usize = 32;
    let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(LIMIT)]).into_owned();
    if bytes.len() > LIMIT {
        format!("{shown:?}... ({} bytes)", bytes.len())
    } else {
        format!("{shown:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms_parse() {
        assert_eq!(parse_canonical(b"0"), Some(0));
        assert_eq!(parse_canonical(b"42"), Some(42));
        assert_eq!(parse_canonical(b"-7"), Some(-7));
        assert_eq!(
            parse_canonical(b"18446744073709551615"),
            Some(u64::MAX as i128)
        );
    }

    #[test]
    fn non_canonical_forms_are_refused() {
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"+1",
            b"007",
            b" 1",
            b"1 ",
            b"1.0",
            b"abc",
            b"\xff",
            b"1234567890123456789012345678901234567890123",
        ] {
            assert_eq!(parse_canonical(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn encode_round_trips() {
        for v in [0, 1, -1, u64::MAX as i128, i64::MIN as i128] {
            assert_eq!(parse_canonical(encode(v).as_bytes()), Some(v));
        }
    }

    #[test]
    fn next_value_enforces_range() {
        assert_eq!(next_value(None, 5, CounterRange::U64), Ok(5));
        assert_eq!(next_value(Some(b"41"), 1, CounterRange::U64), Ok(42));
        assert!(matches!(
            next_value(Some(b"18446744073709551615"), 1, CounterRange::U64),
            Err(CounterError::Overflow { .. })
        ));
        assert!(matches!(
            next_value(Some(b"-1"), 1, CounterRange::U64),
            Err(CounterError::StoredOutOfRange { .. })
        ));
        assert!(matches!(
            next_value(Some(b"x"), 1, CounterRange::U64),
            Err(CounterError::NotCanonical(_))
        ));
        assert_eq!(next_value(Some(b"-1"), 1, CounterRange::I64), Ok(0));
    }
}

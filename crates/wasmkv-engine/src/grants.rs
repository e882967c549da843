use std::collections::BTreeMap;

/// Which bucket names a guest may open, and in which store each lives.
///
/// A bucket is reachable only through a grant; `"*"` grants every name not
/// granted explicitly. Denying by default keeps one component from reading
/// another's data just by guessing its bucket name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    by_name: BTreeMap<String, String>,
    wildcard: Option<String>,
}

impl Grants {
    /// No bucket granted.
    pub fn new() -> Self {
        Self::default()
    }

    /// Grants bucket `name` (or every name, for `"*"`) stored in `store`.
    pub fn grant(&mut self, name: impl Into<String>, store: impl Into<String>) -> &mut Self {
        let name = name.into();
        let store = store.into();
        if name == "*" {
            self.wildcard = Some(store);
        } else {
            self.by_name.insert(name, store);
        }
        self
    }

    /// The store that holds bucket `name`, if it is granted.
    pub fn store_for(&self, name: &str) -> Option<&str> {
        self.by_name
            .get(name)
            .or(self.wildcard.as_ref())
            .map(String::as_str)
    }

    /// Whether nothing at all is granted.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty() && self.wildcard.is_none()
    }

    /// Every `(bucket, store)` grant, `"*"` last.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.by_name
            .iter()
            .map(|(n, s)| (n.as_str(), s.as_str()))
            .chain(self.wildcard.as_deref().map(|s| ("*", s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_grant_wins_over_wildcard() {
        let mut g = Grants::new();
        g.grant("*", "a").grant("sessions", "b");
        assert_eq!(g.store_for("sessions"), Some("b"));
        assert_eq!(g.store_for("other"), Some("a"));
        assert_eq!(g.store_for(""), Some("a"));
    }

    #[test]
    fn ungranted_name_has_no_store() {
        let mut g = Grants::new();
        g.grant("default", "default");
        assert_eq!(g.store_for("Default"), None);
    }
}

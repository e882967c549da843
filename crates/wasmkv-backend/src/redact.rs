//! Passwords out of anything that is shown: error messages, logs, `Debug`.
//! Works on text that failed to parse too, which is exactly the text most
//! likely to be echoed back.

/// `text` with the password of every `SCHEME://USER:PASSWORD@` in it
/// replaced by `***` (and a bare `SCHEME://SECRET@` by `***`).
///
/// The userinfo is everything up to the last `@` before the next
/// whitespace, quote or end of text, so a password holding `/`, `:` or `@`
/// is hidden whole; when in doubt more is hidden, never less.
pub fn redact_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`'))
            .unwrap_or(tail.len());
        let (token, after) = tail.split_at(end);
        match token.rfind('@') {
            Some(userinfo_end) => {
                let userinfo = &token[..userinfo_end];
                match userinfo.split_once(':') {
                    Some((user, _)) => {
                        out.push_str(user);
                        out.push_str(":***");
                    }
                    None => out.push_str("***"),
                }
                out.push_str(&token[userinfo_end..]);
            }
            None => out.push_str(token),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::redact_secrets;

    #[test]
    fn hides_every_password_and_keeps_the_rest() {
        let cases = [
            (
                "invalid store URL \"redis://:Pa/ss9wd@127.0.0.1:16380\": empty host",
                "invalid store URL \"redis://:***@127.0.0.1:16380\": empty host",
            ),
            ("redis://user:p@ss:w/rd@h:1/0", "redis://user:***@h:1/0"),
            ("rediss://tok3n@h:1", "rediss://***@h:1"),
            (
                "a=redis://:x@h:1 b=redis-cluster://:y@a:1,b:2",
                "a=redis://:***@h:1 b=redis-cluster://:***@a:1,b:2",
            ),
            ("redis://h:1/0?prefix=a", "redis://h:1/0?prefix=a"),
            ("no url here", "no url here"),
            ("trailing ://", "trailing ://"),
        ];
        for (input, want) in cases {
            assert_eq!(redact_secrets(input), want, "{input}");
        }
    }
}

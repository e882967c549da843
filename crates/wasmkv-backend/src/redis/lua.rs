//! A Lua script as wasmkv sends it: by hash (`EVALSHA`), and as text
//! (`EVAL`) where the node may not have it loaded (a node a redirect names,
//! or a `NOSCRIPT` reply).

use ::redis::{Cmd, Script, ToRedisArgs, cmd};

/// A Lua script, run by hash, and its text for a plain EVAL.
pub(super) struct Lua {
    /// Sends `EVALSHA` and loads the script on `NOSCRIPT`.
    pub script: Script,
    code: String,
}

impl Lua {
    /// The script with this text.
    pub fn new(code: impl Into<String>) -> Self {
        let code = code.into();
        Lua {
            script: Script::new(&code),
            code,
        }
    }

    /// The script's text.
    #[cfg(test)]
    pub fn code(&self) -> &str {
        &self.code
    }

    /// `EVALSHA HASH N KEYS... ARGS...`, or with `text` the same as `EVAL`.
    pub fn call(&self, text: bool, keys: &[impl ToRedisArgs], args: &[impl ToRedisArgs]) -> Cmd {
        let (name, script) = if text {
            ("EVAL", self.code.as_str())
        } else {
            ("EVALSHA", self.script.get_hash())
        };
        let mut call = cmd(name);
        call.arg(script).arg(keys.len()).arg(keys).arg(args);
        call
    }
}

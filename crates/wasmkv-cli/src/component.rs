//! Loading a component: the wasmtime engine it is compiled for, what kind of
//! component it is, and link failures reworded to name the fix.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use wasmtime::Engine;
use wasmtime::component::Component;

/// What a component exports, as far as wasmkv's subcommands care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Exports `wasi:cli/run`: a command for `wasmkv run`.
    Command,
    /// Exports `wasi:http/incoming-handler`: a handler for `wasmkv serve`.
    HttpHandler,
    /// Exports neither.
    Other,
}

/// The export name prefixes that make a component a command or a handler,
/// whatever 0.2 patch version its toolchain wrote.
const RUN_EXPORT: &str = "wasi:cli/run@0.2.";
const HANDLER_EXPORT: &str = "wasi:http/incoming-handler@0.2.";

/// Tells a command from an HTTP handler by the component's own exports.
pub fn kind(engine: &Engine, component: &Component) -> Kind {
    let exports: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    if exports.iter().any(|n| n.starts_with(HANDLER_EXPORT)) {
        Kind::HttpHandler
    } else if exports.iter().any(|n| n.starts_with(RUN_EXPORT)) {
        Kind::Command
    } else {
        Kind::Other
    }
}

/// A wasmtime configuration with what both subcommands need: the
/// component model, async host calls, and the on-disk compiled-code cache,
/// so starting the same component again takes milliseconds.
pub fn base_config(interruptible: bool) -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(interruptible);
    if let Ok(cache) = wasmtime::Cache::from_file(None) {
        config.cache(Some(cache));
    }
    config
}

/// How often the epoch ticks when guests are interruptible: a guest busy
/// in wasm yields this often, so its deadline can stop it.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Advances `engine`'s epoch every [`EPOCH_TICK`] until the engine is gone.
/// A thread of its own, not an async task: a guest spinning in wasm holds
/// its runtime worker until the epoch moves, and a ticker task queued behind
/// it on that worker would never run.
pub fn start_epoch_ticker(engine: &Engine) -> anyhow::Result<()> {
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("wasmkv-epoch".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .context("cannot start the epoch ticker thread")?;
    Ok(())
}

/// Reads and compiles the component at `path`.
pub fn load(engine: &Engine, path: &Path) -> anyhow::Result<Component> {
    match std::fs::metadata(path) {
        Err(_) => bail!(
            "component file {} not found; build it first or check the path",
            path.display()
        ),
        Ok(meta) if meta.is_dir() => bail!(
            "{} is a directory; give the component's .wasm file",
            path.display()
        ),
        // A FIFO or device would be read forever (or block), not loaded.
        Ok(meta) if !meta.is_file() => bail!(
            "{} is not a regular file; give the component's .wasm file",
            path.display()
        ),
        Ok(_) => {}
    }
    Component::from_file(engine, path)
        .map_err(anyhow::Error::from)
        .with_context(|| {
        format!(
            "{} is not a WebAssembly component (a core module needs `wasm-tools component new`, or build for wasm32-wasip2)",
            path.display()
        )
    })
}

/// Rewords wasmtime's link failure so it names the missing import, or the
/// mismatched function with both types, and the fix.
pub fn link_error(
    path: &Path,
    engine: &Engine,
    component: &Component,
    error: anyhow::Error,
) -> anyhow::Error {
    if let Some(precise) = wasmkv_host::describe_link_error(engine, component, &error) {
        return anyhow::anyhow!("{} cannot be linked: {precise}", path.display());
    }
    let message = format!("{error:#}");
    if let Some(rest) = message.split("component imports ").nth(1) {
        let what = rest
            .split(", but a matching implementation was not found")
            .next()
            .unwrap_or(rest);
        return anyhow::anyhow!(
            "{} cannot be linked: it imports {what}, which wasmkv does not provide (wasmkv provides wasi:keyvalue as the seed world on wasi:io@0.2.0-rc-2023-11-10, @0.2.0-draft and @0.2.0-draft2, and wasi:cli, wasi:io, wasi:filesystem, wasi:clocks, wasi:random, wasi:sockets 0.2.x; wasi:http 0.2.x under `wasmkv serve`)",
            path.display()
        );
    }
    error.context(format!("{} cannot be instantiated", path.display()))
}

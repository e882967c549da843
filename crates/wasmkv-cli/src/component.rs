//! Loading a component: the wasmtime engine it is compiled for, what kind of
//! component it is, and link failures reworded to name the fix.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Which WASI generation a component is written for, as far as the engine
/// is concerned: whether it needs the component model's async features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// WASI 0.2: no `stream`, `future` or async functions. Compiled on an
    /// engine without concurrency support, so its host calls skip the
    /// per-call task bookkeeping that support costs.
    P2,
    /// WASI 0.3 (or any component using component-model async): compiled
    /// on an engine with concurrency support, run inside
    /// `Store::run_concurrent`.
    P3,
}

impl Generation {
    /// How users name it.
    pub fn wasi(self) -> &'static str {
        match self {
            Generation::P2 => "WASI 0.2",
            Generation::P3 => "WASI 0.3",
        }
    }

    /// The version alone, for metric labels.
    pub fn version(self) -> &'static str {
        match self {
            Generation::P2 => "0.2",
            Generation::P3 => "0.3",
        }
    }
}

/// What a component exports, as far as wasmkv's subcommands care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Exports `wasi:cli/run` (0.2.x or 0.3.x): a command for `wasmkv run`.
    Command,
    /// Exports `wasi:http/incoming-handler@0.2.x` or
    /// `wasi:http/handler@0.3.x`: a handler for `wasmkv serve`.
    HttpHandler,
    /// Exports neither.
    Other,
}

/// The export name prefixes that make a component a command or a handler,
/// whatever patch version its toolchain wrote.
const RUN_EXPORTS: [&str; 2] = ["wasi:cli/run@0.2.", "wasi:cli/run@0.3."];
const HANDLER_EXPORTS: [&str; 2] = ["wasi:http/incoming-handler@0.2.", "wasi:http/handler@0.3."];

/// Tells a command from an HTTP handler by the component's own exports.
pub fn kind(engine: &Engine, component: &Component) -> Kind {
    let exports: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    let exports_any = |prefixes: &[&str]| {
        exports
            .iter()
            .any(|n| prefixes.iter().any(|p| n.starts_with(p)))
    };
    if exports_any(&HANDLER_EXPORTS) {
        Kind::HttpHandler
    } else if exports_any(&RUN_EXPORTS) {
        Kind::Command
    } else {
        Kind::Other
    }
}

/// A wasmtime configuration with what both subcommands need: the
/// component model, async host calls, the generation's concurrency
/// support, and the on-disk compiled-code cache, so starting the same
/// component again takes milliseconds.
pub fn base_config(interruptible: bool, generation: Generation) -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(interruptible);
    // Off for 0.2: the engine then refuses component-model async, which is
    // how `load` tells the generations apart.
    config.concurrency_support(generation == Generation::P3);
    // Labelled imports (`import cache: wasmcloud:keyvalue/store@0.2.0`).
    config.wasm_component_model_implements(true);
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

/// A compiled component and the engine it was compiled for.
pub struct Loaded {
    /// The engine: with concurrency support for [`Generation::P3`] only.
    pub engine: Engine,
    /// The component.
    pub component: Component,
    /// Which engine it needed.
    pub generation: Generation,
}

/// Reads and compiles the component at `path`. It is compiled for a 0.2
/// engine first; a component that engine refuses (it uses component-model
/// async: a 0.3 component) is compiled for a 0.3 engine instead. `engine`
/// makes the engine of a generation. A file neither accepts is reported
/// with the 0.3 engine's reason, the one with every feature enabled.
pub fn load(
    path: &Path,
    engine: impl Fn(Generation) -> anyhow::Result<Engine>,
) -> anyhow::Result<Loaded> {
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
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let p2 = engine(Generation::P2)?;
    if let Ok(component) = Component::new(&p2, &bytes) {
        return Ok(Loaded {
            engine: p2,
            component,
            generation: Generation::P2,
        });
    }
    let p3 = engine(Generation::P3)?;
    match Component::new(&p3, &bytes) {
        Ok(component) => Ok(Loaded {
            engine: p3,
            component,
            generation: Generation::P3,
        }),
        Err(e) => Err(anyhow::Error::from(e)).with_context(|| {
            format!(
                "{} is not a WebAssembly component (a core module needs `wasm-tools component new`, or build for wasm32-wasip2)",
                path.display()
            )
        }),
    }
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
            "{} cannot be linked: it imports {what}, which wasmkv does not provide (wasmkv provides wasi:keyvalue as the seed world on wasi:io@0.2.0-rc-2023-11-10, @0.2.0-draft and @0.2.0-draft2, and wasi:cli, wasi:io, wasi:filesystem, wasi:clocks, wasi:random, wasi:sockets and wasi:http 0.2.x, and their 0.3.x versions to WASI 0.3 components)",
            path.display()
        );
    }
    error.context(format!("{} cannot be instantiated", path.display()))
}

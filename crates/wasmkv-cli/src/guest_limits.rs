//! `--max-memory`: a resource limiter that refuses memory growth past the cap
//! with an error of its own, so the CLI can tell it from any other trap.

use wasmtime::ResourceLimiter;

/// The component asked for more linear memory than `--max-memory` allows.
#[derive(Debug, thiserror::Error)]
#[error(
    "the component tried to grow a linear memory to {desired} bytes, over --max-memory ({max} bytes)"
)]
pub struct MemoryLimitExceeded {
    /// The size it asked for.
    pub desired: usize,
    /// The cap.
    pub max: usize,
}

/// Caps linear memory growth; tables keep wasmtime's own bounds.
pub struct MemoryCap {
    max: Option<usize>,
}

impl MemoryCap {
    /// A cap of `max` bytes per linear memory, or none.
    pub fn new(max: Option<usize>) -> Self {
        Self { max }
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if let Some(max) = self.max
            && desired > max
        {
            return Err(MemoryLimitExceeded { desired, max }.into());
        }
        Ok(maximum.is_none_or(|m| desired <= m))
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(maximum.is_none_or(|m| desired <= m))
    }
}

//! The wasmtime engine `serve` compiles for: the pooling allocator, sized
//! for `--max-concurrency`, so a request's instance takes preallocated
//! slots instead of fresh mappings, each reset for its next instance as
//! `slot_reset` decides; the on-demand allocator when the pool cannot be
//! set up on this machine.

use std::path::Path;

use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::component::{self, Generation, Loaded};
use crate::serve::slot_reset::SlotReset;

/// Room per request for the core instances, memories and tables a
/// component made by the usual toolchains holds (its module, the WASI
/// adapter and the shims between them), with margin.
const CORE_INSTANCES_PER_REQUEST: u32 = 16;
const MEMORIES_PER_REQUEST: u32 = 2;
const TABLES_PER_REQUEST: u32 = 8;

/// Compiles `path` for an engine of its generation that can run the
/// instances `concurrency` requests need: one each for 0.2 (plus one to
/// check it instantiates at startup); for reused 0.3 instances, room as
/// well for idle ones and for ones finishing their work after their last
/// request, which hold no request slot. Always interruptible: every guest yields at each epoch tick, so
/// a request past --timeout can be stopped and, at shutdown, a guest that
/// never returns cannot hold the process open.
pub fn compile(path: &Path, concurrency: u32, max_memory: Option<usize>) -> anyhow::Result<Loaded> {
    let reset = SlotReset::detect();
    tracing::debug!(target: "wasmkv::serve", "instance slots are reset: {reset:?}");
    component::load(path, |generation| {
        let mut config = component::base_config(true, generation);
        let instances = match generation {
            Generation::P2 => concurrency.saturating_add(1),
            Generation::P3 => concurrency.saturating_mul(2).saturating_add(1),
        };
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(
            instances, generation, max_memory, reset,
        )));
        match Engine::new(&config) {
            Ok(engine) => Ok(engine),
            Err(e) => {
                tracing::info!(
                    target: "wasmkv::serve",
                    "the pooling allocator is not available here ({e}); instances are allocated on demand"
                );
                Ok(Engine::new(&component::base_config(true, generation))?)
            }
        }
    })
}

/// Fiber stacks per 0.3 instance: a task that blocks in a host call keeps
/// its stack while other work of the store runs on others.
const STACKS_PER_P3_INSTANCE: u32 = 4;

fn pooling(
    instances: u32,
    generation: Generation,
    max_memory: Option<usize>,
    reset: SlotReset,
) -> PoolingAllocationConfig {
    let stacks = match generation {
        Generation::P2 => instances,
        Generation::P3 => instances.saturating_mul(STACKS_PER_P3_INSTANCE),
    };
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(CORE_INSTANCES_PER_REQUEST))
        .total_memories(instances.saturating_mul(MEMORIES_PER_REQUEST))
        .total_tables(instances.saturating_mul(TABLES_PER_REQUEST))
        .total_stacks(stacks)
        .max_tables_per_module(TABLES_PER_REQUEST)
        .max_memories_per_module(MEMORIES_PER_REQUEST);
    if let Some(max) = max_memory {
        pool.max_memory_size(max);
    }
    reset.configure(&mut pool);
    pool
}
